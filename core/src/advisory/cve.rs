//! CVE ids: recognising them, and collecting the ones an advisory is about
//! from its id, aliases, upstream and related ids (see "CVE ids" in the
//! [`crate::advisory`] documentation).

use super::record::Advisory;

/// Whether `id` is a CVE id: `CVE-`, a four-digit year, `-`, and four or
/// more digits.
pub fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    year.len() == 4 && digits(year) && number.len() >= 4 && digits(number)
}

/// The CVE id an OSV id stands for: the id itself if it is one, or the CVE
/// in a distribution's per-CVE record id (`DEBIAN-CVE-2024-2511`,
/// `UBUNTU-CVE-2024-6387`: upper-case letters, `-`, a CVE id).
fn cve_of(id: &str) -> Option<&str> {
    if is_cve_id(id) {
        return Some(id);
    }
    let (prefix, rest) = id.split_once('-')?;
    (!prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_uppercase()) && is_cve_id(rest))
        .then_some(rest)
}

impl Advisory {
    /// The CVE ids this advisory is about, sorted, without repeats: see the
    /// [module documentation](crate::advisory#cve-ids).
    pub fn cves(&self) -> Vec<String> {
        let own_cve = cve_of(&self.id).is_some();
        let related = self.related.iter().filter(|_| !own_cve);
        let mut cves: Vec<String> = std::iter::once(&self.id)
            .chain(&self.aliases)
            .chain(&self.upstream)
            .chain(related)
            .filter_map(|id| cve_of(id))
            .map(str::to_owned)
            .collect();
        cves.sort();
        cves.dedup();
        cves
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::strings;
    use crate::advisory::parse_osv;
    use serde_json::json;

    #[test]
    fn cve_ids_are_collected_from_ids_aliases_and_upstream() {
        let doc = json!({
            "id": "CVE-2024-1234",
            "modified": "2024-05-02T00:00:00Z",
            "aliases": ["GHSA-xxxx-yyyy-zzzz", "CVE-2024-1234"],
            "upstream": ["CVE-2023-12345", "CVE-24-1", "cve-2024-9999", "DEBIAN-CVE-2024-123"],
            "related": ["CVE-2022-0001"]
        });
        let a = parse_osv(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&["CVE-2023-12345", "CVE-2024-1234"]),
            "a CVE record's related CVEs are other vulnerabilities"
        );
        assert!(is_cve_id("CVE-2021-44228"));
        assert!(is_cve_id("CVE-2024-1234567"));
        for bad in [
            "CVE-2021-442",
            "CVE-21-44228",
            "cve-2021-44228",
            "CVE-2021-4422a",
            "CVE-2021",
            "",
        ] {
            assert!(!is_cve_id(bad), "{bad}");
        }
        assert_eq!(cve_of("UBUNTU-CVE-2024-6387"), Some("CVE-2024-6387"));
        assert_eq!(cve_of("DEBIAN-CVE-2024-2511"), Some("CVE-2024-2511"));
        assert_eq!(cve_of("USN-6859-1"), None);
        assert_eq!(cve_of("-CVE-2024-2511"), None);
        assert_eq!(cve_of("Debian-CVE-2024-2511"), None);
    }
}

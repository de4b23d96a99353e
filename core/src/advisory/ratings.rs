//! An advisory's ratings, read from the shapes the distributions really
//! publish (CVSS vectors wherever the record keeps them, Ubuntu's priority,
//! the Red Hat family's rating in the summary, Debian's urgency), and the
//! one [`Rating`] that stands for the advisory.

use super::ecosystems::ecosystem_scheme;
use super::record::{Advisory, Affected};
use super::scores::{Cvss, Severity, SeverityLevel, severity_cvss};
use crate::version::VersionScheme;
use serde::{Deserialize, Serialize};

impl Advisory {
    /// All severity entries: the record's, its packages', and those the
    /// distributions keep in their own fields (Ubuntu lists each CVE's
    /// priority and CVSS vectors under
    /// `affected[].database_specific.cves_map.cves[].severity`).
    fn all_severities(&self) -> impl Iterator<Item = Severity> + '_ {
        self.severity
            .iter()
            .cloned()
            .chain(self.affected.iter().flat_map(|a| {
                a.severity
                    .iter()
                    .cloned()
                    .chain(ubuntu_cves_map(a.database_specific.as_ref()))
            }))
    }

    /// The CVSS vector of the highest CVSS version among all severity
    /// entries (see [`Advisory::ratings`]), with its base score; among
    /// vectors of the same version, the highest score. Vectors in a
    /// distribution's own fields that do not parse are left out (they are
    /// not part of the OSV schema, so they are not checked on import); see
    /// [`Advisory::ignored_vectors`].
    pub fn cvss(&self) -> Option<Cvss> {
        self.all_severities()
            .filter_map(|s| severity_cvss(&s)?.ok())
            .max_by(|a, b| {
                a.version
                    .cmp(&b.version)
                    .then_with(|| a.score.total_cmp(&b.score))
            })
    }

    /// CVSS vectors in a distribution's own fields that do not parse, so
    /// count for nothing: an import reports them rather than dropping them
    /// silently.
    pub fn ignored_vectors(&self) -> Vec<String> {
        self.all_severities()
            .filter(|s| matches!(severity_cvss(s), Some(Err(_))))
            .map(|s| s.score)
            .collect()
    }

    /// Ubuntu's priority for the vulnerability (severity entries of type
    /// `Ubuntu`, wherever the record keeps them), the highest if there are
    /// several.
    pub fn ubuntu_priority(&self) -> Option<SeverityLevel> {
        self.all_severities()
            .filter(|s| s.kind == "Ubuntu")
            .filter_map(|s| SeverityLevel::from_ubuntu(&s.score))
            .max()
    }

    /// Every rating the record carries, read from the shapes the
    /// distributions really publish:
    ///
    /// - CVSS vectors, in `severity`, `affected[].severity` or Ubuntu's
    ///   `cves_map` (the level of the base score);
    /// - Ubuntu's priority (`{"type": "Ubuntu", "score": "high"}`), at the
    ///   top of UBUNTU-CVE records and per CVE in USNs' `cves_map`, or per
    ///   package as `affected[].ecosystem_specific.ubuntu_priority` in
    ///   older UBUNTU-CVE records;
    /// - the Red Hat family's rating, which AlmaLinux (and Red Hat's own
    ///   errata) put only at the start of the summary ("Important: openssl
    ///   security update"): Critical, Important (high), Moderate (medium),
    ///   Low;
    /// - Debian's urgency in `affected[].ecosystem_specific.urgency` (low,
    ///   medium, high; "unimportant" is negligible, "not yet assigned" no
    ///   rating).
    pub fn ratings(&self) -> Vec<Rating> {
        let mut out = Vec::new();
        for s in self.all_severities() {
            match severity_cvss(&s) {
                Some(Ok(cvss)) => out.push(Rating {
                    level: cvss.level(),
                    source: format!(
                        "CVSS {} base score {:.1}",
                        cvss.version.as_str(),
                        cvss.score
                    ),
                }),
                Some(Err(_)) => {}
                None if s.kind == "Ubuntu" => {
                    if let Some(level) = SeverityLevel::from_ubuntu(&s.score) {
                        out.push(Rating {
                            level,
                            source: format!("Ubuntu priority {}", level.as_str()),
                        });
                    }
                }
                None => {}
            }
        }
        if let Some((word, level)) = red_hat_rating(&self.summary)
            && self
                .affected
                .iter()
                .all(|a| ecosystem_scheme(&a.package.ecosystem) == Some(VersionScheme::Rpm))
            && !self.affected.is_empty()
        {
            out.push(Rating {
                level,
                source: format!("{} rating {word}", vendor_of(&self.affected)),
            });
        }
        for a in &self.affected {
            let specific = |key: &str| {
                a.ecosystem_specific
                    .as_ref()
                    .and_then(|e| e.get(key))
                    .and_then(|v| v.as_str())
            };
            if let Some(level) = specific("ubuntu_priority").and_then(SeverityLevel::from_ubuntu) {
                out.push(Rating {
                    level,
                    source: format!("Ubuntu priority {}", level.as_str()),
                });
            }
            let urgency = specific("urgency");
            if let Some(level) = urgency.and_then(debian_urgency) {
                out.push(Rating {
                    level,
                    source: format!("Debian urgency {}", urgency.unwrap_or_default()),
                });
            }
        }
        out
    }

    /// The advisory's rating: the highest of [`Advisory::ratings`]; at the
    /// same level, the distribution's own assessment is named rather than
    /// a CVSS score.
    pub fn rating(&self) -> Option<Rating> {
        self.ratings().into_iter().max_by(|a, b| {
            a.level.cmp(&b.level).then_with(|| {
                b.source
                    .starts_with("CVSS")
                    .cmp(&a.source.starts_with("CVSS"))
            })
        })
    }

    /// The level of [`Advisory::rating`].
    pub fn severity_level(&self) -> Option<SeverityLevel> {
        self.rating().map(|r| r.level)
    }
}

/// A rating of an advisory and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The level.
    pub level: SeverityLevel,
    /// Where it came from, for people: "Ubuntu priority high", "CVSS 3.1
    /// base score 7.5", "AlmaLinux rating Important", "Debian urgency low".
    pub source: String,
}

/// The severity entries of Ubuntu's `cves_map` in an affected entry's
/// `database_specific`: `{"cves_map": {"cves": [{"id": …, "severity":
/// [{"type": "CVSS_V3", "score": …}, {"type": "Ubuntu", "score":
/// "medium"}]}]}}`. Entries of another shape are ignored.
fn ubuntu_cves_map(specific: Option<&serde_json::Value>) -> Vec<Severity> {
    let Some(cves) = specific
        .and_then(|d| d.get("cves_map"))
        .and_then(|m| m.get("cves"))
        .and_then(|c| c.as_array())
    else {
        return Vec::new();
    };
    cves.iter()
        .filter_map(|cve| cve.get("severity")?.as_array())
        .flatten()
        .filter_map(|s| {
            Some(Severity {
                kind: s.get("type")?.as_str()?.to_owned(),
                score: s.get("score")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The Red Hat family's rating at the start of a summary ("Important:
/// kernel security update", or at its end in parentheses): the word and
/// its level. "None" (bug-fix errata) is no rating.
fn red_hat_rating(summary: &str) -> Option<(&str, SeverityLevel)> {
    let level = |word: &str| match word {
        "Critical" => Some(SeverityLevel::Critical),
        "Important" => Some(SeverityLevel::High),
        "Moderate" => Some(SeverityLevel::Medium),
        "Low" => Some(SeverityLevel::Low),
        _ => None,
    };
    let prefix = summary.split_once(':').map(|(word, _)| word.trim());
    // A few AlmaLinux errata put it at the end: "ALSA-2022:5468: php:8.0
    // security update (Important)".
    let suffix = summary
        .trim_end()
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once('('))
        .map(|(_, word)| word.trim());
    [prefix, suffix]
        .into_iter()
        .flatten()
        .find_map(|word| Some((word, level(word)?)))
}

/// Debian's urgency as a level: the tracker writes low, medium, high
/// (sometimes marked with `*` or `**` for "guessed"), unimportant, "not yet
/// assigned" and "end-of-life".
fn debian_urgency(urgency: &str) -> Option<SeverityLevel> {
    match urgency.trim().trim_end_matches('*') {
        "unimportant" => Some(SeverityLevel::Negligible),
        "low" => Some(SeverityLevel::Low),
        "medium" => Some(SeverityLevel::Medium),
        "high" => Some(SeverityLevel::High),
        _ => None,
    }
}

/// Who publishes records of these ecosystems, for a rating's source.
fn vendor_of(affected: &[Affected]) -> &'static str {
    match affected
        .first()
        .and_then(|a| a.package.ecosystem.split(':').next())
    {
        Some("AlmaLinux") => "AlmaLinux",
        Some("Rocky Linux") => "Rocky Linux",
        _ => "Red Hat",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::*;
    use crate::advisory::{CvssVersion, ErratumKind, parse_osv, release_ecosystem};

    #[test]
    fn usns_carry_their_ratings_per_cve() {
        let a = parse_osv(USN.as_bytes()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&["CVE-2024-6119"]),
            "from UBUNTU-CVE-… in upstream"
        );
        assert!(a.severity.is_empty(), "no top-level severity in a real USN");
        // From affected[].database_specific.cves_map: two NVD vectors and
        // Ubuntu's priority; the rating is the highest of them.
        assert_eq!(a.ubuntu_priority(), Some(SeverityLevel::Medium));
        let cvss = a.cvss().unwrap();
        assert_eq!((cvss.version, cvss.score), (CvssVersion::V3_1, 7.5));
        let rating = a.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::High);
        assert_eq!(rating.source, "CVSS 3.1 base score 7.5");
        assert!(
            a.ratings()
                .iter()
                .any(|r| r.source == "Ubuntu priority medium"),
            "{:?}",
            a.ratings()
        );
        assert!(a.ignored_vectors().is_empty());
        let jammy = release_ecosystem("ubuntu", "22.04");
        assert_eq!(jammy, strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04"]));
        let deb = VersionScheme::Deb;
        assert!(a.affects_package(&jammy, "openssl", deb, "3.0.2-0ubuntu1.17"));
        assert!(!a.affects_package(&jammy, "openssl", deb, "3.0.2-0ubuntu1.18"));
        // Older USNs carry no rating at all.
        let unrated = parse_osv(USN_UNRATED.as_bytes()).unwrap();
        assert_eq!(unrated.rating(), None);
        assert_eq!(unrated.cves(), strings(&["CVE-2023-4527", "CVE-2023-4911"]));
    }

    #[test]
    fn ubuntu_cve_records_carry_ratings_at_the_top_or_per_package() {
        let a = parse_osv(UBUNTU_CVE.as_bytes()).unwrap();
        assert_eq!(a.cves(), strings(&["CVE-2024-6119"]));
        assert_eq!(a.ubuntu_priority(), Some(SeverityLevel::Medium));
        assert_eq!(a.severity_level(), Some(SeverityLevel::High), "NVD's 7.5");
        // The older schema keeps the priority in ecosystem_specific.
        let old = parse_osv(UBUNTU_CVE_OLD.as_bytes()).unwrap();
        let rating = old.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::High);
        assert_eq!(
            rating.source, "Ubuntu priority high",
            "the distribution's own, at the same level"
        );
        assert_eq!(old.cvss().unwrap().score, 7.8);
    }

    #[test]
    fn almalinux_errata_carry_their_rating_in_the_summary() {
        let a = parse_osv(ALSA.as_bytes()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&[
                "CVE-2023-2975",
                "CVE-2023-3446",
                "CVE-2023-3817",
                "CVE-2023-5678",
                "CVE-2023-6129",
                "CVE-2023-6237",
                "CVE-2024-0727",
            ]),
            "AlmaLinux lists its CVEs in related"
        );
        assert_eq!(a.cvss(), None, "no CVSS in a real ALSA");
        let rating = a.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::Low);
        assert_eq!(rating.source, "AlmaLinux rating Low");
        assert_eq!(a.kind(), ErratumKind::Security);
        let suffix = parse_osv(ALSA_SUFFIX.as_bytes()).unwrap();
        assert_eq!(
            suffix.severity_level(),
            Some(SeverityLevel::High),
            "(Important) at the end"
        );
        let alba = parse_osv(ALBA.as_bytes()).unwrap();
        assert_eq!(alba.kind(), ErratumKind::BugFix);
        assert_eq!(alba.rating(), None, "None: is no rating");

        // AlmaLinux names binary packages and gives epochs.
        let alma9 = release_ecosystem("almalinux", "9.4");
        assert_eq!(alma9, strings(&["AlmaLinux:9"]));
        let rpm = VersionScheme::Rpm;
        for (version, affected) in [
            ("1:3.0.7-25.el9_3", true),
            ("1:3.0.7-26.el9", true),
            ("1:3.0.7~rc1-27.el9", true),
            ("1:3.0.7-27.el9", false),
            ("1:3.0.7-27.el9_4.1", false),
            ("1:3.0.8-1.el9", false),
            // Epoch 0 is older than epoch 1, whatever the version.
            ("3.0.7-99.el9", true),
        ] {
            assert_eq!(
                a.affects_package(&alma9, "openssl-libs", rpm, version),
                affected,
                "{version}"
            );
        }
        let alma8 = release_ecosystem("almalinux", "8.10");
        assert!(!a.affects_package(&alma8, "openssl-libs", rpm, "1:1.1.1k-9.el8"));
    }
}

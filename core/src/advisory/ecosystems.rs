//! Releases and ecosystems: the OSV ecosystems a server's release
//! (`/etc/os-release`'s `ID` and `VERSION_ID`) takes its advisories from,
//! when an advisory's ecosystem belongs to a release's, and the version
//! ordering each ecosystem uses.

use crate::version::VersionScheme;

/// Whether an advisory's ecosystem belongs to a release's ecosystem (as
/// [`release_ecosystem`] gives it): the same string, or the release's
/// followed by `::` and a repository, as Red Hat writes its CPE-derived
/// ecosystems (`Red Hat:enterprise_linux:9::appstream` belongs to
/// `Red Hat:enterprise_linux:9`).
pub fn ecosystem_matches(advisory: &str, release: &str) -> bool {
    advisory == release
        || advisory
            .strip_prefix(release)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The OSV ecosystems a server release's advisories are published under,
/// from `/etc/os-release`'s `ID` and `VERSION_ID`:
///
/// | `ID`        | `VERSION_ID` | ecosystems                                |
/// |-------------|--------------|-------------------------------------------|
/// | `debian`    | `12`         | `Debian:12`                               |
/// | `ubuntu`    | `22.04`      | `Ubuntu:22.04:LTS`, `Ubuntu:22.04`        |
/// | `ubuntu`    | `23.10`      | `Ubuntu:23.10`                            |
/// | `almalinux` | `9.4`        | `AlmaLinux:9`                             |
/// | `rocky`     | `9.3`        | `Rocky Linux:9`                           |
/// | `rhel`      | `9.4`        | `Red Hat:enterprise_linux:9`              |
///
/// Ubuntu releases `YY.04` with an even `YY` are LTS. Not covered, so left
/// to the caller: Ubuntu Pro/ESM (`Ubuntu:Pro:22.04:LTS`, only for attached
/// machines), Red Hat's EUS/AUS/E4S streams, Debian testing and unstable
/// (no `VERSION_ID`), and other distributions; these give an empty list.
/// Red Hat's ecosystems carry a repository (`…:9::appstream`), which
/// [`ecosystem_matches`] accounts for.
pub fn release_ecosystem(os_id: &str, version_id: &str) -> Vec<String> {
    let id = os_id.trim().to_ascii_lowercase();
    let mut parts = version_id.trim().split('.');
    let major = parts.next().unwrap_or("");
    let numeric = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(major) {
        return Vec::new();
    }
    let major = major.trim_start_matches('0');
    let major = if major.is_empty() { "0" } else { major };
    match id.as_str() {
        "debian" => vec![format!("Debian:{major}")],
        "ubuntu" => {
            let minor = parts.next().unwrap_or("");
            if minor.len() != 2 || !numeric(minor) {
                return Vec::new();
            }
            let release = format!("{major}.{minor}");
            let lts = minor == "04" && major.parse::<u32>().is_ok_and(|y| y % 2 == 0);
            if lts {
                vec![format!("Ubuntu:{release}:LTS"), format!("Ubuntu:{release}")]
            } else {
                vec![format!("Ubuntu:{release}")]
            }
        }
        "almalinux" => vec![format!("AlmaLinux:{major}")],
        "rocky" => vec![format!("Rocky Linux:{major}")],
        "rhel" => vec![format!("Red Hat:enterprise_linux:{major}")],
        _ => Vec::new(),
    }
}

/// The version ordering of an OSV ecosystem: dpkg's for `Debian` and
/// `Ubuntu`, rpm's for `AlmaLinux`, `Rocky Linux` and `Red Hat` (with or
/// without a release suffix). `None` for other ecosystems.
pub fn ecosystem_scheme(ecosystem: &str) -> Option<VersionScheme> {
    match ecosystem.split(':').next()? {
        "Debian" | "Ubuntu" => Some(VersionScheme::Deb),
        "AlmaLinux" | "Rocky Linux" | "Red Hat" => Some(VersionScheme::Rpm),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::{RHSA, strings};
    use crate::advisory::{SeverityLevel, parse_osv};
    use VersionScheme::{Deb, Rpm};

    #[test]
    fn red_hat_streams_are_ecosystems_of_their_own() {
        let a = parse_osv(RHSA.as_bytes()).unwrap();
        assert_eq!(a.cvss().unwrap().score, 7.5);
        assert_eq!(a.severity_level(), Some(SeverityLevel::High));
        // Its fixes are for the extended-support streams (AUS, E4S, TUS) of
        // 8.6: not for a server on the main RHEL 8 stream.
        let rhel8 = release_ecosystem("rhel", "8.10");
        assert_eq!(rhel8, strings(&["Red Hat:enterprise_linux:8"]));
        assert_eq!(a.matching(&rhel8, "git-lfs").count(), 0);
        assert!(ecosystem_matches(
            "Red Hat:enterprise_linux:9::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches(
            "Red Hat:rhel_aus:8.6::appstream",
            "Red Hat:enterprise_linux:8"
        ));
    }

    #[test]
    fn releases_map_to_ecosystems() {
        for (id, version, expected) in [
            ("debian", "12", &["Debian:12"][..]),
            ("debian", "11", &["Debian:11"]),
            ("debian", "", &[]),
            ("ubuntu", "22.04", &["Ubuntu:22.04:LTS", "Ubuntu:22.04"]),
            ("ubuntu", "24.04", &["Ubuntu:24.04:LTS", "Ubuntu:24.04"]),
            ("ubuntu", "23.10", &["Ubuntu:23.10"]),
            ("ubuntu", "23.04", &["Ubuntu:23.04"]),
            ("ubuntu", "22", &[]),
            ("almalinux", "9.4", &["AlmaLinux:9"]),
            ("almalinux", "8.10", &["AlmaLinux:8"]),
            ("rocky", "9.3", &["Rocky Linux:9"]),
            ("rhel", "9.4", &["Red Hat:enterprise_linux:9"]),
            ("RHEL", " 8.9 ", &["Red Hat:enterprise_linux:8"]),
            ("centos", "9", &[]),
            ("fedora", "40", &[]),
            ("rocky", "nine", &[]),
        ] {
            assert_eq!(
                release_ecosystem(id, version),
                strings(expected),
                "{id} {version}"
            );
        }
        for (ecosystem, scheme) in [
            ("Debian:12", Some(Deb)),
            ("Debian", Some(Deb)),
            ("Ubuntu:Pro:22.04:LTS", Some(Deb)),
            ("AlmaLinux:9", Some(Rpm)),
            ("Rocky Linux:9", Some(Rpm)),
            ("Red Hat:enterprise_linux:9::appstream", Some(Rpm)),
            ("npm", None),
            ("", None),
        ] {
            assert_eq!(ecosystem_scheme(ecosystem), scheme, "{ecosystem}");
        }
        assert!(ecosystem_matches("Debian:12", "Debian:12"));
        assert!(!ecosystem_matches("Debian:12", "Debian:1"));
        assert!(ecosystem_matches(
            "Red Hat:enterprise_linux:9::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches(
            "Red Hat:enterprise_linux:90::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches("Ubuntu:22.04:LTS", "Ubuntu:22.04"));
    }
}

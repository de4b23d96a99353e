//! Does an update fix an advisory on a server? An [`Offer`] is an update
//! a server's package manager offers: the installed and offered versions
//! advisories compare (source versions on deb, binary EVRs on rpm, see
//! [`compared_version`]) and its origin, which opens Ubuntu Pro's
//! ecosystems (see [`offer_ecosystems`]).

use super::ecosystems::{ecosystem_matches, ecosystem_scheme, release_ecosystem};
use super::record::{Advisory, Affected};
use std::cmp::Ordering;

/// An update a server's package manager offers, with the versions its
/// advisories are compared with. Patch rows are shared by every server
/// that is offered the same update, but whether the update fixes an
/// advisory *there* depends on what that server has installed: `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// The server's release as the catalog names it, `os-id:version-id`
    /// (e.g. `debian:12`, `almalinux:9.4`).
    pub release: &'a str,
    /// Binary package name.
    pub package: &'a str,
    /// Source package name, when known.
    pub source: Option<&'a str>,
    /// The installed version advisories compare (see
    /// [`compared_version`]).
    pub from: &'a str,
    /// The offered version advisories compare.
    pub to: &'a str,
    /// Where the update comes from (apt's origin label, dnf's repository):
    /// Ubuntu Pro's archives open the release's Pro ecosystems (see
    /// [`offer_ecosystems`]).
    pub origin: &'a str,
}

/// The version of a package that advisories of its format compare: Debian
/// and Ubuntu advisories name source packages with *source* versions, so
/// for deb packages the source version when known (a binary's version may
/// carry an epoch or a binNMU suffix its source lacks); the Red Hat family
/// names binary packages, so for rpm the binary EVR.
pub fn compared_version<'a>(
    format: crate::protocol::PackageFormat,
    binary: &'a str,
    source: Option<&'a str>,
) -> &'a str {
    match (format, source) {
        (crate::protocol::PackageFormat::Deb, Some(source)) if !source.trim().is_empty() => source,
        _ => binary,
    }
}

/// Whether an update's origin is Ubuntu Pro's Expanded Security
/// Maintenance: apt labels those archives `UbuntuESM` (esm-infra) and
/// `UbuntuESMApps` (esm-apps), as the ubuntu-pro-client writes them.
pub fn is_ubuntu_pro_origin(origin: &str) -> bool {
    matches!(origin_label(origin), "UbuntuESM" | "UbuntuESMApps")
}

/// The label part of an apt origin as the agent reports it
/// (`Label:Version/Archive`, e.g. `UbuntuESMApps:22.04/jammy-apps-security`).
fn origin_label(origin: &str) -> &str {
    origin.split(':').next().unwrap_or(origin).trim()
}

/// The ecosystems an offer's advisories may come from: the release's, and
/// for updates from Ubuntu Pro its Pro ecosystem (`Ubuntu:Pro:22.04:LTS`),
/// or for the FIPS archives (`UbuntuFIPS`, `UbuntuFIPSUpdates`,
/// `UbuntuFIPSPreview`) the matching FIPS stream
/// (`Ubuntu:Pro:FIPS-updates:22.04:LTS`). A machine without Pro gets its
/// updates from the plain archive, where Pro's fixes do not apply.
pub fn offer_ecosystems(release: &str, origin: &str) -> Vec<String> {
    let (os_id, version_id) = release.split_once(':').unwrap_or((release, ""));
    let mut ecosystems = release_ecosystem(os_id, version_id);
    if os_id.eq_ignore_ascii_case("ubuntu") {
        let stream = match origin_label(origin) {
            "UbuntuESM" | "UbuntuESMApps" => Some("Pro"),
            "UbuntuFIPS" => Some("Pro:FIPS"),
            "UbuntuFIPSUpdates" => Some("Pro:FIPS-updates"),
            "UbuntuFIPSPreview" => Some("Pro:FIPS-preview"),
            _ => None,
        };
        if let Some(stream) = stream {
            let extra: Vec<String> = ecosystems
                .iter()
                .filter_map(|e| e.strip_prefix("Ubuntu:"))
                .filter(|rest| rest.ends_with(":LTS"))
                .map(|rest| format!("Ubuntu:{stream}:{rest}"))
                .collect();
            ecosystems.extend(extra);
        }
    }
    ecosystems
}

impl Affected {
    /// Whether this entry names the offered package: Debian and Ubuntu
    /// name source packages (the binary's name stands in when its source
    /// is unknown); the Red Hat family names binary packages, sometimes
    /// source RPMs.
    fn names(&self, offer: &Offer<'_>) -> bool {
        let name = self.package.name.as_str();
        match self.package.ecosystem.split(':').next() {
            Some("Debian" | "Ubuntu") => name == offer.source.unwrap_or(offer.package),
            _ => name == offer.package || offer.source == Some(name),
        }
    }

    /// Whether the offered update fixes what this entry describes *on the
    /// server it is offered to*: the entry belongs to the server's release
    /// (see [`offer_ecosystems`]) and names the package, the installed
    /// version is affected (inside a range, below its fix, or listed), and
    /// the offered version is at or past the lowest fix above the installed
    /// one and not affected itself. A fix the server already has is not a
    /// reason to install the update; an update below the fix does not fix
    /// it; an entry without a fix (still vulnerable) is fixed by nothing.
    pub fn fixed_by_offer(&self, offer: &Offer<'_>) -> bool {
        let Some(scheme) = ecosystem_scheme(&self.package.ecosystem) else {
            return false;
        };
        let in_release = offer_ecosystems(offer.release, offer.origin)
            .iter()
            .any(|e| ecosystem_matches(&self.package.ecosystem, e));
        if !in_release || !self.names(offer) || !self.affects(scheme, offer.from) {
            return false;
        }
        let Some(fix) = self.fix_for(scheme, offer.from) else {
            return false;
        };
        scheme.compare(offer.to, fix) != Ordering::Less && !self.affects(scheme, offer.to)
    }

    /// This entry without the fields matching does not read (the
    /// distributions' own fields, which can be large): what the portal
    /// keeps to evaluate it again.
    pub fn for_matching(&self) -> Affected {
        Affected {
            ecosystem_specific: None,
            database_specific: None,
            severity: Vec::new(),
            ..self.clone()
        }
    }
}

impl Advisory {
    /// Whether this advisory is fixed on a server by `offer` (see
    /// [`Affected::fixed_by_offer`]); withdrawn records fix nothing.
    pub fn fixed_by_offer(&self, offer: &Offer<'_>) -> bool {
        !self.is_withdrawn() && self.affected.iter().any(|a| a.fixed_by_offer(offer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::*;
    use crate::advisory::parse_osv;
    use crate::version::VersionScheme;
    use serde_json::json;

    #[test]
    fn withdrawn_records_affect_nothing() {
        let a = parse_osv(&usn_with(|d| {
            d["withdrawn"] = json!("2024-06-01T00:00:00Z")
        }))
        .unwrap();
        assert!(a.is_withdrawn());
        assert_eq!(a.withdrawn_at, Some(1_717_200_000));
        let jammy = release_ecosystem("ubuntu", "22.04");
        assert!(!a.affects_package(&jammy, "openssl", VersionScheme::Deb, "3.0.2-0ubuntu1.17"));
        // The package entry itself still answers.
        assert!(a.affected[0].affects(VersionScheme::Deb, "3.0.2-0ubuntu1.17"));
        // And no update fixes a withdrawn advisory.
        let offer = Offer {
            release: "ubuntu:22.04",
            package: "libssl3",
            source: Some("openssl"),
            from: "3.0.2-0ubuntu1.17",
            to: "3.0.2-0ubuntu1.18",
            origin: "Ubuntu:22.04/jammy-security",
        };
        assert!(!a.fixed_by_offer(&offer));
        let live = parse_osv(USN.as_bytes()).unwrap();
        assert!(
            live.fixed_by_offer(&offer),
            "the same record, not withdrawn"
        );
    }

    #[test]
    fn offers_compare_source_versions_on_deb_and_open_pro_streams_by_origin() {
        use crate::protocol::PackageFormat::{Deb, Rpm};
        // A binNMU or an epoch on the binary only: Debian's fixes are
        // source versions.
        assert_eq!(compared_version(Deb, "1:2.4-1+b1", Some("2.4-1")), "2.4-1");
        assert_eq!(compared_version(Deb, "2.4-1", None), "2.4-1");
        assert_eq!(compared_version(Deb, "2.4-1", Some(" ")), "2.4-1");
        assert_eq!(
            compared_version(Rpm, "1:3.0.7-28.el9_4", Some("3.0.7")),
            "1:3.0.7-28.el9_4"
        );
        let jammy = |origin: &str| offer_ecosystems("ubuntu:22.04", origin);
        assert_eq!(
            jammy("Ubuntu:22.04/jammy-security"),
            strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04"])
        );
        assert_eq!(
            jammy("UbuntuESMApps:22.04/jammy-apps-security"),
            strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04", "Ubuntu:Pro:22.04:LTS"])
        );
        assert!(
            jammy("UbuntuFIPSUpdates:22.04/jammy-fips-updates")
                .contains(&"Ubuntu:Pro:FIPS-updates:22.04:LTS".to_owned())
        );
        assert!(is_ubuntu_pro_origin("UbuntuESM:20.04/focal-infra-security"));
        assert!(!is_ubuntu_pro_origin("Ubuntu:20.04/focal-security"));
        // Non-LTS releases have no Pro stream; other distributions ignore it.
        assert_eq!(
            offer_ecosystems("ubuntu:23.10", "UbuntuESM"),
            strings(&["Ubuntu:23.10"])
        );
        assert_eq!(
            offer_ecosystems("debian:12", "UbuntuESM"),
            strings(&["Debian:12"])
        );
    }
}

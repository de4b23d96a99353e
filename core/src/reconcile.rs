//! Reconciling a check-in's full report with what storage holds: which
//! updates the server is offered (one per catalog key), what each fixes
//! against (its source package and the installed version advisories
//! compare), which of the server's open patches close and how (installed
//! or superseded), which catalog rows become security updates, and which
//! server-patch rows to write. Storage (`patchport-db`) reads, calls these
//! planners and writes what they return, in the check-in's transaction.
//!
//! The steps follow the order storage works in:
//!
//! 1. [`inventory`]: the installed packages to store, one per name and
//!    architecture.
//! 2. [`plan`]: given the server's open patches, the [`Plan`]: the offers,
//!    the closing patches and the catalog rows to write ([`Plan::catalog`]).
//! 3. [`Plan::catalogued`]: given the catalog rows storage wrote, what is
//!    new, what becomes a security update and each offer's patch id.
//! 4. [`Plan::server_patches`]: given each (patch, installed version)
//!    row's id, the server-patch rows to write. Storage writes them with
//!    [`on_offer`]'s rule, set-wise in SQL.
//!
//! [`check_reboots`] says whether the report may confirm a reboot.

use crate::advisory::compared_version;
use crate::protocol::{AvailableUpdate, InstalledPackage, Report};
use crate::state::PatchState;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A catalog key: a patch is one (package, version, architecture) of a
/// release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key<'a> {
    /// Binary package.
    pub package: &'a str,
    /// Version the update installs.
    pub version: &'a str,
    /// Architecture.
    pub arch: &'a str,
}

impl<'a> Key<'a> {
    fn of(u: &'a AvailableUpdate) -> Self {
        Key {
            package: &u.name,
            version: &u.version,
            arch: &u.arch,
        }
    }
}

/// One of the server's open patches ([`PatchState::OPEN`]), as storage
/// read it before the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenPatch {
    /// Catalog id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Version.
    pub version: String,
    /// Architecture.
    pub arch: String,
}

impl OpenPatch {
    /// Its catalog key.
    pub fn key(&self) -> Key<'_> {
        Key {
            package: &self.package,
            version: &self.version,
            arch: &self.arch,
        }
    }
}

/// An update the report offers, one per catalog key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// Its catalog key.
    pub key: Key<'a>,
    /// The reported update (of several with this key, a security one).
    pub update: &'a AvailableUpdate,
    /// The source package it is built from, which Debian and Ubuntu
    /// advisories name.
    pub source: &'a str,
    /// The installed version advisories compare: on deb, the installed
    /// package's source version when known.
    pub from: &'a str,
}

/// An open patch the report no longer offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closing<'a> {
    /// Catalog id.
    pub patch_id: i64,
    /// Its catalog key.
    pub key: Key<'a>,
    /// [`PatchState::Superseded`] when the package is still offered at
    /// another version (a newer patch replaced it), else
    /// [`PatchState::Installed`] (it got installed, or the package went
    /// away).
    pub to: PatchState,
}

/// A catalog row to write: a new patch, or one that exists (its source
/// names are filled in when they were unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogEntry<'a> {
    /// Its key.
    pub key: Key<'a>,
    /// Where the update comes from (empty for a closing patch).
    pub origin: &'a str,
    /// A security origin says so (false for a closing patch).
    pub security: bool,
    /// Source package (`None` for a closing patch).
    pub source: Option<&'a str>,
    /// Source version of the offered version, when known.
    pub source_version: Option<&'a str>,
}

/// What reconciling a report means for the server's patches: see
/// [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// The release the patches belong to: `os id:version id`
    /// (`debian:12`).
    pub release: String,
    /// What the report offers, one per catalog key, in key order.
    pub offers: Vec<Offer<'a>>,
    /// The open patches no longer offered, in key order.
    pub closing: Vec<Closing<'a>>,
    /// The patch ids open before the report.
    was_open: HashSet<i64>,
}

/// A catalog row as storage wrote it ([`Plan::catalog`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogRow<'r> {
    /// Catalog id.
    pub id: i64,
    /// Its key.
    pub key: Key<'r>,
    /// The row was created by this check-in.
    pub inserted: bool,
    /// The catalog counts it as a security update (before this report).
    pub security: bool,
}

/// An offered update with its catalog row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferedPatch<'a> {
    /// Catalog id.
    pub patch_id: i64,
    /// The installed version advisories compare ([`Offer::from`]): with
    /// the patch, the (patch, installed version) row it counts in.
    pub from: &'a str,
    /// The version installed now, as reported.
    pub installed_version: Option<&'a str>,
}

/// What the catalog rows say ([`Plan::catalogued`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogued<'a> {
    /// Patches the catalog had not seen before.
    pub new_patches: u32,
    /// Catalog patches this report says come from a security origin while
    /// the catalog does not count them as security yet.
    pub security_raised: Vec<i64>,
    /// Each offer that has a catalog row, in key order.
    pub patches: Vec<OfferedPatch<'a>>,
}

/// A server-patch row to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerPatch<'a> {
    /// Catalog id.
    pub patch_id: i64,
    /// The version installed now.
    pub installed_version: Option<&'a str>,
    /// Its (patch, installed version) row.
    pub from_id: i64,
}

/// The server-patch rows to write ([`Plan::server_patches`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPatches<'a> {
    /// One per offered patch that has a (patch, installed version) row.
    pub rows: Vec<ServerPatch<'a>>,
    /// Of those, the ones that were not open before: they become missing
    /// (new, or back again).
    pub now_missing: u32,
}

/// The installed packages to store, in (name, architecture) order. Reports
/// are normalised, but a duplicate name and architecture must not abort a
/// check-in: the last one wins, as it would on the server itself.
pub fn inventory(packages: &[InstalledPackage]) -> Vec<&InstalledPackage> {
    by_name_arch(packages).into_values().collect()
}

fn by_name_arch(packages: &[InstalledPackage]) -> BTreeMap<(&str, &str), &InstalledPackage> {
    packages
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p))
        .collect()
}

/// Plans a report against the server's open patches (`open`, as storage
/// read them): one offer per catalog key (a report may list the same
/// update from two origins: a security one wins), and every open patch
/// not offered closes.
pub fn plan<'a>(report: &'a Report, open: &'a [OpenPatch]) -> Plan<'a> {
    let installed = by_name_arch(&report.packages);
    let mut chosen: BTreeMap<Key, &AvailableUpdate> = BTreeMap::new();
    for u in &report.updates {
        let keep = chosen
            .get(&Key::of(u))
            .is_none_or(|old| u.security && !old.security);
        if keep {
            chosen.insert(Key::of(u), u);
        }
    }
    let offers: Vec<Offer> = chosen
        .into_iter()
        .map(|(key, u)| {
            let package = installed.get(&(u.name.as_str(), u.arch.as_str())).copied();
            Offer {
                key,
                update: u,
                source: source_of(u, package),
                from: from_of(report, u, package),
            }
        })
        .collect();
    let offered: HashSet<(&str, &str)> =
        offers.iter().map(|o| (o.key.package, o.key.arch)).collect();
    let offered_keys: HashSet<Key> = offers.iter().map(|o| o.key).collect();
    let mut closing: Vec<Closing> = open
        .iter()
        .filter(|p| !offered_keys.contains(&p.key()))
        .map(|p| Closing {
            patch_id: p.patch_id,
            key: p.key(),
            to: if offered.contains(&(p.package.as_str(), p.arch.as_str())) {
                PatchState::Superseded
            } else {
                PatchState::Installed
            },
        })
        .collect();
    closing.sort_by_key(|c| (c.key, c.patch_id));
    Plan {
        release: format!("{}:{}", report.os.id, report.os.version_id),
        offers,
        closing,
        was_open: open.iter().map(|p| p.patch_id).collect(),
    }
}

/// The source package an update is built from: as the package manager
/// says, else the installed package's, else its own name.
fn source_of<'a>(u: &'a AvailableUpdate, installed: Option<&'a InstalledPackage>) -> &'a str {
    u.source_name
        .as_deref()
        .or_else(|| installed.and_then(|p| p.source_name.as_deref()))
        .unwrap_or(&u.name)
}

/// The installed version advisories compare: the installed binary version
/// (as the update says, else as the inventory says), or on deb the
/// installed package's source version when it is the same installed
/// package.
fn from_of<'a>(
    report: &Report,
    u: &'a AvailableUpdate,
    installed: Option<&'a InstalledPackage>,
) -> &'a str {
    let binary = u
        .installed_version
        .as_deref()
        .or(installed.map(|p| p.version.as_str()))
        .unwrap_or("");
    let source = installed
        .filter(|p| {
            u.installed_version
                .as_deref()
                .is_none_or(|v| v == p.version)
        })
        .and_then(|p| p.source_version.as_deref());
    compared_version(report.package_format, binary, source)
}

impl<'a> Plan<'a> {
    /// The catalog rows the check-in writes, in key order: the offers, and
    /// the closing patches, whose rows are only taken (a no-op update;
    /// storage takes every catalog row a check-in touches in one order).
    pub fn catalog(&self) -> Vec<CatalogEntry<'a>> {
        let offers = self.offers.iter().map(|o| CatalogEntry {
            key: o.key,
            origin: &o.update.origin,
            security: o.update.security,
            source: Some(o.source),
            source_version: o.update.source_version.as_deref(),
        });
        let closing = self.closing.iter().map(|c| CatalogEntry {
            key: c.key,
            origin: "",
            security: false,
            source: None,
            source_version: None,
        });
        let mut all: Vec<CatalogEntry> = offers.chain(closing).collect();
        all.sort_by_key(|e| e.key);
        // Two stored patches of one key (from two releases) close as one
        // row: one upsert must not name a row twice (PostgreSQL refuses).
        // The sort is stable, so an offer of the key stays.
        all.dedup_by_key(|e| e.key);
        all
    }

    /// What the catalog rows storage wrote (`rows`, any order) mean: how
    /// many are new, which become security updates (an offer from a
    /// security origin whose row is not counted as security yet), and the
    /// patch id of each offer.
    pub fn catalogued(&self, rows: &[CatalogRow]) -> Catalogued<'a> {
        let claims: HashSet<Key> = self
            .offers
            .iter()
            .filter(|o| o.update.security)
            .map(|o| o.key)
            .collect();
        let mut ids: HashMap<Key, i64> = HashMap::new();
        let mut new_patches = 0;
        let mut security_raised = Vec::new();
        for row in rows {
            if !row.security && claims.contains(&row.key) {
                security_raised.push(row.id);
            }
            new_patches += u32::from(row.inserted);
            ids.insert(row.key, row.id);
        }
        let patches = self
            .offers
            .iter()
            .filter_map(|o| {
                Some(OfferedPatch {
                    patch_id: *ids.get(&o.key)?,
                    from: o.from,
                    installed_version: o.update.installed_version.as_deref(),
                })
            })
            .collect();
        Catalogued {
            new_patches,
            security_raised,
            patches,
        }
    }

    /// The server-patch rows to write for the offered patches, given the
    /// id of each (patch, installed version) row (`versions`); an offer
    /// without one is left out.
    pub fn server_patches(
        &self,
        patches: &[OfferedPatch<'a>],
        versions: &HashMap<(i64, String), i64>,
    ) -> ServerPatches<'a> {
        let rows: Vec<ServerPatch> = patches
            .iter()
            .filter_map(|p| {
                Some(ServerPatch {
                    patch_id: p.patch_id,
                    installed_version: p.installed_version,
                    from_id: *versions.get(&(p.patch_id, p.from.to_owned()))?,
                })
            })
            .collect();
        let now_missing = rows
            .iter()
            .filter(|r| !self.was_open.contains(&r.patch_id))
            .count() as u32;
        ServerPatches { rows, now_missing }
    }

    /// How many closing patches go to `state`.
    pub fn closing_to(&self, state: PatchState) -> u32 {
        self.closing.iter().filter(|c| c.to == state).count() as u32
    }
}

/// What an offered patch's stored state becomes: a closed one
/// ([`PatchState::CLOSED`]: installed or superseded, and offered anew) is
/// missing again; any other stays as the workflow left it. Storage writes
/// this rule set-wise, in the upsert of the server-patch rows.
pub fn on_offer(stored: PatchState) -> PatchState {
    if PatchState::CLOSED.contains(&stored) {
        PatchState::Missing
    } else {
        stored
    }
}

/// Whether a report may confirm a reboot by its boot id: the server has
/// unfinished jobs (a reboot may be under way), or a reboot was lost
/// recently enough ([`crate::workflow::LOST_REBOOT_CONFIRMABLE`]).
pub fn check_reboots(open_jobs: i64, lost_reboots: i64) -> bool {
    open_jobs > 0 || lost_reboots > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{OsInfo, PackageFormat};
    use proptest::prelude::*;

    fn report(
        format: PackageFormat,
        packages: Vec<InstalledPackage>,
        updates: Vec<AvailableUpdate>,
    ) -> Report {
        Report {
            hostname: "web-1".into(),
            os: OsInfo {
                id: "debian".into(),
                id_like: vec![],
                version_id: "12".into(),
                version_codename: Some("bookworm".into()),
                pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            },
            kernel: "6.1.0".into(),
            arch: "amd64".into(),
            boot_id: "b".into(),
            package_format: format,
            packages,
            updates,
            reboot_required: false,
            reboot_required_packages: vec![],
            agent_version: "1".into(),
        }
    }

    fn pkg(name: &str, version: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            source_name: None,
            source_version: None,
        }
    }

    fn update(name: &str, from: &str, to: &str, security: bool) -> AvailableUpdate {
        AvailableUpdate {
            name: name.into(),
            arch: "amd64".into(),
            installed_version: Some(from.into()),
            version: to.into(),
            origin: if security {
                "Debian-Security"
            } else {
                "Debian"
            }
            .into(),
            security,
            advisories: vec![],
            source_name: None,
            source_version: None,
        }
    }

    fn open(patch_id: i64, package: &str, version: &str) -> OpenPatch {
        OpenPatch {
            patch_id,
            package: package.into(),
            version: version.into(),
            arch: "amd64".into(),
        }
    }

    fn key<'a>(package: &'a str, version: &'a str) -> Key<'a> {
        Key {
            package,
            version,
            arch: "amd64",
        }
    }

    #[test]
    fn the_same_update_from_two_origins_is_one_offer_and_security_wins() {
        let mut stable = update("openssl", "3.0.11", "3.0.15", false);
        stable.origin = "Debian:12.8/stable".into();
        let security = update("openssl", "3.0.11", "3.0.15", true);
        for updates in [
            vec![stable.clone(), security.clone()],
            vec![security.clone(), stable.clone()],
        ] {
            let r = report(PackageFormat::Deb, vec![], updates);
            let p = plan(&r, &[]);
            assert_eq!(p.offers.len(), 1);
            assert_eq!(p.offers[0].update, &security);
        }
        // Of two alike, the first stays.
        let mut other = stable.clone();
        other.origin = "elsewhere".into();
        let r = report(PackageFormat::Deb, vec![], vec![stable.clone(), other]);
        assert_eq!(plan(&r, &[]).offers[0].update, &stable);
    }

    #[test]
    fn sources_and_compared_versions() {
        let mut libssl = pkg("libssl3", "3.0.11-1~deb12u2+b1");
        libssl.source_name = Some("openssl".into());
        libssl.source_version = Some("3.0.11-1~deb12u2".into());
        let mut named = update("curl", "7.88.1-10", "7.88.1-11", false);
        named.source_name = Some("curl-src".into());
        // (update, installed, expected source, expected from)
        let table: Vec<(AvailableUpdate, Vec<InstalledPackage>, &str, &str)> = vec![
            // The installed package names the source and its version.
            (
                update("libssl3", "3.0.11-1~deb12u2+b1", "3.0.15-1", true),
                vec![libssl.clone()],
                "openssl",
                "3.0.11-1~deb12u2",
            ),
            // The update names another installed version: the inventory's
            // source version is not that package's.
            (
                update("libssl3", "3.0.10", "3.0.15-1", true),
                vec![libssl.clone()],
                "openssl",
                "3.0.10",
            ),
            // No installed version in the update: the inventory's.
            (
                AvailableUpdate {
                    installed_version: None,
                    ..update("libssl3", "", "3.0.15-1", true)
                },
                vec![libssl.clone()],
                "openssl",
                "3.0.11-1~deb12u2",
            ),
            // The update names its source; nothing installed.
            (named.clone(), vec![], "curl-src", "7.88.1-10"),
            // A new package: its own name, nothing installed.
            (
                AvailableUpdate {
                    installed_version: None,
                    ..update("newpkg", "", "1.0", false)
                },
                vec![],
                "newpkg",
                "",
            ),
        ];
        for (u, packages, source, from) in table {
            let r = report(PackageFormat::Deb, packages, vec![u.clone()]);
            let p = plan(&r, &[]);
            assert_eq!(
                (p.offers[0].source, p.offers[0].from),
                (source, from),
                "{u:?}"
            );
        }
        // On rpm, the binary version is compared.
        let r = report(
            PackageFormat::Rpm,
            vec![libssl],
            vec![update("libssl3", "3.0.11-1~deb12u2+b1", "3.0.15-1", true)],
        );
        assert_eq!(plan(&r, &[]).offers[0].from, "3.0.11-1~deb12u2+b1");
    }

    #[test]
    fn two_stored_patches_of_one_key_are_one_catalog_row() {
        let r = report(PackageFormat::Deb, vec![], vec![]);
        // The same package, version and arch stored for two releases.
        let stored = [open(1, "zlib", "1.3"), open(2, "zlib", "1.3")];
        let p = plan(&r, &stored);
        assert_eq!(p.closing.len(), 2, "both close");
        let keys: Vec<Key> = p.catalog().iter().map(|e| e.key).collect();
        assert_eq!(keys, [key("zlib", "1.3")]);
    }

    #[test]
    fn patches_no_longer_offered_close_as_installed_or_superseded() {
        let r = report(
            PackageFormat::Deb,
            vec![],
            vec![
                update("curl", "1", "3", false),
                update("bash", "5.1", "5.2", false),
            ],
        );
        let stored = [
            open(1, "openssl", "3.0.15"),
            open(2, "curl", "2"),
            open(3, "bash", "5.2"),
        ];
        let p = plan(&r, &stored);
        assert_eq!(
            p.closing,
            [
                Closing {
                    patch_id: 2,
                    key: key("curl", "2"),
                    to: PatchState::Superseded
                },
                Closing {
                    patch_id: 1,
                    key: key("openssl", "3.0.15"),
                    to: PatchState::Installed
                },
            ]
        );
        assert_eq!(
            (
                p.closing_to(PatchState::Installed),
                p.closing_to(PatchState::Superseded)
            ),
            (1, 1)
        );
        // The catalog takes the closing rows too, all in key order.
        let keys: Vec<(Key, bool)> = p
            .catalog()
            .iter()
            .map(|e| (e.key, e.source.is_some()))
            .collect();
        assert_eq!(
            keys,
            [
                (key("bash", "5.2"), true),
                (key("curl", "2"), false),
                (key("curl", "3"), true),
                (key("openssl", "3.0.15"), false),
            ]
        );
        assert_eq!(p.release, "debian:12");
    }

    #[test]
    fn catalog_rows_give_new_patches_security_raises_and_ids() {
        let mut r = report(
            PackageFormat::Deb,
            vec![],
            vec![
                update("a", "1", "2", true),
                update("b", "1", "2", true),
                update("c", "1", "2", false),
                update("d", "1", "2", true),
            ],
        );
        r.updates[3].installed_version = None;
        let stored = [open(9, "z", "1")];
        let p = plan(&r, &stored);
        let rows = [
            // Known, not security yet: raised.
            CatalogRow {
                id: 1,
                key: key("a", "2"),
                inserted: false,
                security: false,
            },
            // Known as security already.
            CatalogRow {
                id: 2,
                key: key("b", "2"),
                inserted: false,
                security: true,
            },
            // New; not a security claim.
            CatalogRow {
                id: 3,
                key: key("c", "2"),
                inserted: true,
                security: false,
            },
            // New from a security origin: inserted as security.
            CatalogRow {
                id: 4,
                key: key("d", "2"),
                inserted: true,
                security: true,
            },
            // A closing patch's row is only taken.
            CatalogRow {
                id: 9,
                key: key("z", "1"),
                inserted: false,
                security: false,
            },
        ];
        let c = p.catalogued(&rows);
        assert_eq!(c.new_patches, 2);
        assert_eq!(c.security_raised, [1]);
        let ids: Vec<(i64, &str, Option<&str>)> = c
            .patches
            .iter()
            .map(|o| (o.patch_id, o.from, o.installed_version))
            .collect();
        assert_eq!(
            ids,
            [
                (1, "1", Some("1")),
                (2, "1", Some("1")),
                (3, "1", Some("1")),
                (4, "", None)
            ]
        );
    }

    #[test]
    fn server_patches_count_the_newly_missing_and_need_a_version_row() {
        let r = report(
            PackageFormat::Deb,
            vec![],
            vec![
                update("a", "1", "2", false),
                update("b", "1", "2", false),
                update("c", "1", "2", false),
            ],
        );
        let stored = [open(1, "a", "2")];
        let p = plan(&r, &stored);
        let rows = [
            CatalogRow {
                id: 1,
                key: key("a", "2"),
                inserted: false,
                security: false,
            },
            CatalogRow {
                id: 2,
                key: key("b", "2"),
                inserted: true,
                security: false,
            },
            CatalogRow {
                id: 3,
                key: key("c", "2"),
                inserted: false,
                security: false,
            },
        ];
        let c = p.catalogued(&rows);
        // `c` has no version row: left out.
        let versions = HashMap::from([((1, "1".to_owned()), 10), ((2, "1".to_owned()), 20)]);
        let s = p.server_patches(&c.patches, &versions);
        assert_eq!(
            s.rows,
            [
                ServerPatch {
                    patch_id: 1,
                    installed_version: Some("1"),
                    from_id: 10
                },
                ServerPatch {
                    patch_id: 2,
                    installed_version: Some("1"),
                    from_id: 20
                },
            ]
        );
        assert_eq!(s.now_missing, 1);
    }

    #[test]
    fn the_same_report_twice_closes_nothing_and_opens_nothing() {
        let r = report(
            PackageFormat::Deb,
            vec![pkg("a", "1")],
            vec![update("a", "1", "2", false), update("b", "1", "2", true)],
        );
        let first = plan(&r, &[]);
        let rows: Vec<CatalogRow> = first
            .catalog()
            .iter()
            .enumerate()
            .map(|(i, e)| CatalogRow {
                id: i as i64 + 1,
                key: e.key,
                inserted: true,
                security: e.security,
            })
            .collect();
        let c = first.catalogued(&rows);
        assert_eq!((c.new_patches, c.security_raised.len()), (2, 0));
        let versions: HashMap<(i64, String), i64> = c
            .patches
            .iter()
            .map(|o| ((o.patch_id, o.from.to_owned()), o.patch_id * 10))
            .collect();
        assert_eq!(first.server_patches(&c.patches, &versions).now_missing, 2);
        // Stored now: both open.
        let stored = [open(1, "a", "2"), open(2, "b", "2")];
        let again = plan(&r, &stored);
        assert!(again.closing.is_empty());
        let rows: Vec<CatalogRow> = rows
            .iter()
            .map(|r| CatalogRow {
                inserted: false,
                ..*r
            })
            .collect();
        let c = again.catalogued(&rows);
        assert_eq!((c.new_patches, c.security_raised.len()), (0, 0));
        assert_eq!(again.server_patches(&c.patches, &versions).now_missing, 0);
    }

    #[test]
    fn the_inventory_keeps_the_last_of_a_name_and_arch() {
        let packages = vec![pkg("b", "1"), pkg("a", "1"), pkg("b", "2")];
        let kept: Vec<(&str, &str)> = inventory(&packages)
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(kept, [("a", "1"), ("b", "2")]);
    }

    #[test]
    fn offered_patches_reopen_only_when_closed() {
        for state in PatchState::ALL {
            let expected = match state {
                PatchState::Installed | PatchState::Superseded => PatchState::Missing,
                other => *other,
            };
            assert_eq!(on_offer(*state), expected, "{state:?}");
        }
    }

    #[test]
    fn reboots_are_checked_with_open_jobs_or_a_lost_reboot() {
        assert!(!check_reboots(0, 0));
        assert!(check_reboots(1, 0));
        assert!(check_reboots(0, 1));
    }

    /// A report and stored open patches from small name and version sets,
    /// so keys, packages and origins collide often.
    fn scenario() -> impl Strategy<Value = (Report, Vec<OpenPatch>)> {
        let name = prop::sample::select(vec!["a", "b", "c", "d"]);
        let version = prop::sample::select(vec!["1", "2", "3"]);
        let arch = prop::sample::select(vec!["amd64", "all"]);
        let updates = prop::collection::vec(
            (name.clone(), version.clone(), arch.clone(), any::<bool>()),
            0..12,
        );
        let stored = prop::collection::btree_set((name, version, arch), 0..8);
        (updates, stored).prop_map(|(updates, stored)| {
            let updates = updates
                .into_iter()
                .map(|(n, v, a, security)| AvailableUpdate {
                    arch: a.into(),
                    ..update(n, "0", v, security)
                })
                .collect();
            let r = report(PackageFormat::Deb, vec![], updates);
            let open = stored
                .into_iter()
                .enumerate()
                .map(|(i, (n, v, a))| OpenPatch {
                    patch_id: i as i64 + 1,
                    package: n.into(),
                    version: v.into(),
                    arch: a.into(),
                })
                .collect();
            (r, open)
        })
    }

    proptest! {
        /// Every reported update ends in exactly one offer (security wins
        /// among alike ones), and every stored open patch either stays
        /// offered or closes, exactly one way.
        #[test]
        fn every_update_and_open_patch_ends_in_exactly_one_outcome((r, open) in scenario()) {
            let p = plan(&r, &open);
            for u in &r.updates {
                let offers: Vec<&Offer> = p.offers.iter().filter(|o| o.key == Key::of(u)).collect();
                prop_assert_eq!(offers.len(), 1);
                let any_security = r.updates.iter().any(|v| Key::of(v) == Key::of(u) && v.security);
                prop_assert_eq!(offers[0].update.security, any_security);
            }
            prop_assert!(p.offers.windows(2).all(|w| w[0].key < w[1].key));
            for o in &open {
                let offered = p.offers.iter().any(|x| x.key == o.key());
                let closing: Vec<&Closing> = p.closing.iter().filter(|c| c.patch_id == o.patch_id).collect();
                prop_assert_eq!(closing.len(), usize::from(!offered));
                if let Some(c) = closing.first() {
                    let same_package = p.offers.iter().any(|x| (x.key.package, x.key.arch) == (o.package.as_str(), o.arch.as_str()));
                    let to = if same_package { PatchState::Superseded } else { PatchState::Installed };
                    prop_assert_eq!(c.to, to);
                }
            }
            prop_assert_eq!(
                p.closing_to(PatchState::Installed) + p.closing_to(PatchState::Superseded),
                p.closing.len() as u32
            );
            // The catalog is the offers and the closing patches, in key order.
            let catalog = p.catalog();
            prop_assert_eq!(catalog.len(), p.offers.len() + p.closing.len());
            prop_assert!(catalog.windows(2).all(|w| w[0].key < w[1].key));
        }

        /// Storage's rows make every offer one server-patch row; the rows
        /// not open before are the newly missing; raised are exactly the
        /// security offers whose row is not security yet.
        #[test]
        fn every_offer_ends_in_one_server_patch_row(
            (r, open) in scenario(),
            stored_security in prop::collection::vec(any::<bool>(), 32),
        ) {
            let p = plan(&r, &open);
            let ids: HashMap<Key, i64> = open.iter().map(|o| (o.key(), o.patch_id)).collect();
            let rows: Vec<CatalogRow> = p
                .catalog()
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let known = ids.get(&e.key).copied();
                    CatalogRow {
                        id: known.unwrap_or(100 + i as i64),
                        key: e.key,
                        inserted: known.is_none(),
                        security: known.is_some() && stored_security[i],
                    }
                })
                .collect();
            let c = p.catalogued(&rows);
            prop_assert_eq!(c.patches.len(), p.offers.len());
            prop_assert_eq!(c.new_patches as usize, rows.iter().filter(|r| r.inserted).count());
            let raised: Vec<i64> = rows
                .iter()
                .filter(|row| !row.security && p.offers.iter().any(|o| o.key == row.key && o.update.security))
                .map(|row| row.id)
                .collect();
            prop_assert_eq!(&c.security_raised, &raised);
            let versions: HashMap<(i64, String), i64> =
                c.patches.iter().map(|o| ((o.patch_id, o.from.to_owned()), o.patch_id)).collect();
            let s = p.server_patches(&c.patches, &versions);
            prop_assert_eq!(s.rows.len(), p.offers.len());
            let reopened = p.offers.iter().filter(|o| ids.contains_key(&o.key)).count();
            prop_assert_eq!(s.now_missing as usize, p.offers.len() - reopened);
        }
    }
}

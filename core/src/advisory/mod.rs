//! Security advisories: OSV records and the CISA Known Exploited
//! Vulnerabilities (KEV) catalog, checked on the way in, and the rules that
//! decide whether an advisory affects an installed package version.
//!
//! Everything here is a pure function of its input; the caller downloads
//! and unpacks the feeds (osv.dev's per-ecosystem `all.zip`, Ubuntu's
//! `ubuntu-security-notices` repository, CISA's
//! `known_exploited_vulnerabilities.json`) and hands over the bytes.
//!
//! # OSV
//!
//! [`parse_osv`] reads one record in the [OSV format] as osv.dev publishes
//! it for Debian (`DSA-`, `DLA-`, `DEBIAN-CVE-`), Ubuntu (`USN-`,
//! `UBUNTU-CVE-`), AlmaLinux (`ALSA-`), Rocky Linux (`RLSA-`) and Red Hat
//! (`RHSA-`). Unknown fields are ignored, `null` counts as absent, and what
//! is known is checked: the id, the timestamps (RFC 3339), every affected
//! package's ecosystem and name, range types, that each event has exactly
//! one key and that linear (`ECOSYSTEM`, `SEMVER`) ranges have an
//! `introduced` event, CVSS vectors, and sizes. A failure is an
//! [`AdvisoryError`] naming the record and the JSON path of the field, e.g.
//! `DSA-5678-1: affected[0].package.name: must not be empty`.
//!
//! [`Affected::affects`] follows the OSV evaluation algorithm for
//! `ECOSYSTEM` ranges: events are sorted by the release's version ordering
//! ([`VersionScheme`]: dpkg for Debian and Ubuntu, rpm for AlmaLinux, Rocky
//! and Red Hat, see [`ecosystem_scheme`]), `introduced: "0"` sorts before
//! everything, and a version is affected inside `[introduced, fixed)` or
//! `[introduced, last_affected]`, below a `limit` if there is one, or when
//! the record's `versions` list names it. `SEMVER` and `GIT` ranges are
//! parsed but not evaluated: they need SemVer ordering or the repository's
//! commit graph, and the distributions above publish `ECOSYSTEM` ranges
//! only.
//!
//! Package names follow the distributions: Debian, Ubuntu, AlmaLinux and
//! Rocky name the **source** package, Red Hat binary or source RPMs, so a
//! caller checks both an installed package's name and its source name.
//!
//! [`release_ecosystem`] maps a server's `/etc/os-release` (`ID`,
//! `VERSION_ID`) to the ecosystem names its advisories use; see there for
//! what is supported.
//!
//! ## CVE ids
//!
//! [`Advisory::cves`] collects CVE ids from the record's id, `aliases` and
//! `upstream`, and from the per-CVE records of distributions written
//! `<DB>-CVE-YYYY-NNNN` (`DEBIAN-CVE-…`, `UBUNTU-CVE-…`, which USNs list in
//! `upstream`). For distribution advisories whose own id is not a CVE
//! (`DSA-`, `USN-`, `ALSA-`, …) it also reads `related`: AlmaLinux and Rocky
//! list the CVEs an erratum fixes only there. A CVE record's `related`
//! names *other* vulnerabilities and is left out.
//!
//! ## CVSS
//!
//! `CVSS_V2`, `CVSS_V3` and `CVSS_V4` severity entries are parsed with the
//! RustSec `cvss` crate (Apache-2.0 OR MIT, no dependencies), which scores
//! all three versions; a vector that does not parse, lacks a base metric or
//! does not match its entry's type is a validation error. The score is the
//! base score rounded to one decimal, as the crate computes it (v3.0 and
//! v3.1 with their own round-up rules; for v4 the score covers whichever
//! metric groups the vector carries, which for OSV's base-only vectors is
//! CVSS-B). [`Advisory::cvss`] picks the vector of the highest CVSS version.
//! Ubuntu's qualitative priority (`{"type": "Ubuntu", "score": "high"}`) is
//! mapped by [`Advisory::ubuntu_priority`].
//!
//! # KEV
//!
//! [`parse_kev`] reads CISA's catalog: every entry's `cveID` must be a CVE
//! id, `dateAdded` (and `dueDate`, when given) a `YYYY-MM-DD` date, kept as
//! given and as Unix seconds at 00:00 UTC, and `count`, when present, must
//! equal the number of entries.
//!
//! # Dates
//!
//! RFC 3339 timestamps are parsed with jiff (the workspace's one date
//! crate; its parser needs no clock and builds for wasm). `T`, `t` or a
//! space may separate date and time; any UTC offset is accepted and
//! converted, fractions of a second are dropped, and a leap second counts
//! as the second before it.
//!
//! [OSV format]: https://ossf.github.io/osv-schema/
//! [`VersionScheme`]: crate::version::VersionScheme
//!
//! # Layout
//!
//! The public items all live at this path; the code is split along its
//! lines into private submodules: `record` (the OSV record types), `parse`
//! (reading and checking OSV records), `ranges` (affected-range
//! evaluation), `ecosystems` (releases, ecosystems and their version
//! orderings), `offer` (whether an offered update fixes an advisory on a
//! server), `scores` (severity levels and CVSS), `ratings` (an advisory's
//! ratings as the distributions publish them), `cve` (CVE ids), `kev` (the
//! KEV catalog), `dates` (timestamps and dates) and `check` (errors and the
//! field checks both parsers share).

mod check;
mod cve;
mod dates;
mod ecosystems;
#[cfg(test)]
mod fixtures;
mod kev;
mod offer;
mod parse;
mod ranges;
mod ratings;
mod record;
mod scores;

pub use check::AdvisoryError;
pub use cve::is_cve_id;
pub use dates::{parse_date, parse_rfc3339};
pub use ecosystems::{ecosystem_matches, ecosystem_scheme, release_ecosystem};
pub use kev::{Kev, KevEntry, parse_kev};
pub use offer::{Offer, compared_version, is_ubuntu_pro_origin, offer_ecosystems};
pub use parse::parse_osv;
pub use ratings::Rating;
pub use record::{Advisory, Affected, ErratumKind, Event, Package, Range, RangeType, Reference};
pub use scores::{Cvss, CvssVersion, Severity, SeverityLevel};

/// Largest OSV record [`parse_osv`] accepts, in bytes. Per-CVE records of
/// the Linux kernel list thousands of versions across releases and take a
/// few MiB; nothing real comes near this.
pub const MAX_OSV_BYTES: usize = 32 * 1024 * 1024;
/// Largest KEV catalog [`parse_kev`] accepts, in bytes (the catalog was
/// about 1.5 MiB in 2025).
pub const MAX_KEV_BYTES: usize = 64 * 1024 * 1024;
/// Longest advisory or vulnerability id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `summary`, in bytes (OSV recommends about 120 characters).
pub const MAX_SUMMARY_BYTES: usize = 8 * 1024;
/// Longest `details`, in bytes. Ubuntu's kernel notices list hundreds of
/// CVEs and subsystems and run to tens of KiB, so this leaves room.
pub const MAX_DETAILS_BYTES: usize = 256 * 1024;

const MAX_NAME_BYTES: usize = 256;
const MAX_VERSION_BYTES: usize = 256;
const MAX_ECOSYSTEM_BYTES: usize = 128;
const MAX_URL_BYTES: usize = 4096;
const MAX_LABEL_BYTES: usize = 64;
const MAX_IDS: usize = 10_000;
const MAX_AFFECTED: usize = 50_000;
const MAX_RANGES: usize = 1_000;
const MAX_EVENTS: usize = 10_000;
const MAX_VERSIONS: usize = 200_000;
const MAX_REFERENCES: usize = 10_000;
const MAX_SEVERITIES: usize = 100;
const MAX_KEV_TEXT_BYTES: usize = 64 * 1024;

//! Test fixtures shared by the advisory tests: real OSV records of each
//! distribution, and helpers that change a field of one.

use serde_json::Value;

// Real records, copied unchanged from their public sources: see
// `tests/fixtures/advisories/PROVENANCE.md` for repository, commit and
// licence.
pub(super) const DSA: &str = include_str!("../../tests/fixtures/advisories/debian/DSA-3029-1.json");
pub(super) const USN: &str = include_str!("../../tests/fixtures/advisories/ubuntu/USN-6986-1.json");
pub(super) const USN_UNRATED: &str =
    include_str!("../../tests/fixtures/advisories/ubuntu/USN-6409-1.json");
pub(super) const UBUNTU_CVE: &str =
    include_str!("../../tests/fixtures/advisories/ubuntu/UBUNTU-CVE-2024-6119.json");
pub(super) const UBUNTU_CVE_OLD: &str =
    include_str!("../../tests/fixtures/advisories/ubuntu/UBUNTU-CVE-2023-4911.json");
pub(super) const ALSA: &str =
    include_str!("../../tests/fixtures/advisories/almalinux/almalinux9/ALSA-2024-2447.json");
pub(super) const ALSA_SUFFIX: &str =
    include_str!("../../tests/fixtures/advisories/almalinux/almalinux8/ALSA-2022-5468.json");
pub(super) const ALBA: &str =
    include_str!("../../tests/fixtures/advisories/almalinux/almalinux9/ALBA-2026-39332.json");
pub(super) const RHSA: &str =
    include_str!("../../tests/fixtures/advisories/redhat/RHSA-2024-4546.json");

pub(super) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A record with one change applied.
pub(super) fn record_with(record: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut doc: Value = serde_json::from_str(record).unwrap();
    change(&mut doc);
    serde_json::to_vec(&doc).unwrap()
}

/// The USN (it has every list: versions, upstream, two packages) with
/// one change applied.
pub(super) fn usn_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
    record_with(USN, change)
}

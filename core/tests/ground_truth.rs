//! Detection on real advisory data: which advisories an offered update
//! fixes on one server, for the cases in `fixtures/ground_truth.json`.
//!
//! The advisories are real files copied from their public sources
//! (`fixtures/advisories/PROVENANCE.md`). Each case's expected answer was
//! worked out independently of this crate by `scripts/ground_truth.py`,
//! with the package managers' own version comparison (`dpkg
//! --compare-versions`, rpm's `labelCompare`); the test suite runs that
//! script with `--check` to show the answers still follow from them.

use patchport_core::advisory::{Advisory, Offer, compared_version, parse_osv};
use patchport_core::protocol::PackageFormat;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    release: String,
    format: String,
    package: String,
    source: Option<String>,
    installed: String,
    installed_source: Option<String>,
    target: String,
    target_source: Option<String>,
    origin: String,
    fixtures: Vec<String>,
    expect: Vec<String>,
    #[serde(default)]
    why: String,
}

fn load(path: &str) -> Advisory {
    let file = fixtures().join("advisories").join(path);
    let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    parse_osv(&bytes).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

#[derive(Debug, Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixtures().join("ground_truth.json")).unwrap();
    serde_json::from_str::<Cases>(&text).unwrap().cases
}

/// What the portal decides for one case: the ids of the advisories among
/// the case's files that the update fixes on that server.
fn decide(case: &Case) -> BTreeSet<String> {
    let format = match case.format.as_str() {
        "deb" => PackageFormat::Deb,
        "rpm" => PackageFormat::Rpm,
        other => panic!("{}: unknown format {other}", case.name),
    };
    let offer = Offer {
        release: &case.release,
        package: &case.package,
        source: case.source.as_deref(),
        from: compared_version(format, &case.installed, case.installed_source.as_deref()),
        to: compared_version(format, &case.target, case.target_source.as_deref()),
        origin: &case.origin,
    };
    case.fixtures
        .iter()
        .map(|f| load(f))
        .filter(|a| a.fixed_by_offer(&offer))
        .map(|a| a.id)
        .collect()
}

#[test]
fn every_link_is_right_and_none_is_missing() {
    let cases = cases();
    assert!(cases.len() >= 30, "at least 30 cases, got {}", cases.len());
    let mut wrong = Vec::new();
    let (mut links, mut checked) = (0, 0);
    for case in &cases {
        let expect: BTreeSet<String> = case.expect.iter().cloned().collect();
        let got = decide(case);
        checked += case.fixtures.len();
        links += expect.len();
        if got != expect {
            wrong.push(format!(
                "{}: expected {expect:?}, got {got:?} ({})",
                case.name, case.why
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    // The cases must exercise both answers, not only one.
    assert!(
        links > 0 && links < checked,
        "{links} links of {checked} pairs"
    );
}

#[test]
fn the_cases_include_the_negative_controls() {
    let names: Vec<String> = cases().iter().map(|c| c.name.to_lowercase()).collect();
    for needle in [
        "already", "below", "release", "esm", "source", "epoch", "module", "alma", "bug",
    ] {
        assert!(
            names.iter().any(|n| n.contains(needle)),
            "no case about {needle:?}"
        );
    }
}

//! OSV parsing: [`parse_osv`] reads one record and checks it field by
//! field (see "OSV" in the [`crate::advisory`] documentation); deserialising
//! an [`Advisory`] with serde runs the same checks.

use super::check::{AdvisoryError, Check, check_time, id_problem, nullable, quoted};
use super::record::{Advisory, Affected, Event, Package, Range, RangeType, Reference};
use super::scores::{Severity, severity_cvss};
use super::{
    MAX_AFFECTED, MAX_DETAILS_BYTES, MAX_ECOSYSTEM_BYTES, MAX_EVENTS, MAX_IDS, MAX_LABEL_BYTES,
    MAX_NAME_BYTES, MAX_OSV_BYTES, MAX_RANGES, MAX_REFERENCES, MAX_SEVERITIES, MAX_SUMMARY_BYTES,
    MAX_URL_BYTES, MAX_VERSION_BYTES, MAX_VERSIONS,
};
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct RawAdvisory {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    upstream: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    related: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    summary: String,
    #[serde(default, deserialize_with = "nullable")]
    details: String,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "nullable")]
    affected: Vec<RawAffected>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<RawReference>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "nullable")]
    ranges: Vec<RawRange>,
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<String>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    url: String,
}

/// Parses and checks one OSV record (JSON). See the [module
/// documentation](crate::advisory#osv) for what is checked.
pub fn parse_osv(json: &[u8]) -> Result<Advisory, AdvisoryError> {
    if json.len() > MAX_OSV_BYTES {
        return Err(Check { entry: "?" }.error("", format!("larger than {MAX_OSV_BYTES} bytes")));
    }
    match serde_json::from_slice::<RawAdvisory>(json) {
        Ok(raw) => Advisory::try_from(raw),
        Err(e) => {
            // Name the record if its id can still be read.
            #[derive(Deserialize)]
            struct IdOnly {
                id: Option<String>,
            }
            let id = serde_json::from_slice::<IdOnly>(json)
                .ok()
                .and_then(|r| r.id)
                .filter(|id| id_problem(id).is_none());
            let entry = id.as_deref().unwrap_or("?");
            Err(Check { entry }.error("", format!("not a valid OSV record: {e}")))
        }
    }
}

fn check_severities(
    check: &Check<'_>,
    prefix: &str,
    raw: Vec<RawSeverity>,
) -> Result<Vec<Severity>, AdvisoryError> {
    check.count(&format!("{prefix}severity"), raw.len(), MAX_SEVERITIES)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("{prefix}severity[{i}].{name}");
        check.text(|| field("type"), &s.kind, MAX_LABEL_BYTES, true, false)?;
        check.text(|| field("score"), &s.score, 1024, true, false)?;
        let severity = Severity {
            kind: s.kind,
            score: s.score,
        };
        if let Some(Err(problem)) = severity_cvss(&severity) {
            return check.fail(
                field("score"),
                format!("not a valid {} vector: {problem}", severity.kind),
            );
        }
        out.push(severity);
    }
    Ok(out)
}

fn check_ids(check: &Check<'_>, name: &str, ids: &[String]) -> Result<(), AdvisoryError> {
    check.count(name, ids.len(), MAX_IDS)?;
    for (i, id) in ids.iter().enumerate() {
        check.id(|| format!("{name}[{i}]"), id)?;
    }
    Ok(())
}

fn check_event(
    check: &Check<'_>,
    field: &str,
    raw: serde_json::Map<String, serde_json::Value>,
) -> Result<Event, AdvisoryError> {
    const ONE_KEY: &str = "must have exactly one of introduced, fixed, last_affected, limit";
    if raw.len() != 1 {
        return check.fail(field, ONE_KEY);
    }
    let Some((key, value)) = raw.into_iter().next() else {
        return check.fail(field, ONE_KEY);
    };
    let serde_json::Value::String(version) = value else {
        return check.fail(format!("{field}.{key}"), "must be a string");
    };
    check.text(
        || format!("{field}.{key}"),
        &version,
        MAX_VERSION_BYTES,
        true,
        false,
    )?;
    match key.as_str() {
        "introduced" => Ok(Event::Introduced(version)),
        "fixed" => Ok(Event::Fixed(version)),
        "last_affected" => Ok(Event::LastAffected(version)),
        "limit" => Ok(Event::Limit(version)),
        _ => check.fail(field, format!("unknown event {}; {ONE_KEY}", quoted(&key))),
    }
}

fn check_range(check: &Check<'_>, field: &str, raw: RawRange) -> Result<Range, AdvisoryError> {
    let kind = match raw.kind.as_deref() {
        None => return check.fail(format!("{field}.type"), "is missing"),
        Some("ECOSYSTEM") => RangeType::Ecosystem,
        Some("SEMVER") => RangeType::Semver,
        Some("GIT") => RangeType::Git,
        Some(other) => {
            return check.fail(
                format!("{field}.type"),
                format!(
                    "unknown range type {}; expected ECOSYSTEM, SEMVER or GIT",
                    quoted(other)
                ),
            );
        }
    };
    if let Some(repo) = &raw.repo {
        check.text(
            || format!("{field}.repo"),
            repo,
            MAX_URL_BYTES,
            false,
            false,
        )?;
    }
    let events_field = format!("{field}.events");
    if raw.events.is_empty() {
        return check.fail(events_field, "must not be empty");
    }
    check.count(&events_field, raw.events.len(), MAX_EVENTS)?;
    let mut events = Vec::with_capacity(raw.events.len());
    for (k, event) in raw.events.into_iter().enumerate() {
        events.push(check_event(check, &format!("{events_field}[{k}]"), event)?);
    }
    let linear = matches!(kind, RangeType::Ecosystem | RangeType::Semver);
    if linear && !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
        return check.fail(events_field, "has no introduced event");
    }
    Ok(Range {
        kind,
        repo: raw.repo,
        events,
    })
}

fn check_affected(
    check: &Check<'_>,
    i: usize,
    raw: RawAffected,
) -> Result<Affected, AdvisoryError> {
    let field = format!("affected[{i}]");
    let Some(package) = raw.package else {
        return check.fail(format!("{field}.package"), "is missing");
    };
    let Some(ecosystem) = package.ecosystem else {
        return check.fail(format!("{field}.package.ecosystem"), "is missing");
    };
    let Some(name) = package.name else {
        return check.fail(format!("{field}.package.name"), "is missing");
    };
    check.text(
        || format!("{field}.package.ecosystem"),
        &ecosystem,
        MAX_ECOSYSTEM_BYTES,
        true,
        false,
    )?;
    check.text(
        || format!("{field}.package.name"),
        &name,
        MAX_NAME_BYTES,
        true,
        false,
    )?;
    if let Some(purl) = &package.purl {
        check.text(|| format!("{field}.package.purl"), purl, 1024, false, false)?;
    }
    let severity = check_severities(check, &format!("{field}."), raw.severity)?;
    check.count(&format!("{field}.ranges"), raw.ranges.len(), MAX_RANGES)?;
    let mut ranges = Vec::with_capacity(raw.ranges.len());
    for (j, range) in raw.ranges.into_iter().enumerate() {
        ranges.push(check_range(check, &format!("{field}.ranges[{j}]"), range)?);
    }
    check.count(
        &format!("{field}.versions"),
        raw.versions.len(),
        MAX_VERSIONS,
    )?;
    for (k, v) in raw.versions.iter().enumerate() {
        check.text(
            || format!("{field}.versions[{k}]"),
            v,
            MAX_VERSION_BYTES,
            true,
            false,
        )?;
    }
    Ok(Affected {
        package: Package {
            ecosystem,
            name,
            purl: package.purl,
        },
        severity,
        ranges,
        versions: raw.versions,
        ecosystem_specific: raw.ecosystem_specific.filter(|v| !v.is_null()),
        database_specific: raw.database_specific.filter(|v| !v.is_null()),
    })
}

/// Checks the `references` list: each link's type and URL.
fn check_references(
    check: &Check<'_>,
    raw: Vec<RawReference>,
) -> Result<Vec<Reference>, AdvisoryError> {
    check.count("references", raw.len(), MAX_REFERENCES)?;
    let mut references = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        check.text(
            || format!("references[{i}].type"),
            &r.kind,
            MAX_LABEL_BYTES,
            false,
            false,
        )?;
        check.text(
            || format!("references[{i}].url"),
            &r.url,
            MAX_URL_BYTES,
            true,
            false,
        )?;
        references.push(Reference {
            kind: r.kind,
            url: r.url,
        });
    }
    Ok(references)
}

impl TryFrom<RawAdvisory> for Advisory {
    type Error = AdvisoryError;

    fn try_from(raw: RawAdvisory) -> Result<Self, AdvisoryError> {
        let Some(id) = raw.id else {
            return Check { entry: "?" }.fail("id", "is missing");
        };
        Check { entry: "?" }.id(|| "id".into(), &id)?;
        let check = Check { entry: &id };
        let Some(modified) = raw.modified else {
            return check.fail("modified", "is missing");
        };
        let modified_at = check_time(&check, "modified", &modified)?;
        let published_at = match &raw.published {
            Some(p) => Some(check_time(&check, "published", p)?),
            None => None,
        };
        let withdrawn_at = match &raw.withdrawn {
            Some(w) => Some(check_time(&check, "withdrawn", w)?),
            None => None,
        };
        check_ids(&check, "aliases", &raw.aliases)?;
        check_ids(&check, "upstream", &raw.upstream)?;
        check_ids(&check, "related", &raw.related)?;
        check.text(
            || "summary".into(),
            &raw.summary,
            MAX_SUMMARY_BYTES,
            false,
            true,
        )?;
        check.text(
            || "details".into(),
            &raw.details,
            MAX_DETAILS_BYTES,
            false,
            true,
        )?;
        let severity = check_severities(&check, "", raw.severity)?;
        check.count("affected", raw.affected.len(), MAX_AFFECTED)?;
        let mut affected = Vec::with_capacity(raw.affected.len());
        for (i, a) in raw.affected.into_iter().enumerate() {
            affected.push(check_affected(&check, i, a)?);
        }
        let references = check_references(&check, raw.references)?;
        Ok(Advisory {
            modified,
            modified_at,
            published: raw.published,
            published_at,
            withdrawn: raw.withdrawn,
            withdrawn_at,
            aliases: raw.aliases,
            upstream: raw.upstream,
            related: raw.related,
            summary: raw.summary,
            details: raw.details,
            severity,
            affected,
            references,
            database_specific: raw.database_specific.filter(|v| !v.is_null()),
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::*;
    use crate::advisory::{ErratumKind, release_ecosystem};
    use crate::version::VersionScheme;
    use serde_json::{Value, json};

    #[test]
    fn parses_a_debian_dsa() {
        let a = parse_osv(DSA.as_bytes()).unwrap();
        assert_eq!(a.id, "DSA-3029-1");
        assert_eq!(a.modified, "2014-09-20T08:18:07Z");
        assert_eq!(a.modified_at, 1_411_201_087);
        assert_eq!(a.published_at, Some(1_411_171_200));
        assert_eq!(a.withdrawn_at, None);
        assert_eq!(a.summary, "nginx - security update");
        assert_eq!(a.cves(), strings(&["CVE-2014-3616"]));
        assert_eq!(a.kind(), ErratumKind::Security);
        assert_eq!(a.cvss(), None);
        assert_eq!(a.rating(), None, "DSAs carry no rating");
        assert_eq!(a.references[0].kind, "ADVISORY");
        let p = &a.affected[0];
        assert_eq!(p.package.ecosystem, "Debian:7");
        assert_eq!(p.fixed_versions(), strings(&["1.2.1-2.2+wheezy3"]));
        let deb = VersionScheme::Deb;
        let wheezy = release_ecosystem("debian", "7");
        for (version, affected) in [
            ("1.2.1-2.2+wheezy2", true),
            ("1.2.1-2.2", true),
            ("1.2.1-2.2+wheezy3", false),
            ("1.2.1-2.2+wheezy3+b1", false),
            ("1.6.2-1", false),
        ] {
            assert_eq!(
                a.affects_package(&wheezy, "nginx", deb, version),
                affected,
                "{version}"
            );
        }
        assert_eq!(
            p.fix_for(deb, "1.2.1-2.2+wheezy2"),
            Some("1.2.1-2.2+wheezy3")
        );
        assert_eq!(p.fix_for(deb, "1.6.2-1"), None);
        // The record names the source package, not the binary ones.
        assert!(!a.affects_package(&wheezy, "nginx-full", deb, "1.2.1-2.2"));
        // Another release's advisories do not apply.
        let jessie = release_ecosystem("debian", "8");
        assert!(!a.affects_package(&jessie, "nginx", deb, "1.2.1-2.2"));
    }

    #[test]
    fn errors_name_the_record_and_the_field() {
        type Change = fn(&mut Value);
        let cases: &[(&str, &str, Change)] = &[
            ("?", "id", |d| {
                d.as_object_mut().unwrap().remove("id");
            }),
            ("?", "id", |d| d["id"] = json!("")),
            ("?", "id", |d| d["id"] = json!("USN 6986-1")),
            ("?", "id", |d| d["id"] = json!("x".repeat(129))),
            ("USN-6986-1", "modified", |d| {
                d.as_object_mut().unwrap().remove("modified");
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-13-01T00:00:00Z")
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-05-02")
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-05-02T05:12:33")
            }),
            ("USN-6986-1", "published", |d| {
                d["published"] = json!("yesterday")
            }),
            ("USN-6986-1", "withdrawn", |d| {
                d["withdrawn"] = json!("2024-02-30T00:00:00Z")
            }),
            ("USN-6986-1", "upstream[0]", |d| {
                d["upstream"][0] = json!("")
            }),
            ("USN-6986-1", "summary", |d| d["summary"] = json!("a\u{0}b")),
            ("USN-6986-1", "details", |d| {
                d["details"] = json!("x".repeat(MAX_DETAILS_BYTES + 1))
            }),
            ("USN-6986-1", "affected[0].package", |d| {
                d["affected"][0].as_object_mut().unwrap().remove("package");
            }),
            ("USN-6986-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!("")
            }),
            ("USN-6986-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!(null)
            }),
            ("USN-6986-1", "affected[0].package.ecosystem", |d| {
                d["affected"][0]["package"]
                    .as_object_mut()
                    .unwrap()
                    .remove("ecosystem");
            }),
            ("USN-6986-1", "affected[1].package.name", |d| {
                d["affected"][1]["package"]["name"] = json!("  ");
            }),
            ("USN-6986-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]["type"] = json!("RANGE")
            }),
            ("USN-6986-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("type");
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] =
                    json!({"introduced": "1.0", "fixed": "3.0.2-0ubuntu1.18"})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixd": "1.0"})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": 3})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": ""})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([{"fixed": "1.0"}])
            }),
            ("USN-6986-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([])
            }),
            ("USN-6986-1", "affected[0].versions[2]", |d| {
                d["affected"][0]["versions"][2] = json!("")
            }),
            ("USN-6986-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3",
                    "score": "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
            }),
            (
                "USN-6986-1",
                "severity[0].score",
                |d| d["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L"}]),
            ),
            ("USN-6986-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3", "score": "high"}])
            }),
            ("USN-6986-1", "severity[1].score", |d| {
                d["severity"] = json!([{"type": "Ubuntu", "score": "high"}, {"type": "CVSS_V3",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}])
            }),
            ("USN-6986-1", "severity[0].type", |d| {
                d["severity"] = json!([{"type": "", "score": "high"}])
            }),
            ("USN-6986-1", "affected[0].severity[0].score", |d| {
                d["affected"][0]["severity"] =
                    json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}])
            }),
            ("USN-6986-1", "references[0].url", |d| {
                d["references"][0]["url"] = json!("")
            }),
            ("USN-6986-1", "", |d| d["affected"] = json!("openssl")),
            ("?", "", |d| d["id"] = json!(5678)),
        ];
        for (entry, field, change) in cases {
            let err = parse_osv(&usn_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, *field),
                "{err}"
            );
        }
    }

    #[test]
    fn error_messages_read_well() {
        let err = parse_osv(&usn_with(|d| {
            d["affected"][0]["package"]["name"] = json!("")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "USN-6986-1: affected[0].package.name: must not be empty"
        );
        let err = parse_osv(&usn_with(|d| {
            d["affected"][0]["ranges"][0]["events"][1] = json!({"introduced": "0", "fixed": "1"})
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "USN-6986-1: affected[0].ranges[0].events[1]: must have exactly one of \
             introduced, fixed, last_affected, limit"
        );
        let err = parse_osv(b"not json").unwrap_err();
        assert_eq!((err.entry.as_str(), err.field.as_str()), ("?", ""));
        assert!(
            err.to_string().starts_with("?: not a valid OSV record: "),
            "{err}"
        );
        let err = parse_osv(&vec![b' '; MAX_OSV_BYTES + 1]).unwrap_err();
        assert_eq!(err.entry, "?");
        // Deserialising with serde checks the same way.
        let bad = usn_with(|d| d["modified"] = json!("soon"));
        let err = serde_json::from_slice::<Advisory>(&bad).unwrap_err();
        assert!(err.to_string().contains("USN-6986-1: modified: "), "{err}");
    }

    #[test]
    fn nulls_count_as_absent() {
        let a = parse_osv(&usn_with(|d| {
            d["aliases"] = json!(null);
            d["summary"] = json!(null);
            d["published"] = json!(null);
            d["affected"][0]["versions"] = json!(null);
        }))
        .unwrap();
        assert!(a.aliases.is_empty());
        assert!(a.summary.is_empty());
        assert_eq!(a.published, None);
        assert!(a.affected[0].versions.is_empty());
    }
}

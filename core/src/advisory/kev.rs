//! KEV: CISA's catalog of Known Exploited Vulnerabilities, read and
//! checked by [`parse_kev`]: every entry's CVE id and dates, and the
//! catalog's count (see "KEV" in the [`crate::advisory`] documentation).

use super::check::{AdvisoryError, Check, check_time, nullable, quoted};
use super::cve::is_cve_id;
use super::dates::parse_date;
use super::{MAX_ID_CHARS, MAX_KEV_BYTES, MAX_KEV_TEXT_BYTES};
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// CISA's catalog of Known Exploited Vulnerabilities, checked.
/// Deserialising one runs the same checks as [`parse_kev`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawKev", rename_all = "camelCase")]
pub struct Kev {
    /// The catalog's title.
    pub title: String,
    /// Its version, e.g. `2024.05.01`.
    pub catalog_version: String,
    /// When it was released, as given (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_released: Option<String>,
    /// [`Kev::date_released`] in Unix seconds.
    #[serde(skip_serializing)]
    pub date_released_at: Option<Timestamp>,
    /// The number of entries the catalog claims (checked against the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The entries.
    pub vulnerabilities: Vec<KevEntry>,
}

/// One known exploited vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    /// The CVE id.
    #[serde(rename = "cveID")]
    pub cve_id: String,
    /// Vendor or project.
    pub vendor_project: String,
    /// Product.
    pub product: String,
    /// CISA's name for the vulnerability.
    pub vulnerability_name: String,
    /// When CISA added it, as given (`YYYY-MM-DD`).
    pub date_added: String,
    /// [`KevEntry::date_added`] in Unix seconds (00:00 UTC).
    #[serde(skip_serializing)]
    pub date_added_at: Timestamp,
    /// Description.
    pub short_description: String,
    /// What federal agencies must do.
    pub required_action: String,
    /// The deadline for agencies, as given (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// [`KevEntry::due_date`] in Unix seconds (00:00 UTC).
    #[serde(skip_serializing)]
    pub due_date_at: Option<Timestamp>,
    /// `Known` or `Unknown`.
    pub known_ransomware_campaign_use: String,
    /// Notes, usually links.
    pub notes: String,
    /// CWE ids.
    pub cwes: Vec<String>,
}

impl KevEntry {
    /// Whether CISA knows of ransomware campaigns using it.
    pub fn known_ransomware(&self) -> bool {
        self.known_ransomware_campaign_use
            .trim()
            .eq_ignore_ascii_case("known")
    }
}

impl Kev {
    /// The entry for a CVE id, if the catalog lists it.
    pub fn entry(&self, cve_id: &str) -> Option<&KevEntry> {
        self.vulnerabilities.iter().find(|e| e.cve_id == cve_id)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(default, deserialize_with = "nullable")]
    title: String,
    #[serde(default, deserialize_with = "nullable")]
    catalog_version: String,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    vulnerabilities: Option<Vec<RawKevEntry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKevEntry {
    #[serde(rename = "cveID", default)]
    cve_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    vendor_project: String,
    #[serde(default, deserialize_with = "nullable")]
    product: String,
    #[serde(default, deserialize_with = "nullable")]
    vulnerability_name: String,
    #[serde(default)]
    date_added: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    short_description: String,
    #[serde(default, deserialize_with = "nullable")]
    required_action: String,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    known_ransomware_campaign_use: String,
    #[serde(default, deserialize_with = "nullable")]
    notes: String,
    #[serde(default, deserialize_with = "nullable")]
    cwes: Vec<String>,
}

/// Parses and checks CISA's KEV catalog (JSON). Errors name the entry by its
/// CVE id when it has a valid one, else `KEV`.
pub fn parse_kev(json: &[u8]) -> Result<Kev, AdvisoryError> {
    let check = Check { entry: "KEV" };
    if json.len() > MAX_KEV_BYTES {
        return check.fail("", format!("larger than {MAX_KEV_BYTES} bytes"));
    }
    let raw: RawKev = serde_json::from_slice(json)
        .map_err(|e| check.error("", format!("not a valid KEV catalog: {e}")))?;
    Kev::try_from(raw)
}

fn check_kev_entry(i: usize, raw: RawKevEntry) -> Result<KevEntry, AdvisoryError> {
    let field = |name: &str| format!("vulnerabilities[{i}].{name}");
    let Some(cve_id) = raw.cve_id else {
        return Check { entry: "KEV" }.fail(field("cveID"), "is missing");
    };
    if cve_id.len() > MAX_ID_CHARS || !is_cve_id(&cve_id) {
        return Check { entry: "KEV" }.fail(
            field("cveID"),
            format!("{} is not a CVE id (CVE-YYYY-NNNN)", quoted(&cve_id)),
        );
    }
    let check = Check { entry: &cve_id };
    let short = |name: &str, value: &str| {
        check.text(|| field(name), value, MAX_KEV_TEXT_BYTES, false, true)
    };
    short("vendorProject", &raw.vendor_project)?;
    short("product", &raw.product)?;
    short("vulnerabilityName", &raw.vulnerability_name)?;
    short("shortDescription", &raw.short_description)?;
    short("requiredAction", &raw.required_action)?;
    short(
        "knownRansomwareCampaignUse",
        &raw.known_ransomware_campaign_use,
    )?;
    short("notes", &raw.notes)?;
    check.count(&field("cwes"), raw.cwes.len(), 1_000)?;
    for (k, cwe) in raw.cwes.iter().enumerate() {
        check.id(|| field(&format!("cwes[{k}]")), cwe)?;
    }
    let Some(date_added) = raw.date_added else {
        return check.fail(field("dateAdded"), "is missing");
    };
    let Some(date_added_at) = parse_date(&date_added) else {
        return check.fail(
            field("dateAdded"),
            format!("{} is not a date (YYYY-MM-DD)", quoted(&date_added)),
        );
    };
    let due_date = raw.due_date.filter(|d| !d.trim().is_empty());
    let due_date_at = match &due_date {
        Some(d) => Some(parse_date(d).map_or_else(
            || {
                check.fail(
                    field("dueDate"),
                    format!("{} is not a date (YYYY-MM-DD)", quoted(d)),
                )
            },
            Ok,
        )?),
        None => None,
    };
    Ok(KevEntry {
        vendor_project: raw.vendor_project,
        product: raw.product,
        vulnerability_name: raw.vulnerability_name,
        date_added,
        date_added_at,
        short_description: raw.short_description,
        required_action: raw.required_action,
        due_date,
        due_date_at,
        known_ransomware_campaign_use: raw.known_ransomware_campaign_use,
        notes: raw.notes,
        cwes: raw.cwes,
        cve_id,
    })
}

impl TryFrom<RawKev> for Kev {
    type Error = AdvisoryError;

    fn try_from(raw: RawKev) -> Result<Self, AdvisoryError> {
        let check = Check { entry: "KEV" };
        check.text(|| "title".into(), &raw.title, 1024, false, false)?;
        check.text(
            || "catalogVersion".into(),
            &raw.catalog_version,
            64,
            false,
            false,
        )?;
        let date_released = raw.date_released.filter(|d| !d.trim().is_empty());
        let date_released_at = match &date_released {
            Some(d) => Some(check_time(&check, "dateReleased", d)?),
            None => None,
        };
        let Some(raw_entries) = raw.vulnerabilities else {
            return check.fail("vulnerabilities", "is missing");
        };
        if let Some(count) = raw.count
            && count != raw_entries.len() as u64
        {
            return check.fail(
                "count",
                format!("says {count} but the catalog lists {}", raw_entries.len()),
            );
        }
        let mut vulnerabilities = Vec::with_capacity(raw_entries.len());
        for (i, entry) in raw_entries.into_iter().enumerate() {
            vulnerabilities.push(check_kev_entry(i, entry)?);
        }
        Ok(Kev {
            title: raw.title,
            catalog_version: raw.catalog_version,
            date_released,
            date_released_at,
            count: raw.count,
            vulnerabilities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::{record_with, strings};
    use serde_json::{Value, json};

    /// The real CISA catalog (cisagov/kev-data, CC0; see PROVENANCE.md).
    const KEV: &str =
        include_str!("../../tests/fixtures/advisories/kev/known_exploited_vulnerabilities.json");

    #[test]
    fn parses_the_kev_catalog() {
        let kev = parse_kev(KEV.as_bytes()).unwrap();
        assert_eq!(kev.catalog_version, "2025.08.25");
        assert_eq!(kev.date_released_at, Some(1_756_141_459));
        assert_eq!(kev.count, Some(1404));
        assert_eq!(kev.vulnerabilities.len(), 1404);
        let glibc = kev.entry("CVE-2023-4911").unwrap();
        assert_eq!(glibc.product, "GNU C Library");
        assert_eq!(glibc.date_added, "2023-11-21");
        assert_eq!(glibc.date_added_at, 1_700_524_800);
        assert_eq!(glibc.due_date_at, Some(1_702_339_200));
        assert!(!glibc.known_ransomware());
        assert_eq!(glibc.cwes, strings(&["CWE-122"]));
        assert!(kev.entry("CVE-2021-44228").unwrap().known_ransomware());
        assert_eq!(
            kev.entry("CVE-2024-1086").unwrap().date_added_at,
            1_717_027_200
        );
        assert!(kev.entry("CVE-2000-0001").is_none());
        // Round trip, and serde deserialisation checks too.
        let json = serde_json::to_string(&kev).unwrap();
        assert_eq!(serde_json::from_str::<Kev>(&json).unwrap(), kev);
    }

    fn kev_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        record_with(KEV, change)
    }

    /// Where an entry is in the real catalog.
    fn kev_index(cve: &str) -> usize {
        let doc: Value = serde_json::from_str(KEV).unwrap();
        doc["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .position(|v| v["cveID"] == cve)
            .unwrap()
    }

    /// The entry of `cve` in a catalog document.
    fn kev_entry<'a>(doc: &'a mut Value, cve: &str) -> &'a mut Value {
        let i = kev_index(cve);
        &mut doc["vulnerabilities"][i]
    }

    #[test]
    fn kev_errors_name_the_entry_and_field() {
        type Change = fn(&mut Value);
        let (glibc, kernel) = (kev_index("CVE-2023-4911"), kev_index("CVE-2024-1086"));
        let cases: Vec<(&str, String, Change)> = vec![
            ("KEV", format!("vulnerabilities[{glibc}].cveID"), |d| {
                kev_entry(d, "CVE-2023-4911")["cveID"] = json!("CVE-2023-491")
            }),
            ("KEV", format!("vulnerabilities[{kernel}].cveID"), |d| {
                kev_entry(d, "CVE-2024-1086")["cveID"] = json!("cve-2024-1086")
            }),
            ("KEV", "vulnerabilities[0].cveID".into(), |d| {
                d["vulnerabilities"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("cveID");
            }),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| kev_entry(d, "CVE-2023-4911")["dateAdded"] = json!("2023-02-30"),
            ),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| kev_entry(d, "CVE-2023-4911")["dateAdded"] = json!("11/21/2023"),
            ),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| {
                    kev_entry(d, "CVE-2023-4911")
                        .as_object_mut()
                        .unwrap()
                        .remove("dateAdded");
                },
            ),
            (
                "CVE-2024-1086",
                format!("vulnerabilities[{kernel}].dueDate"),
                |d| kev_entry(d, "CVE-2024-1086")["dueDate"] = json!("soon"),
            ),
            (
                "CVE-2024-1086",
                format!("vulnerabilities[{kernel}].notes"),
                |d| kev_entry(d, "CVE-2024-1086")["notes"] = json!("a\u{7}b"),
            ),
            ("KEV", "count".into(), |d| d["count"] = json!(1405)),
            ("KEV", "dateReleased".into(), |d| {
                d["dateReleased"] = json!("2025-08-25")
            }),
            ("KEV", "vulnerabilities".into(), |d| {
                d.as_object_mut().unwrap().remove("vulnerabilities");
            }),
            ("KEV", "".into(), |d| d["count"] = json!("many")),
        ];
        for (entry, field, change) in &cases {
            let err = parse_kev(&kev_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, field.as_str()),
                "{err}"
            );
        }
        let err = parse_kev(&kev_with(|d| {
            kev_entry(d, "CVE-2023-4911")["cveID"] = json!("CVE-2023-491")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "KEV: vulnerabilities[{glibc}].cveID: \"CVE-2023-491\" is not a CVE id (CVE-YYYY-NNNN)"
            )
        );
        assert_eq!(parse_kev(b"[]").unwrap_err().entry, "KEV");
        // No count and no release date are fine; an empty due date is none.
        let kev = parse_kev(&kev_with(|d| {
            let o = d.as_object_mut().unwrap();
            o.remove("count");
            o.remove("dateReleased");
            d["vulnerabilities"][0]["dueDate"] = json!("");
        }))
        .unwrap();
        assert_eq!((kev.count, kev.date_released_at), (None, None));
        assert_eq!(kev.vulnerabilities[0].due_date, None);
    }
}

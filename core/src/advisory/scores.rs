//! Scores: qualitative severity levels, CVSS vectors of every version
//! (v2.0, v3.0, v3.1, v4.0) with their base scores and levels, and how an
//! OSV `severity` entry's vector is read and checked against its type
//! (see "CVSS" in the [`crate::advisory`] documentation).

use serde::{Deserialize, Serialize};

/// A qualitative severity level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityLevel {
    /// Ubuntu's `negligible`; CVSS's `None` (a score of 0.0).
    Negligible,
    /// Low.
    Low,
    /// Medium (Ubuntu, CVSS); Red Hat's and Alma's "Moderate".
    Medium,
    /// High (Ubuntu, CVSS); Red Hat's "Important".
    High,
    /// Critical.
    Critical,
}

impl SeverityLevel {
    /// The level's lower-case name, as Ubuntu spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLevel::Negligible => "negligible",
            SeverityLevel::Low => "low",
            SeverityLevel::Medium => "medium",
            SeverityLevel::High => "high",
            SeverityLevel::Critical => "critical",
        }
    }

    /// Reads an Ubuntu priority (`negligible`, `low`, `medium`, `high`,
    /// `critical`, any case). `untriaged` and anything else is no level.
    pub fn from_ubuntu(priority: &str) -> Option<Self> {
        [
            SeverityLevel::Negligible,
            SeverityLevel::Low,
            SeverityLevel::Medium,
            SeverityLevel::High,
            SeverityLevel::Critical,
        ]
        .into_iter()
        .find(|level| priority.trim().eq_ignore_ascii_case(level.as_str()))
    }
}

/// One entry of a `severity` list: a scoring method and its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, or another method.
    #[serde(rename = "type")]
    pub kind: String,
    /// A CVSS vector, or the method's own score (`high` for Ubuntu).
    pub score: String,
}

/// A CVSS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CvssVersion {
    /// CVSS v2.0 (vectors without a `CVSS:` prefix).
    #[serde(rename = "2.0")]
    V2_0,
    /// CVSS v3.0.
    #[serde(rename = "3.0")]
    V3_0,
    /// CVSS v3.1.
    #[serde(rename = "3.1")]
    V3_1,
    /// CVSS v4.0.
    #[serde(rename = "4.0")]
    V4_0,
}

impl CvssVersion {
    /// The version as written in vectors: `2.0`, `3.0`, `3.1`, `4.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2_0 => "2.0",
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
            CvssVersion::V4_0 => "4.0",
        }
    }

    /// The OSV severity type for this version: `CVSS_V2`, `CVSS_V3`, `CVSS_V4`.
    pub fn osv_type(self) -> &'static str {
        match self {
            CvssVersion::V2_0 => "CVSS_V2",
            CvssVersion::V3_0 | CvssVersion::V3_1 => "CVSS_V3",
            CvssVersion::V4_0 => "CVSS_V4",
        }
    }
}

/// A parsed CVSS vector and its base score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// The vector as the advisory gives it.
    pub vector: String,
    /// The base score, 0.0 to 10.0 with one decimal.
    pub score: f64,
    /// The CVSS version of the vector.
    pub version: CvssVersion,
}

impl Cvss {
    /// Parses a CVSS v2, v3.0, v3.1 or v4.0 vector and computes its score.
    /// Refuses vectors that lack a base metric.
    pub fn parse(vector: &str) -> Result<Cvss, String> {
        let parsed: cvss::Cvss = vector.parse().map_err(|e| format!("{e}"))?;
        let version = match &parsed {
            cvss::Cvss::CvssV20(_) => CvssVersion::V2_0,
            cvss::Cvss::CvssV30(v) | cvss::Cvss::CvssV31(v) => {
                // The crate's v3 parser accepts vectors with base metrics
                // missing and scores them as if they were zero.
                let complete = v.av.is_some()
                    && v.ac.is_some()
                    && v.pr.is_some()
                    && v.ui.is_some()
                    && v.s.is_some()
                    && v.c.is_some()
                    && v.i.is_some()
                    && v.a.is_some();
                if !complete {
                    return Err("lacks a base metric (AV, AC, PR, UI, S, C, I, A)".into());
                }
                if matches!(parsed, cvss::Cvss::CvssV30(_)) {
                    CvssVersion::V3_0
                } else {
                    CvssVersion::V3_1
                }
            }
            cvss::Cvss::CvssV40(_) => CvssVersion::V4_0,
            _ => return Err("unsupported CVSS version".into()),
        };
        let score = (parsed.score().clamp(0.0, 10.0) * 10.0).round() / 10.0;
        Ok(Cvss {
            vector: vector.to_owned(),
            score,
            version,
        })
    }

    /// The qualitative level of the score: for v3 and v4, 0.0 negligible
    /// (CVSS's "None"), up to 3.9 low, 6.9 medium, 8.9 high, then critical;
    /// v2 knows no critical and calls 7.0 and above high.
    pub fn level(&self) -> SeverityLevel {
        let s = self.score;
        if self.version == CvssVersion::V2_0 {
            return if s < 4.0 {
                SeverityLevel::Low
            } else if s < 7.0 {
                SeverityLevel::Medium
            } else {
                SeverityLevel::High
            };
        }
        if s < 0.1 {
            SeverityLevel::Negligible
        } else if s < 4.0 {
            SeverityLevel::Low
        } else if s < 7.0 {
            SeverityLevel::Medium
        } else if s < 9.0 {
            SeverityLevel::High
        } else {
            SeverityLevel::Critical
        }
    }
}

/// The CVSS version an OSV severity type announces, if it is a CVSS type.
fn cvss_type(kind: &str) -> Option<&'static [CvssVersion]> {
    match kind {
        "CVSS_V2" => Some(&[CvssVersion::V2_0]),
        "CVSS_V3" => Some(&[CvssVersion::V3_0, CvssVersion::V3_1]),
        "CVSS_V4" => Some(&[CvssVersion::V4_0]),
        _ => None,
    }
}

/// Parses a severity entry's vector if its type is a CVSS type: `None` for
/// other types, an error if the vector is bad or of another version.
pub(super) fn severity_cvss(severity: &Severity) -> Option<Result<Cvss, String>> {
    let versions = cvss_type(&severity.kind)?;
    Some(Cvss::parse(&severity.score).and_then(|cvss| {
        if versions.contains(&cvss.version) {
            Ok(cvss)
        } else {
            Err(format!(
                "it is a CVSS {} vector, not {}",
                cvss.version.as_str(),
                severity.kind
            ))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::{DSA, record_with};
    use crate::advisory::parse_osv;
    use serde_json::json;

    #[test]
    fn cvss_vectors_of_every_version_are_scored() {
        for (vector, version, score, level) in [
            (
                "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                CvssVersion::V2_0,
                7.5,
                SeverityLevel::High,
            ),
            (
                "AV:L/AC:M/Au:N/C:N/I:P/A:C",
                CvssVersion::V2_0,
                5.4,
                SeverityLevel::Medium,
            ),
            (
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                CvssVersion::V3_0,
                9.8,
                SeverityLevel::Critical,
            ),
            (
                "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
                CvssVersion::V3_1,
                8.1,
                SeverityLevel::High,
            ),
            (
                "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:N",
                CvssVersion::V3_1,
                0.0,
                SeverityLevel::Negligible,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                9.3,
                SeverityLevel::Critical,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                8.5,
                SeverityLevel::High,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                8.7,
                SeverityLevel::High,
            ),
        ] {
            let cvss = Cvss::parse(vector).unwrap();
            assert_eq!(
                (cvss.version, cvss.score, cvss.level()),
                (version, score, level),
                "{vector}"
            );
        }
        for bad in [
            "",
            "CVSS:3.1/AV:N/AC:L",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Q",
            "CVSS:5.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L",
            "AV:N/AC:L",
        ] {
            assert!(Cvss::parse(bad).is_err(), "{bad}");
        }
        // Mixed severity lists: the highest version, then the highest score.
        let a = parse_osv(&record_with(DSA, |d| {
            d["severity"] = json!([
                {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
                {"type": "Ubuntu", "score": "untriaged"}
            ]);
            d["affected"][0]["severity"] = json!([
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}
            ]);
        }))
        .unwrap();
        let cvss = a.cvss().unwrap();
        assert_eq!((cvss.version, cvss.score), (CvssVersion::V3_1, 7.5));
        assert_eq!(a.ubuntu_priority(), None, "untriaged is no level");
        assert_eq!(a.severity_level(), Some(SeverityLevel::High));
    }

    #[test]
    fn ubuntu_priorities_map_to_levels() {
        assert_eq!(
            SeverityLevel::from_ubuntu("negligible"),
            Some(SeverityLevel::Negligible)
        );
        assert_eq!(
            SeverityLevel::from_ubuntu("Medium"),
            Some(SeverityLevel::Medium)
        );
        assert_eq!(
            SeverityLevel::from_ubuntu("critical"),
            Some(SeverityLevel::Critical)
        );
        assert_eq!(SeverityLevel::from_ubuntu("untriaged"), None);
        assert_eq!(SeverityLevel::from_ubuntu(""), None);
        assert!(SeverityLevel::Negligible < SeverityLevel::Low);
        assert!(SeverityLevel::High < SeverityLevel::Critical);
    }
}

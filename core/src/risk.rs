//! Risk priority: one number per patch on a server, from how severe the
//! fixed vulnerabilities are, whether they are known to be exploited, how
//! long the fix has been waiting and how critical the server is, with the
//! explanation people see next to it.

use serde::{Deserialize, Serialize};

/// What the score is made of.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskInput {
    /// Highest CVSS base score of the advisories the patch fixes.
    pub cvss: Option<f64>,
    /// Highest qualitative severity (critical, high, medium, low, none,
    /// unknown) when there is no CVSS score.
    pub severity: String,
    /// From a security origin, or fixes an advisory.
    pub security: bool,
    /// One of the CVEs is in the Known Exploited Vulnerabilities catalog.
    pub known_exploited: bool,
    /// Days since the patch was first seen missing.
    pub age_days: i64,
    /// The server is critical.
    pub critical_server: bool,
}

/// A patch's risk on a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Risk {
    /// 0 to 100.
    pub score: u8,
    /// critical (≥ 90), high (≥ 70), medium (≥ 40) or low.
    pub level: String,
    /// Why, e.g. "critical: CVSS 9.8, known exploited, on a critical
    /// server, 21 days old".
    pub explanation: String,
}

/// Points for a qualitative severity when no CVSS score is known.
fn severity_points(severity: &str, security: bool) -> f64 {
    match severity {
        "critical" => 95.0,
        "high" => 80.0,
        "medium" => 55.0,
        "low" => 30.0,
        "negligible" | "none" => 5.0,
        // A security update without a rated advisory still matters.
        _ if security => 50.0,
        _ => 10.0,
    }
}

/// The score: severity (CVSS × 10 or the points for the qualitative level,
/// whichever is higher) plus 20 when known exploited, plus 10 on a critical server, plus 5 after
/// 30 days and 10 after 90 days missing; at most 100.
pub fn assess(input: &RiskInput) -> Risk {
    // The rating counts as much as the CVSS score: a distribution that
    // rates a flaw higher than its CVSS base score knows its build.
    let points = severity_points(&input.severity, input.security);
    let base = match input.cvss {
        Some(score) => (score.clamp(0.0, 10.0) * 10.0).max(points),
        None => points,
    };
    let rated_higher = input.cvss.is_some_and(|score| points > score * 10.0);
    let exploited = if input.known_exploited { 20.0 } else { 0.0 };
    let critical = if input.critical_server { 10.0 } else { 0.0 };
    let age = match input.age_days {
        d if d >= 90 => 10.0,
        d if d >= 30 => 5.0,
        _ => 0.0,
    };
    let score = (base + exploited + critical + age)
        .round()
        .clamp(0.0, 100.0) as u8;
    let level = match score {
        90.. => "critical",
        70..=89 => "high",
        40..=69 => "medium",
        _ => "low",
    };
    let mut reasons = Vec::new();
    match input.cvss {
        Some(score) if rated_higher => {
            reasons.push(format!("{} severity, CVSS {score:.1}", input.severity))
        }
        Some(score) => reasons.push(format!("CVSS {score:.1}")),
        None if !input.severity.is_empty() && input.severity != "unknown" => {
            reasons.push(format!("{} severity", input.severity))
        }
        None if input.security => reasons.push("security update, not rated".to_owned()),
        None => reasons.push("not a security update".to_owned()),
    }
    if input.known_exploited {
        reasons.push("known exploited".to_owned());
    }
    if input.critical_server {
        reasons.push("on a critical server".to_owned());
    }
    reasons.push(match input.age_days {
        0 => "new today".to_owned(),
        1 => "1 day old".to_owned(),
        d => format!("{d} days old"),
    });
    Risk {
        score,
        level: level.to_owned(),
        explanation: format!("{level}: {}", reasons.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_reads_as_promised() {
        let risk = assess(&RiskInput {
            cvss: Some(9.8),
            severity: "critical".into(),
            security: true,
            known_exploited: true,
            age_days: 21,
            critical_server: true,
        });
        assert_eq!(risk.score, 100);
        assert_eq!(risk.level, "critical");
        assert_eq!(
            risk.explanation,
            "critical: CVSS 9.8, known exploited, on a critical server, 21 days old"
        );
    }

    #[test]
    fn each_factor_raises_the_score() {
        let base = RiskInput {
            cvss: Some(5.0),
            security: true,
            ..Default::default()
        };
        let score = |i: &RiskInput| assess(i).score;
        assert_eq!(score(&base), 50);
        assert_eq!(
            score(&RiskInput {
                known_exploited: true,
                ..base.clone()
            }),
            70
        );
        assert_eq!(
            score(&RiskInput {
                critical_server: true,
                ..base.clone()
            }),
            60
        );
        assert_eq!(
            score(&RiskInput {
                age_days: 30,
                ..base.clone()
            }),
            55
        );
        assert_eq!(
            score(&RiskInput {
                age_days: 90,
                ..base.clone()
            }),
            60
        );
        assert_eq!(
            score(&RiskInput {
                cvss: Some(10.0),
                known_exploited: true,
                critical_server: true,
                age_days: 400,
                ..base.clone()
            }),
            100,
            "capped"
        );
    }

    #[test]
    fn without_a_score_the_severity_or_the_security_origin_counts() {
        let of = |severity: &str, security: bool| {
            assess(&RiskInput {
                severity: severity.into(),
                security,
                ..Default::default()
            })
        };
        assert_eq!(of("high", true).score, 80);
        assert_eq!(
            of("high", true).explanation,
            "high: high severity, new today"
        );
        let unrated = of("unknown", true);
        assert_eq!((unrated.score, unrated.level.as_str()), (50, "medium"));
        assert!(unrated.explanation.contains("security update, not rated"));
        let plain = of("", false);
        assert_eq!((plain.score, plain.level.as_str()), (10, "low"));
        assert!(plain.explanation.contains("not a security update"));
    }

    #[test]
    fn a_rating_above_the_cvss_score_counts() {
        // Ubuntu rates Looney Tunables high; its CVSS base score is 7.8.
        let risk = assess(&RiskInput {
            cvss: Some(7.8),
            severity: "high".into(),
            security: true,
            known_exploited: true,
            ..Default::default()
        });
        assert_eq!(risk.score, 100);
        assert_eq!(
            risk.explanation,
            "critical: high severity, CVSS 7.8, known exploited, new today"
        );
        // A CVSS score above the rating counts as itself.
        let risk = assess(&RiskInput {
            cvss: Some(9.1),
            severity: "high".into(),
            security: true,
            ..Default::default()
        });
        assert_eq!(
            (risk.score, risk.explanation.as_str()),
            (91, "critical: CVSS 9.1, new today")
        );
    }
}

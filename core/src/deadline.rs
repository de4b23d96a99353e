//! How long owners may take to reboot a patched server, by the severity of
//! what was installed, and how often they may move a booked reboot.

use serde::{Deserialize, Serialize};

/// The admins' rules for reboots owners must book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootRules {
    /// Days to reboot after a critical patch.
    pub critical_days: i64,
    /// … after a high one.
    pub high_days: i64,
    /// … after a medium one.
    pub medium_days: i64,
    /// … after anything else.
    pub low_days: i64,
    /// How many times a booked reboot may be moved (or cancelled and
    /// booked again).
    pub max_deferrals: i64,
}

impl Default for RebootRules {
    fn default() -> Self {
        Self {
            critical_days: 3,
            high_days: 7,
            medium_days: 14,
            low_days: 30,
            max_deferrals: 2,
        }
    }
}

impl RebootRules {
    /// Checks the rules; the error names the field and says why.
    pub fn validated(self) -> Result<Self, (&'static str, String)> {
        for (field, days) in [
            ("critical_days", self.critical_days),
            ("high_days", self.high_days),
            ("medium_days", self.medium_days),
            ("low_days", self.low_days),
        ] {
            if !(1..=90).contains(&days) {
                return Err((field, format!("{days} days is outside 1 to 90")));
            }
        }
        if !(0..=10).contains(&self.max_deferrals) {
            return Err((
                "max_deferrals",
                format!("{} deferrals is outside 0 to 10", self.max_deferrals),
            ));
        }
        Ok(self)
    }

    /// Days allowed after patches of this severity rank
    /// (see `rollout::severity_rank`).
    pub fn days_for(&self, severity_rank: i64) -> i64 {
        match severity_rank {
            5.. => self.critical_days,
            4 => self.high_days,
            3 => self.medium_days,
            _ => self.low_days,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::severity_rank;

    #[test]
    fn deadlines_follow_the_worst_severity() {
        let r = RebootRules::default();
        assert_eq!(r.days_for(severity_rank("critical")), 3);
        assert_eq!(r.days_for(severity_rank("high")), 7);
        assert_eq!(r.days_for(severity_rank("medium")), 14);
        assert_eq!(r.days_for(severity_rank("")), 30);
    }

    #[test]
    fn out_of_range_rules_are_refused_by_field() {
        let bad = RebootRules {
            high_days: 0,
            ..Default::default()
        };
        assert_eq!(bad.validated().unwrap_err().0, "high_days");
        let bad = RebootRules {
            max_deferrals: 11,
            ..Default::default()
        };
        assert_eq!(bad.validated().unwrap_err().0, "max_deferrals");
        assert!(RebootRules::default().validated().is_ok());
    }
}

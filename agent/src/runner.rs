//! The check-in loop: send the report's digest, the full report only when it
//! changed or the portal asks; spool what could not be sent; back off while
//! the portal is unreachable; never more than one check-in at a time.

use crate::client::{Client, ClientError};
use crate::config::Config;
use patchport_core::protocol::{CheckInRequest, Report};
use std::path::PathBuf;
use std::time::Duration;

/// Persistent state between check-ins.
pub struct Runner {
    client: Client,
    credential: String,
    state_dir: PathBuf,
}

impl Runner {
    /// A runner for `config`.
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        Ok(Self {
            client: Client::from_config(config)?,
            credential: config.credential.clone(),
            state_dir: config.state_dir.clone(),
        })
    }

    fn sent_path(&self) -> PathBuf {
        self.state_dir.join("last-sent-digest")
    }

    /// Where a report that could not be delivered waits.
    pub fn spool_path(&self) -> PathBuf {
        self.state_dir.join("spool").join("report.json")
    }

    fn last_sent(&self) -> Option<String> {
        std::fs::read_to_string(self.sent_path())
            .ok()
            .map(|s| s.trim().to_owned())
    }

    fn write_file(&self, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, path)
    }

    /// One check-in with `report`. On failure the report is spooled; the
    /// next successful check-in delivers the newest report and clears it.
    pub fn check_in(&self, mut report: Report) -> Result<u64, ClientError> {
        report.normalise();
        let digest = report.digest();
        let result = self.deliver(&digest, &report);
        match &result {
            Ok(_) => {
                let _ = std::fs::remove_file(self.spool_path());
                if let Err(e) = self.write_file(&self.sent_path(), digest.as_bytes()) {
                    tracing::warn!(error = %e, "could not record the sent digest; the next check-in sends the full report");
                }
            }
            Err(e) if e.is_transient() => {
                let json = serde_json::to_vec(&report).unwrap_or_default();
                match self.write_file(&self.spool_path(), &json) {
                    Ok(()) => {
                        tracing::warn!(error = %e, spool = %self.spool_path().display(), "check-in failed; report spooled")
                    }
                    Err(io) => {
                        tracing::error!(error = %e, spool_error = %io, "check-in failed and the report could not be spooled")
                    }
                }
            }
            Err(_) => {}
        }
        result
    }

    fn deliver(&self, digest: &str, report: &Report) -> Result<u64, ClientError> {
        let spooled = self.spool_path().exists();
        if !spooled && self.last_sent().as_deref() == Some(digest) {
            let answer = self.client.check_in(
                &self.credential,
                &CheckInRequest {
                    digest: digest.to_owned(),
                    report: None,
                },
            )?;
            if !answer.send_report {
                return Ok(answer.next_check_in);
            }
        }
        let full = CheckInRequest {
            digest: digest.to_owned(),
            report: Some(report.clone()),
        };
        Ok(self.client.check_in(&self.credential, &full)?.next_check_in)
    }

    /// Collects and checks in forever: after a success, waits the interval
    /// the portal asked for (±10 %); after a transient failure, backs off
    /// exponentially from 30 s to 1 h (±10 %). Stops on a refused credential.
    pub fn run(&self, collect: impl Fn() -> Result<Report, String>) -> Result<(), ClientError> {
        let mut failures: u32 = 0;
        loop {
            let wait = match collect() {
                Err(e) => {
                    tracing::error!(error = %e, "could not collect the report");
                    failures += 1;
                    backoff(failures)
                }
                Ok(report) => match self.check_in(report) {
                    Ok(next) => {
                        failures = 0;
                        Duration::from_secs(next.clamp(30, 86_400))
                    }
                    Err(e) if e.is_transient() => {
                        failures += 1;
                        backoff(failures)
                    }
                    Err(e) => return Err(e),
                },
            };
            std::thread::sleep(jitter(wait));
        }
    }
}

/// 30 s × 2^(n−1), at most an hour.
pub fn backoff(failures: u32) -> Duration {
    let secs = 30u64.saturating_mul(1 << failures.saturating_sub(1).min(7));
    Duration::from_secs(secs.min(3600))
}

/// ±10 % so that a fleet started together does not check in together.
pub fn jitter(d: Duration) -> Duration {
    use rand::Rng;
    let factor = rand::thread_rng().gen_range(0.9..1.1);
    d.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_an_hour() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(300)).as_secs_f64();
            assert!((270.0..=330.0).contains(&j), "{j}");
        }
    }
}

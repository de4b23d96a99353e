//! The check-in loop: send the report's digest, the full report only when it
//! changed or the portal asks; run the jobs the portal leases to us and
//! report their results; spool what could not be sent; back off while the
//! portal is unreachable; never more than one check-in at a time.

use crate::client::{Client, ClientError};
use crate::config::Config;
use crate::jobs::System;
use patchport_core::protocol::{CheckInRequest, JobOrder, JobOutcome, JobResult, JobSpec, Report};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Persistent state between check-ins.
pub struct Runner {
    client: Client,
    /// The credential in use (replaced when the portal rotates it).
    credential: std::sync::Mutex<String>,
    state_dir: PathBuf,
    /// The configuration and where it lives, to store a rotated credential.
    config: Config,
    config_path: Option<PathBuf>,
}

/// What a check-in brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Seconds until the next check-in.
    pub next_check_in: u64,
    /// Jobs leased to us.
    pub jobs: Vec<JobOrder>,
}

/// A job result waiting to be delivered.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct PendingResult {
    job_id: i64,
    result: JobResult,
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cycle {
    /// Nothing to run: check in again after this many seconds.
    Idle(u64),
    /// Jobs ran: scan and report again now.
    RanJobs,
    /// A reboot was issued: the machine is going down.
    Rebooting,
}

impl Runner {
    /// A runner for `config`.
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        Ok(Self {
            client: Client::from_config(config)?,
            credential: std::sync::Mutex::new(config.credential.clone()),
            state_dir: config.state_dir.clone(),
            config: config.clone(),
            config_path: None,
        })
    }

    /// Stores rotated credentials in the configuration file at `path`.
    pub fn with_config_path(mut self, path: &Path) -> Self {
        self.config_path = Some(path.to_owned());
        self
    }

    /// The credential in use.
    pub fn credential(&self) -> String {
        self.credential
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Takes a rotated credential: stored in the configuration first (so a
    /// restart keeps it), then used. If it cannot be stored, the old one
    /// stays in use; it keeps working, and the portal offers a new one
    /// at the next check-in.
    fn adopt(&self, new_credential: &str) {
        if let Some(path) = &self.config_path {
            let config = Config {
                credential: new_credential.to_owned(),
                ..self.config.clone()
            };
            if let Err(e) = config.save(path) {
                tracing::error!(error = %e, "could not store the rotated credential; keeping the old one");
                return;
            }
        }
        if let Ok(mut c) = self.credential.lock() {
            *c = new_credential.to_owned();
        }
        tracing::info!("switched to a rotated credential");
    }

    fn sent_path(&self) -> PathBuf {
        self.state_dir.join("last-sent-digest")
    }

    /// Where a report that could not be delivered waits.
    pub fn spool_path(&self) -> PathBuf {
        self.state_dir.join("spool").join("report.json")
    }

    /// Where job results wait until the portal has them.
    pub fn results_dir(&self) -> PathBuf {
        self.state_dir.join("spool").join("results")
    }

    /// Names the job being run, so that an agent killed in the middle
    /// reports the interrupted attempt when it starts again.
    fn running_path(&self) -> PathBuf {
        self.state_dir.join("running-job.json")
    }

    fn last_sent(&self) -> Option<String> {
        std::fs::read_to_string(self.sent_path())
            .ok()
            .map(|s| s.trim().to_owned())
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // Written to a temporary file, flushed to the disk, renamed over
        // the old one and the directory entry flushed too: a power cut
        // leaves either the old file or the new one, never a torn one.
        let tmp = path.with_extension("tmp");
        {
            use std::io::Write;
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// One check-in with `report`. On failure the report is spooled; the
    /// next successful check-in delivers the newest report and clears it.
    pub fn check_in(&self, mut report: Report) -> Result<Answer, ClientError> {
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

    fn deliver(&self, digest: &str, report: &Report) -> Result<Answer, ClientError> {
        let spooled = self.spool_path().exists();
        if !spooled && self.last_sent().as_deref() == Some(digest) {
            let answer = self.client.check_in(
                &self.credential(),
                &CheckInRequest {
                    digest: digest.to_owned(),
                    report: None,
                },
            )?;
            if let Some(c) = &answer.new_credential {
                self.adopt(c);
            }
            if !answer.send_report {
                return Ok(Answer {
                    next_check_in: answer.next_check_in,
                    jobs: answer.jobs,
                });
            }
        }
        let full = CheckInRequest {
            digest: digest.to_owned(),
            report: Some(report.clone()),
        };
        let answer = self.client.check_in(&self.credential(), &full)?;
        if let Some(c) = &answer.new_credential {
            self.adopt(c);
        }
        Ok(Answer {
            next_check_in: answer.next_check_in,
            jobs: answer.jobs,
        })
    }

    fn result_path(&self, job_id: i64, attempt: i64) -> PathBuf {
        self.results_dir().join(format!("{job_id}-{attempt}.json"))
    }

    /// Writes a job result to the spool; the job no longer counts as
    /// running once its result is safe on disk.
    fn spool_result(&self, job_id: i64, result: JobResult) -> Result<(), ClientError> {
        let path = self.result_path(job_id, result.attempt);
        let pending = PendingResult { job_id, result };
        let json = serde_json::to_vec(&pending).unwrap_or_default();
        let spooled = self.write_file(&path, &json);
        let _ = std::fs::remove_file(self.running_path());
        if let Err(e) = spooled {
            tracing::error!(error = %e, job_id, "could not spool the job result; sending it directly");
            return self
                .client
                .job_result(&self.credential(), job_id, &pending.result);
        }
        Ok(())
    }

    /// Spools a job result, then tries to deliver everything spooled. A
    /// result is only dropped once the portal has it, or says it will never
    /// take it (an attempt no longer current, a job gone).
    pub fn report_result(&self, job_id: i64, result: JobResult) -> Result<(), ClientError> {
        self.spool_result(job_id, result)?;
        self.flush_results()
    }

    /// Delivers spooled job results (after reporting a job this agent was
    /// interrupted in as failed). Stops at the first transient failure.
    pub fn flush_results(&self) -> Result<(), ClientError> {
        if let Ok(bytes) = std::fs::read(self.running_path())
            && let Ok(job) = serde_json::from_slice::<JobOrder>(&bytes)
            && !self.result_path(job.id, job.attempt).exists()
        {
            tracing::warn!(
                job_id = job.id,
                "the agent stopped while running a job; reporting it as failed"
            );
            let result = JobResult {
                attempt: job.attempt,
                outcome: JobOutcome::Failed,
                exit_code: None,
                log: "patchport-agent stopped while this job was running (killed or the machine went down); \
                      the package manager may have run in part: see its own log\n"
                    .into(),
            };
            self.spool_result(job.id, result)?;
        }
        let _ = std::fs::remove_file(self.running_path());
        let Ok(entries) = std::fs::read_dir(self.results_dir()) else {
            return Ok(());
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for path in files {
            let Ok(pending) = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    serde_json::from_slice::<PendingResult>(&b).map_err(|e| e.to_string())
                })
            else {
                tracing::error!(path = %path.display(), "unreadable spooled job result; removed");
                let _ = std::fs::remove_file(&path);
                continue;
            };
            match self
                .client
                .job_result(&self.credential(), pending.job_id, &pending.result)
            {
                Ok(()) => {}
                Err(ClientError::Refused { status, message }) if status == 404 || status == 409 => {
                    tracing::warn!(job_id = pending.job_id, status, %message, "the portal will not take this result; dropped");
                }
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => {
                    tracing::error!(job_id = pending.job_id, error = %e, "job result refused; dropped");
                    if matches!(e, ClientError::Unauthorized) {
                        return Err(e);
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        Ok(())
    }

    /// Runs leased jobs in order. Returns what happened.
    pub fn run_jobs(&self, jobs: &[JobOrder], system: &dyn System, report: &Report) -> Cycle {
        if jobs.is_empty() {
            return Cycle::Idle(0);
        }
        for job in jobs {
            tracing::info!(
                job_id = job.id,
                attempt = job.attempt,
                kind = job.spec.kind(),
                "running job"
            );
            let marker = serde_json::to_vec(job).unwrap_or_default();
            if let Err(e) = self.write_file(&self.running_path(), &marker) {
                tracing::warn!(error = %e, "could not record the running job");
            }
            if job.spec == JobSpec::Reboot {
                // The result must be safe on disk before the machine goes
                // down; the portal confirms the reboot by the new boot id.
                let going = JobResult {
                    attempt: job.attempt,
                    outcome: JobOutcome::Rebooting,
                    exit_code: None,
                    log: format!("reboot issued from boot {}\n", report.boot_id),
                };
                let _ = self.report_result(job.id, going);
                match crate::jobs::reboot(system, job) {
                    Ok(()) => return Cycle::Rebooting,
                    Err(failed) => {
                        tracing::error!(job_id = job.id, "reboot failed");
                        let _ = self.report_result(job.id, failed);
                    }
                }
                continue;
            }
            let result = crate::jobs::run(
                system,
                job,
                report.package_format,
                &report.arch,
                self.config.packages.root(),
            );
            tracing::info!(job_id = job.id, outcome = ?result.outcome, exit_code = ?result.exit_code, "job done");
            if let Err(e) = self.report_result(job.id, result) {
                tracing::warn!(error = %e, "job result spooled until the portal is reachable");
            }
        }
        Cycle::RanJobs
    }

    /// One cycle: deliver spooled results, scan, check in, run the jobs
    /// handed out.
    pub fn cycle(
        &self,
        collect: &dyn Fn() -> Result<Report, String>,
        system: &dyn System,
    ) -> Result<Cycle, CycleError> {
        if let Err(e) = self.flush_results()
            && !e.is_transient()
        {
            return Err(CycleError::Portal(e));
        }
        let report = collect().map_err(CycleError::Scan)?;
        let answer = self.check_in(report.clone()).map_err(CycleError::Portal)?;
        match self.run_jobs(&answer.jobs, system, &report) {
            Cycle::Idle(_) => Ok(Cycle::Idle(answer.next_check_in)),
            other => Ok(other),
        }
    }

    /// Cycles until no more jobs come (at most `max` cycles): `run --once`.
    pub fn once(
        &self,
        collect: &dyn Fn() -> Result<Report, String>,
        system: &dyn System,
        max: usize,
    ) -> Result<Cycle, CycleError> {
        let mut last = Cycle::Idle(0);
        for _ in 0..max.max(1) {
            last = self.cycle(collect, system)?;
            if last != Cycle::RanJobs {
                break;
            }
        }
        Ok(last)
    }

    /// Cycles forever: after an idle check-in, waits the interval the portal
    /// asked for (±10 %); after jobs, scans again at once; after a transient
    /// failure, backs off exponentially from 30 s to 1 h (±10 %). Stops on
    /// a refused credential.
    pub fn run(
        &self,
        collect: &dyn Fn() -> Result<Report, String>,
        system: &dyn System,
    ) -> Result<(), ClientError> {
        let mut failures: u32 = 0;
        loop {
            let wait = match self.cycle(collect, system) {
                Ok(Cycle::Idle(next)) => {
                    failures = 0;
                    jitter(Duration::from_secs(next.clamp(30, 86_400)))
                }
                Ok(Cycle::RanJobs) => {
                    failures = 0;
                    Duration::from_secs(1)
                }
                Ok(Cycle::Rebooting) => Duration::from_secs(120),
                Err(CycleError::Scan(e)) => {
                    tracing::error!(error = %e, "could not collect the report");
                    failures += 1;
                    jitter(backoff(failures))
                }
                Err(CycleError::Portal(e)) if e.is_transient() => {
                    failures += 1;
                    jitter(backoff(failures))
                }
                Err(CycleError::Portal(e)) => return Err(e),
            };
            std::thread::sleep(wait);
        }
    }
}

/// Why a cycle stopped.
#[derive(Debug, thiserror::Error)]
pub enum CycleError {
    /// Scanning the machine failed.
    #[error("scan failed: {0}")]
    Scan(String),
    /// Talking to the portal failed.
    #[error(transparent)]
    Portal(#[from] ClientError),
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

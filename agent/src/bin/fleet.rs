//! `patchport-fleet`: runs many virtual agents against a portal, through the
//! real agent's client code, and measures how many check-ins it absorbs.
//!
//! ```sh
//! TOKEN=$(patchport token create --uses 1000)
//! patchport-fleet --url http://127.0.0.1:3000 --token "$TOKEN" --agents 1000
//! ```
//!
//! With `--simulate FILE` it instead keeps the demo's simulated servers
//! (written by `patchport demo`) checking in, running the jobs they are
//! given as a real server would (installs change versions, reboots change
//! the boot id).

use clap::Parser;
use patchport_agent::client::Client;
use patchport_agent::fleet::{self, Shape, VirtualAgent};
use patchport_core::protocol::Report;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Simulated fleet and check-in benchmark.
#[derive(Debug, Parser)]
#[command(name = "patchport-fleet", version)]
struct Args {
    /// The portal's URL.
    #[arg(long, required_unless_present = "simulate")]
    url: Option<String>,
    /// An enrolment token with at least --agents uses.
    #[arg(
        long,
        env = "PATCHPORT_ENROLL_TOKEN",
        required_unless_present = "simulate"
    )]
    token: Option<String>,
    /// Keep the demo fleet described in this file checking in.
    #[arg(long, value_name = "FILE")]
    simulate: Option<std::path::PathBuf>,
    /// Seconds between the simulated servers' check-ins.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Virtual agents to enrol.
    #[arg(long, default_value_t = 200)]
    agents: usize,
    /// Installed packages per server.
    #[arg(long, default_value_t = 1_500)]
    packages: usize,
    /// Updates per server.
    #[arg(long, default_value_t = 50)]
    updates: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Times every agent sends its full report in the first phase (the
    /// same report again: the portal must not grow from repeats).
    #[arg(long, default_value_t = 1)]
    full_rounds: usize,
    /// Unchanged check-ins per agent in the second phase.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Seed for the generated inventories.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Allow plain HTTP to a portal that is not on this machine.
    #[arg(long)]
    allow_http: bool,
    /// Release of the simulated servers: `debian` (Debian 12, apt) or
    /// `almalinux` (AlmaLinux 9, dnf; needs --catalog).
    #[arg(long, default_value = "debian")]
    os: String,
    /// For `--os almalinux`: a directory of AlmaLinux OSV advisories (e.g. a
    /// checkout of AlmaLinux/osv-database); the servers have older fixed
    /// versions of their packages installed and are offered the newest.
    #[arg(long, value_name = "DIR")]
    catalog: Option<std::path::PathBuf>,
    /// After the benchmark, keep checking in for this many seconds: every
    /// other check-in sends a changed report (a write), the others only
    /// the digest. Prints latency percentiles and every failure.
    #[arg(long, default_value_t = 0)]
    load_seconds: u64,
    /// After the benchmark, keep the fleet in its steady state for this
    /// many seconds: every agent checks in once per --interval, the
    /// check-ins spread evenly over the interval, as a real fleet does;
    /// jobs it gets are played and their results reported; a check-in or
    /// result that fails for a reason worth retrying is retried every
    /// second until it lands (or 60 s after the end, when it is lost).
    /// Prints the pace kept and every loss; fails on any loss and on any
    /// job the portal handed out twice.
    #[arg(long, default_value_t = 0)]
    pace_seconds: u64,
    /// With --pace-seconds: write what happened as JSON to this file
    /// (check-ins, retries, losses, and the id of every job run).
    #[arg(long, value_name = "FILE")]
    summary: Option<std::path::PathBuf>,
    /// With --load-seconds: also write each check-in as a line `start (ms
    /// since the Unix epoch) latency-ms ok|failed` to this file, so that a
    /// window (an import) can be looked at on its own.
    #[arg(long, value_name = "FILE")]
    latency_log: Option<std::path::PathBuf>,
}

/// Runs `work(i)` for i in 0..n on `threads` threads; returns the failures.
fn parallel(
    n: usize,
    threads: usize,
    work: impl Fn(usize) -> Result<(), String> + Sync,
) -> Vec<String> {
    let next = AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    if let Err(e) = work(i)
                        && let Ok(mut f) = failures.lock()
                    {
                        f.push(e);
                    }
                }
            });
        }
    });
    failures.into_inner().unwrap_or_default()
}

/// Keeps the demo fleet alive: every interval each server checks in; jobs
/// it gets are played, their results reported, and the new state reported.
fn simulate(file: &std::path::Path, interval: u64, seed: u64) -> Result<(), String> {
    use patchport_core::demo::DemoFleet;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let demo: DemoFleet =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let client = Client::new(&demo.url, None, false).map_err(|e| e.to_string())?;
    let shape = Shape {
        packages: 900,
        updates: 24,
        security_percent: 30,
    };
    let mut agents: Vec<(VirtualAgent, bool)> = demo
        .agents
        .iter()
        .map(|a| {
            let mut report = fleet::report(a.index, shape, seed);
            report.hostname = a.hostname.clone();
            (VirtualAgent::new(a.credential.clone(), report), a.silent)
        })
        .collect();
    let mut boots = fleet::Rng::new(seed ^ 0xB007);
    println!(
        "demo fleet: {} simulated servers, every {interval} s",
        agents.len()
    );
    let mut round = 0_u64;
    loop {
        for (agent, silent) in agents.iter_mut() {
            if *silent && round > 0 {
                continue;
            }
            // Jobs first, then their effect reported right away.
            for _ in 0..5 {
                let answer = match fleet::check_in(&client, agent) {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("{}: {e}", agent.report.hostname);
                        break;
                    }
                };
                if answer.jobs.is_empty() {
                    break;
                }
                for job in &answer.jobs {
                    let result = fleet::play(agent, job, &mut boots);
                    if let Err(e) = client.job_result(&agent.credential, job.id, &result) {
                        eprintln!("{}: job {}: {e}", agent.report.hostname, job.id);
                    }
                }
            }
        }
        round += 1;
        std::thread::sleep(std::time::Duration::from_secs(interval.max(1)));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(file) = &args.simulate {
        return match simulate(file, args.interval, args.seed) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        };
    }
    let (Some(url), Some(token)) = (args.url.clone(), args.token.clone()) else {
        return fail("--url and --token are required");
    };
    let client = match Client::new(&url, None, args.allow_http) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let shape = Shape {
        packages: args.packages,
        updates: args.updates,
        ..Default::default()
    };
    println!(
        "fleet: {} agents, {} packages and {} updates each, {} connections",
        args.agents, args.packages, args.updates, args.concurrency
    );

    let catalog = match catalog(&args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let report_of = |i: usize| match &catalog {
        Some(c) => fleet::report_rpm(i, shape, args.seed, c),
        None => fleet::report(i, shape, args.seed),
    };
    let enrolled = enroll_all(&client, &token, &args, report_of);
    if enrolled.is_empty() {
        return ExitCode::FAILURE;
    }

    // Encoded before the clock starts: real agents do this on their own
    // machines, not on the portal's.
    let encoded: Vec<fleet::Encoded> = enrolled.iter().map(fleet::encode).collect();
    for _ in 0..args.full_rounds.max(1) {
        full_reports(&client, &enrolled, &encoded, args.concurrency);
    }
    if !unchanged_check_ins(&client, &enrolled, &encoded, &args) {
        return ExitCode::FAILURE;
    }
    if args.pace_seconds > 0 {
        let paced = Paced::run(&client, enrolled, &args);
        return if paced.report(args.summary.as_deref()) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if args.load_seconds > 0
        && !load(
            &client,
            enrolled,
            args.concurrency,
            args.load_seconds,
            args.latency_log.as_deref(),
        )
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Prints `patchport-fleet: <message>` to standard error and fails.
fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("patchport-fleet: {message}");
    ExitCode::FAILURE
}

/// The package catalog `--os` asks for: none for Debian, AlmaLinux 9's
/// fixed versions (read from `--catalog`) for AlmaLinux.
fn catalog(args: &Args) -> Result<Option<fleet::RpmCatalog>, String> {
    match (args.os.as_str(), &args.catalog) {
        ("debian", _) => Ok(None),
        ("almalinux", Some(dir)) => {
            let c = fleet::RpmCatalog::from_osv_dir(dir, "AlmaLinux:9")?;
            println!(
                "catalog: {} AlmaLinux 9 packages with fixes",
                c.packages.len()
            );
            Ok(Some(c))
        }
        (os, _) => Err(format!(
            "--os {os}: expected debian, or almalinux with --catalog"
        )),
    }
}

/// Enrols `--agents` virtual agents with `token`, `report_of(i)` the
/// inventory of the i-th; prints how long it took and the first failure.
/// Returns the agents that enrolled.
fn enroll_all(
    client: &Client,
    token: &str,
    args: &Args,
    report_of: impl Fn(usize) -> Report + Sync,
) -> Vec<VirtualAgent> {
    let slots: Vec<Mutex<Option<VirtualAgent>>> =
        (0..args.agents).map(|_| Default::default()).collect();
    let started = Instant::now();
    let failed = parallel(args.agents, args.concurrency, |i| {
        let agent = fleet::enroll(client, token, report_of(i)).map_err(|e| e.to_string())?;
        *slots[i].lock().map_err(|e| e.to_string())? = Some(agent);
        Ok(())
    });
    let enrolled: Vec<VirtualAgent> = slots
        .into_iter()
        .filter_map(|s| s.into_inner().ok().flatten())
        .collect();
    println!(
        "enrolled {} agents in {:.1} s ({} failed)",
        enrolled.len(),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    if let Some(first) = failed.first() {
        eprintln!("first enrolment failure: {first}");
    }
    enrolled
}

/// Sends every agent's full report once and prints the rate.
fn full_reports(
    client: &Client,
    enrolled: &[VirtualAgent],
    encoded: &[fleet::Encoded],
    concurrency: usize,
) {
    let started = Instant::now();
    let failed = parallel(enrolled.len(), concurrency, |i| {
        fleet::send_full(client, &enrolled[i], &encoded[i]).map_err(|e| e.to_string())
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "full reports: {} in {secs:.2} s = {:.0}/s ({} failed)",
        enrolled.len(),
        enrolled.len() as f64 / secs,
        failed.len()
    );
}

/// Checks every agent in `--rounds` times with its digest only and prints
/// the rate; false (after printing the first failure) if any failed or
/// the portal asked for a report it already has.
fn unchanged_check_ins(
    client: &Client,
    enrolled: &[VirtualAgent],
    encoded: &[fleet::Encoded],
    args: &Args,
) -> bool {
    let total = enrolled.len() * args.rounds;
    let started = Instant::now();
    let failed = parallel(total, args.concurrency, |i| {
        let n = i % enrolled.len();
        match fleet::send_digest(client, &enrolled[n], &encoded[n]) {
            Ok(false) => Ok(()),
            Ok(true) => Err("portal asked for a report it already has".into()),
            Err(e) => Err(e.to_string()),
        }
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "unchanged check-ins: {total} in {secs:.2} s = {:.0}/s ({} failed)",
        total as f64 / secs,
        failed.len()
    );
    if let Some(first) = failed.first() {
        eprintln!("first failure: {first}");
        return false;
    }
    true
}

/// Checks in for `seconds`: every other check-in sends a changed report
/// (the server's reboot flag flips, so the portal writes), the others the
/// digest only. Prints the latencies and every failure; false if any.
fn load(
    client: &Client,
    agents: Vec<VirtualAgent>,
    threads: usize,
    seconds: u64,
    log: Option<&std::path::Path>,
) -> bool {
    let agents: Vec<Mutex<VirtualAgent>> = agents.into_iter().map(Mutex::new).collect();
    let next = AtomicUsize::new(0);
    let deadline = Instant::now() + std::time::Duration::from_secs(seconds);
    let tally = Tally::default();
    println!("load: {seconds} s of check-ins on {threads} connections, half of them writing");
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Ok(mut agent) = agents[i % agents.len()].lock() else {
                        continue;
                    };
                    tally.check_in(client, &mut agent, i.is_multiple_of(2), log.is_some());
                }
            });
        }
    });
    tally.finish(log)
}

/// What the load phase's threads collect.
#[derive(Default)]
struct Tally {
    /// Milliseconds each successful check-in took.
    latencies: Mutex<Vec<f64>>,
    /// Each failed check-in: when (Unix seconds), which server, why.
    failures: Mutex<Vec<String>>,
    /// With a latency log: `start-ms latency-ms ok|failed` per check-in.
    lines: Mutex<Vec<String>>,
}

impl Tally {
    /// Checks `agent` in once, with a changed report when `writes` (its
    /// reboot flag flipped) or else the digest only, and records how it
    /// went (a log line too when `logged`).
    fn check_in(&self, client: &Client, agent: &mut VirtualAgent, writes: bool, logged: bool) {
        if writes {
            agent.report.reboot_required = !agent.report.reboot_required;
        }
        let encoded = fleet::encode(agent);
        let at = unix_ms();
        let started = Instant::now();
        let result = if writes {
            fleet::send_full(client, agent, &encoded)
        } else {
            fleet::send_digest(client, agent, &encoded).map(|_| ())
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let now = at / 1000;
        if logged && let Ok(mut l) = self.lines.lock() {
            l.push(format!(
                "{at} {ms:.1} {}",
                if result.is_ok() { "ok" } else { "failed" }
            ));
        }
        match result {
            Ok(()) => self.latencies.lock().map(|mut l| l.push(ms)).unwrap_or(()),
            Err(e) => self
                .failures
                .lock()
                .map(|mut f| f.push(format!("{now}: {}: {e}", agent.report.hostname)))
                .unwrap_or(()),
        }
    }

    /// Writes the latency log (if asked for), prints the latency
    /// percentiles and every failure; false if any.
    fn finish(self, log: Option<&std::path::Path>) -> bool {
        let mut latencies = self.latencies.into_inner().unwrap_or_default();
        latencies.sort_by(f64::total_cmp);
        let at = |q| percentile(&latencies, q);
        let failures = self.failures.into_inner().unwrap_or_default();
        if let Some(path) = log {
            let mut text = self.lines.into_inner().unwrap_or_default().join("\n");
            text.push('\n');
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("patchport-fleet: {}: {e}", path.display());
            }
        }
        println!(
            "load: {} check-ins, {} failed; latency ms p50 {:.1}, p95 {:.1}, p99 {:.1}, max {:.1}",
            latencies.len() + failures.len(),
            failures.len(),
            at(0.5),
            at(0.95),
            at(0.99),
            latencies.last().copied().unwrap_or(0.0)
        );
        for f in &failures {
            eprintln!("failed: {f}");
        }
        failures.is_empty()
    }
}

/// Milliseconds since the Unix epoch, to line check-ins up with other logs.
fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The steady state of `--pace-seconds`: what happened, for the summary.
#[derive(Default, serde::Serialize)]
struct Paced {
    /// Agents checking in.
    agents: usize,
    /// Seconds between one agent's check-ins.
    interval: u64,
    /// Seconds the steady state lasted.
    seconds: f64,
    /// Check-ins that landed (a retried one counts once).
    check_ins: usize,
    /// Attempts that failed for a reason worth retrying and were retried.
    retries: usize,
    /// Check-ins and job results that never landed: `host: reason`.
    lost: Vec<String>,
    /// Every job run, by id, in the order run.
    jobs_run: Vec<i64>,
    /// Jobs the portal handed out again after their result was recorded.
    jobs_twice: Vec<i64>,
    /// Milliseconds each landed check-in took, retries included.
    #[serde(skip)]
    latencies: Vec<f64>,
}

impl Paced {
    /// Keeps `agents` checking in, each once per `--interval`, for
    /// `--pace-seconds` on `--concurrency` threads.
    fn run(client: &Client, agents: Vec<VirtualAgent>, args: &Args) -> Paced {
        let n = agents.len().max(1);
        let interval = std::time::Duration::from_secs(args.interval.max(1));
        let span = std::time::Duration::from_secs(args.pace_seconds);
        // Check-in k of agent i is due at start + (k·n + i)·interval/n.
        let slots = (args.pace_seconds as u128 * n as u128 / interval.as_secs() as u128) as usize;
        let gap = interval / n as u32;
        let agents: Vec<Mutex<(VirtualAgent, fleet::Rng)>> = agents
            .into_iter()
            .enumerate()
            .map(|(i, a)| Mutex::new((a, fleet::Rng::new(args.seed ^ i as u64 ^ 0xB007))))
            .collect();
        let done = Mutex::new(Paced {
            agents: agents.len(),
            interval: args.interval,
            ..Default::default()
        });
        let ran = Mutex::new(std::collections::HashSet::new());
        let next = AtomicUsize::new(0);
        println!(
            "pace: {} agents, each every {} s, for {} s ({slots} check-ins)",
            agents.len(),
            args.interval,
            args.pace_seconds
        );
        let started = Instant::now();
        let give_up = started + span + std::time::Duration::from_secs(60);
        std::thread::scope(|s| {
            for _ in 0..args.concurrency.max(1) {
                s.spawn(|| {
                    loop {
                        let slot = next.fetch_add(1, Ordering::Relaxed);
                        if slot >= slots || agents.is_empty() {
                            break;
                        }
                        let due = started + gap * slot as u32;
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let Ok(mut guard) = agents[slot % agents.len()].lock() else {
                            continue;
                        };
                        let (agent, boots) = &mut *guard;
                        let one = paced_check_in(client, agent, boots, &ran, give_up);
                        if let Ok(mut d) = done.lock() {
                            d.absorb(one);
                        }
                    }
                });
            }
        });
        let mut paced = done.into_inner().unwrap_or_default();
        paced.seconds = started.elapsed().as_secs_f64();
        paced
    }

    /// Adds one check-in's outcome.
    fn absorb(&mut self, one: OneCheckIn) {
        self.retries += one.retries;
        if let Some(ms) = one.landed_ms {
            self.check_ins += 1;
            self.latencies.push(ms);
        }
        self.lost.extend(one.lost);
        self.jobs_run.extend(one.jobs_run);
        self.jobs_twice.extend(one.jobs_twice);
    }

    /// Prints the pace kept, writes the summary (if asked) and every loss;
    /// false on a loss or a job handed out twice.
    fn report(mut self, summary: Option<&std::path::Path>) -> bool {
        self.latencies.sort_by(f64::total_cmp);
        let at = |q| percentile(&self.latencies, q);
        println!(
            "pace: {} check-ins in {:.0} s = {:.1}/s, {} retried, {} lost, {} jobs run; latency ms p50 {:.1}, p99 {:.1}",
            self.check_ins,
            self.seconds,
            self.check_ins as f64 / self.seconds.max(0.001),
            self.retries,
            self.lost.len(),
            self.jobs_run.len(),
            at(0.5),
            at(0.99)
        );
        if let Some(path) = summary {
            let text = serde_json::to_string_pretty(&self).unwrap_or_default();
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("patchport-fleet: {}: {e}", path.display());
                return false;
            }
        }
        for lost in &self.lost {
            eprintln!("lost: {lost}");
        }
        for job in &self.jobs_twice {
            eprintln!("job {job} was handed out again after its result was recorded");
        }
        self.lost.is_empty() && self.jobs_twice.is_empty()
    }
}

/// What one paced check-in did.
#[derive(Default)]
struct OneCheckIn {
    landed_ms: Option<f64>,
    retries: usize,
    lost: Vec<String>,
    jobs_run: Vec<i64>,
    jobs_twice: Vec<i64>,
}

/// Calls `call` until it succeeds, fails for good, or `give_up` passes;
/// counts the retries in `one`. Waits a second between attempts, as a
/// real agent backs off.
fn retried<T>(
    one: &mut OneCheckIn,
    give_up: Instant,
    mut call: impl FnMut() -> Result<T, patchport_agent::client::ClientError>,
) -> Result<T, String> {
    loop {
        match call() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && Instant::now() < give_up => {
                one.retries += 1;
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// One check-in of `agent` as the real agent makes it, retried until it
/// lands; then each job handed out is played and its result reported
/// (also retried), and a job whose result was already recorded is noted.
fn paced_check_in(
    client: &Client,
    agent: &mut VirtualAgent,
    boots: &mut fleet::Rng,
    ran: &Mutex<std::collections::HashSet<i64>>,
    give_up: Instant,
) -> OneCheckIn {
    let mut one = OneCheckIn::default();
    let host = agent.report.hostname.clone();
    let started = Instant::now();
    let answer = match retried(&mut one, give_up, || fleet::check_in(client, agent)) {
        Ok(a) => a,
        Err(e) => {
            one.lost.push(format!("{host}: check-in: {e}"));
            return one;
        }
    };
    one.landed_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    for job in &answer.jobs {
        let first = ran.lock().map(|mut r| r.insert(job.id)).unwrap_or(true);
        if !first {
            one.jobs_twice.push(job.id);
            continue;
        }
        let result = fleet::play(agent, job, boots);
        let credential = agent.credential.clone();
        match retried(&mut one, give_up, || {
            client.job_result(&credential, job.id, &result)
        }) {
            Ok(_) => one.jobs_run.push(job.id),
            Err(e) => one.lost.push(format!("{host}: job {} result: {e}", job.id)),
        }
    }
    one
}

/// The `q` quantile (0 to 1) of `sorted`, by nearest rank; 0 when empty.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

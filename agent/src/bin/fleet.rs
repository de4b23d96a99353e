//! `patchport-fleet`: runs many virtual agents against a portal, through the
//! real agent's client code, and measures how many check-ins it absorbs.
//!
//! ```sh
//! TOKEN=$(patchport token create --uses 1000)
//! patchport-fleet --url http://127.0.0.1:3000 --token "$TOKEN" --agents 1000
//! ```

use clap::Parser;
use patchport_agent::client::Client;
use patchport_agent::fleet::{self, Shape, VirtualAgent};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Simulated fleet and check-in benchmark.
#[derive(Debug, Parser)]
#[command(name = "patchport-fleet", version)]
struct Args {
    /// The portal's URL.
    #[arg(long)]
    url: String,
    /// An enrolment token with at least --agents uses.
    #[arg(long, env = "PATCHPORT_ENROLL_TOKEN")]
    token: String,
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
    /// Unchanged check-ins per agent in the second phase.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Seed for the generated inventories.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Allow plain HTTP to a portal that is not on this machine.
    #[arg(long)]
    allow_http: bool,
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

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let client = match Client::new(&args.url, None, args.allow_http) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("patchport-fleet: {e}");
            return std::process::ExitCode::FAILURE;
        }
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

    let slots: Vec<std::sync::Mutex<Option<VirtualAgent>>> =
        (0..args.agents).map(|_| Default::default()).collect();
    let started = Instant::now();
    let failed = parallel(args.agents, args.concurrency, |i| {
        let agent = fleet::enroll(&client, &args.token, fleet::report(i, shape, args.seed))
            .map_err(|e| e.to_string())?;
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
    if enrolled.is_empty() {
        return std::process::ExitCode::FAILURE;
    }

    let started = Instant::now();
    let failed = parallel(enrolled.len(), args.concurrency, |i| {
        fleet::send_full(&client, &enrolled[i]).map_err(|e| e.to_string())
    });
    let secs = started.elapsed().as_secs_f64();
    println!(
        "full reports: {} in {secs:.2} s = {:.0}/s ({} failed)",
        enrolled.len(),
        enrolled.len() as f64 / secs,
        failed.len()
    );

    let total = enrolled.len() * args.rounds;
    let started = Instant::now();
    let failed = parallel(total, args.concurrency, |i| {
        match fleet::send_digest(&client, &enrolled[i % enrolled.len()]) {
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
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}

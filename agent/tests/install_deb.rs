//! End to end on this Debian machine, as root: a tiny package built with
//! `dpkg-deb` at two versions and served as a local apt repository; the old
//! version installed; the real `patchport-agent` binary enrolled with a
//! real portal; the update seen as a missing security patch; an install job
//! run by the agent through apt-get; the new version installed by dpkg and
//! the patch shown as installed; a rollback job back to the old version
//! (the patch missing again), and one to a version the repository never
//! had, refused. The machine's packages and apt configuration are put back
//! as they were, even when the test fails.
//!
//! Needs root and apt; outside CI it is skipped (with a message) when
//! either is missing. Under CI (`CI` set) it must run.

mod support;

use patchport_core::protocol::{JobSpec, PackageTarget};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

const PACKAGE: &str = "patchport-e2e-probe";
const LIST: &str = "/etc/apt/sources.list.d/patchport-e2e-probe.list";
const LISTS_DIR: &str = "/var/lib/apt/lists";

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed_version() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status} ${Version}", PACKAGE])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.strip_prefix("install ok installed ")
        .map(str::to_owned)
}

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let tools = ["dpkg-deb", "apt-get", "dpkg-query"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());
    if root && tools {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run the apt install test: it needs root and apt (root: {root}, tools: {tools})"
    );
    eprintln!("SKIPPED: the apt install test needs root and apt-get/dpkg (root: {root})");
    false
}

/// Builds `PACKAGE` at `version` (architecture all) into `out`.
fn build_deb(work: &Path, version: &str, out: &Path) {
    let root = work.join(format!("build-{version}"));
    let doc = root.join("usr/share/doc").join(PACKAGE);
    std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
    std::fs::create_dir_all(&doc).unwrap();
    std::fs::write(doc.join("VERSION"), format!("{version}\n")).unwrap();
    std::fs::write(
        root.join("DEBIAN/control"),
        format!(
            "Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: Patchport tests <tests@patchport.invalid>\n\
             Section: misc\nPriority: optional\nDescription: Patchport end-to-end probe\n \
             Installed and upgraded by the Patchport agent's apt test; safe to remove.\n"
        ),
    )
    .unwrap();
    sh(
        "dpkg-deb",
        &[
            "--root-owner-group",
            "--build",
            root.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
}

/// A flat apt repository (Packages and Release) holding `debs`, with a
/// `-security` suite so that apt's origin marks the update as security.
fn write_repository(repo: &Path, debs: &[PathBuf]) {
    let mut packages = String::new();
    for deb in debs {
        let control = sh("dpkg-deb", &["-f", deb.to_str().unwrap()]);
        let bytes = std::fs::read(deb).unwrap();
        packages.push_str(control.trim_end());
        packages.push_str(&format!(
            "\nFilename: ./{}\nSize: {}\nSHA256: {}\n\n",
            deb.file_name().unwrap().to_str().unwrap(),
            bytes.len(),
            hex::encode(Sha256::digest(&bytes))
        ));
    }
    std::fs::write(repo.join("Packages"), &packages).unwrap();
    let release = format!(
        "Origin: Patchport-Test\nLabel: Patchport-Test\nSuite: patchport-test-security\n\
         Codename: patchport-test-security\nDate: Sat, 21 Nov 2026 00:00:00 UTC\nArchitectures: all amd64 arm64\n\
         Components: main\nDescription: Patchport agent test repository\nSHA256:\n {} {} Packages\n",
        hex::encode(Sha256::digest(packages.as_bytes())),
        packages.len()
    );
    std::fs::write(repo.join("Release"), release).unwrap();
}

/// Puts the machine back: the probe package purged, the source list and
/// the lists apt fetched for it removed.
struct Restore {
    lists_before: Vec<PathBuf>,
}

fn lists() -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(LISTS_DIR)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    found.sort();
    found
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", PACKAGE]).output();
        let _ = std::fs::remove_file(LIST);
        for path in lists() {
            if !self.lists_before.contains(&path) && path.is_file() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_installs_an_apt_update_through_a_job() {
    if !can_run() {
        return;
    }
    assert!(
        installed_version().is_none(),
        "{PACKAGE} is already installed: remove it first (dpkg --purge {PACKAGE})"
    );
    assert!(!Path::new(LIST).exists(), "{LIST} exists: remove it first");
    let restore = Restore {
        lists_before: lists(),
    };
    // apt's sandbox user must be able to read the repository.
    let work = tempfile::Builder::new()
        .prefix("patchport-apt-")
        .tempdir_in("/tmp")
        .unwrap();
    sh("chmod", &["755", work.path().to_str().unwrap()]);
    let repo = work.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let old = repo.join(format!("{PACKAGE}_1.0-1_all.deb"));
    let new = repo.join(format!("{PACKAGE}_1.0-2_all.deb"));
    build_deb(work.path(), "1.0-1", &old);
    build_deb(work.path(), "1.0-2", &new);
    write_repository(&repo, &[old.clone(), new.clone()]);
    sh("dpkg", &["-i", old.to_str().unwrap()]);
    assert_eq!(installed_version().as_deref(), Some("1.0-1"));
    std::fs::write(
        LIST,
        format!("deb [trusted=yes] file:{} ./\n", repo.display()),
    )
    .unwrap();
    // Refresh only this source, leaving the machine's other lists alone.
    sh(
        "apt-get",
        &[
            "update",
            "-q",
            "-o",
            &format!("Dir::Etc::sourcelist={LIST}"),
            "-o",
            "Dir::Etc::sourceparts=-",
            "-o",
            "APT::Get::List-Cleanup=0",
        ],
    );

    // A real portal on loopback.
    let portal = support::portal().await;
    let support::Portal { url, db, dir, .. } = &portal;
    let token = "ppe_apt_test_token";
    portal.create_token(token, "apt", 1).await;

    // The real agent binary enrols and reports.
    let config = dir.path().join("agent.json");
    let state = dir.path().join("agent-state");
    let run_agent = |args: Vec<String>| support::run_agent(config.clone(), args);
    run_agent(vec![
        "enroll".into(),
        "--url".into(),
        url.clone(),
        "--token".into(),
        token.into(),
        "--state-dir".into(),
        state.display().to_string(),
    ])
    .await;
    let server_id = portal.only_server().await;
    let mut conn = db.read().await.unwrap();
    let missing: Vec<_> = patchport_db::servers::patch_rows(&mut conn, server_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.package == PACKAGE)
        .collect();
    drop(conn);
    assert_eq!(missing.len(), 1, "the update is listed as missing");
    let patch = &missing[0];
    assert_eq!(
        (
            patch.installed_version.as_deref(),
            patch.version.as_str(),
            patch.state.as_str(),
            patch.security
        ),
        (Some("1.0-1"), "1.0-2", "missing", true),
        "missing, as a security update from the -security suite"
    );

    // An admin queues the install; the agent's next run performs it.
    let spec = JobSpec::Install {
        packages: vec![PackageTarget {
            name: PACKAGE.into(),
            version: "1.0-2".into(),
            arch: patch.arch.clone(),
        }],
    };
    let job_id = portal.queue(server_id, spec).await;
    run_agent(vec!["run".into(), "--once".into()]).await;

    assert_eq!(
        installed_version().as_deref(),
        Some("1.0-2"),
        "dpkg has the new version"
    );
    let mut conn = db.read().await.unwrap();
    let job = patchport_db::jobs::get(&mut conn, job_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (job.state.as_str(), job.exit_code, job.attempt),
        ("succeeded", Some(0), 1),
        "{job:?}"
    );
    assert!(
        job.log.contains("apt-get install") && job.log.contains(PACKAGE),
        "the log keeps the command and its output: {}",
        job.log
    );
    let after: Vec<_> = patchport_db::servers::patch_rows(&mut conn, server_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.package == PACKAGE)
        .collect();
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].state, "installed",
        "the re-scan after the job shows it installed"
    );
    drop(conn);
    assert_eq!(
        portal.previous(job_id).await,
        Some(vec![PackageTarget {
            name: PACKAGE.into(),
            version: "1.0-1".into(),
            arch: patch.arch.clone(),
        }]),
        "the portal kept the version the install replaced"
    );

    // The install is rolled back: apt-get downgrades, the patch is missing
    // again.
    let job = portal
        .roll_back(&config, PACKAGE, "1.0-1", &patch.arch)
        .await;
    assert_eq!(
        (job.state.as_str(), job.exit_code),
        ("succeeded", Some(0)),
        "{job:?}"
    );
    assert!(
        job.log.contains("apt-get install") && job.log.contains("--allow-downgrades"),
        "{}",
        job.log
    );
    assert_eq!(
        installed_version().as_deref(),
        Some("1.0-1"),
        "dpkg has 1.0-1 again"
    );
    assert_eq!(
        portal.patches_of(server_id, PACKAGE).await,
        [("1.0-2".to_owned(), "missing".to_owned())],
        "the update is missing again"
    );

    // A rollback to a version the repository does not have is refused
    // before apt-get runs.
    let job = portal
        .roll_back(&config, PACKAGE, "0.9-1", &patch.arch)
        .await;
    assert_eq!(job.state, "failed", "{job:?}");
    let refusal = support::rollback_refusal(PACKAGE, "0.9-1", &patch.arch);
    assert!(job.log.starts_with(&refusal), "{}", job.log);
    assert!(!job.log.contains("apt-get"), "{}", job.log);
    assert_eq!(
        installed_version().as_deref(),
        Some("1.0-1"),
        "nothing changed"
    );

    drop(restore);
    assert!(installed_version().is_none(), "the probe package is gone");
    assert!(!Path::new(LIST).exists(), "the source list is gone");
}

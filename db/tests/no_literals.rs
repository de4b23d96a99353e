//! `db/` spells no state as an SQL literal outside `db::states` (issue 15):
//! every stored name of core's state enums is looked for, quoted as SQL
//! writes it (`'queued'`), in the crate's sources outside `states.rs` and
//! outside test modules.

use patchport_core::rollout::RolloutState;
use patchport_core::state::{
    CheckInStatus, DeployKind, ImportState, JobKind, JobState, MailState, PatchState, RebootOption,
};
use std::path::{Path, PathBuf};

/// Every stored state name.
fn names() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = Vec::new();
    all.extend(PatchState::ALL.iter().map(|s| s.as_str()));
    all.extend(JobState::ALL.iter().map(|s| s.as_str()));
    all.extend(JobKind::ALL.iter().map(|s| s.as_str()));
    all.extend(DeployKind::ALL.iter().map(|s| s.as_str()));
    all.extend(RebootOption::ALL.iter().map(|s| s.as_str()));
    all.extend(MailState::ALL.iter().map(|s| s.as_str()));
    all.extend(ImportState::ALL.iter().map(|s| s.as_str()));
    all.extend(CheckInStatus::ALL.iter().map(|s| s.as_str()));
    all.extend(RolloutState::ALL.iter().map(|s| s.as_str()));
    all.sort();
    all.dedup();
    all
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The file's text before its test module.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

#[test]
fn no_state_is_spelled_in_sql_outside_db_states() {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let names = names();
    assert!(names.len() > 20, "the enums were read: {names:?}");
    let mut found = Vec::new();
    for file in files.iter().filter(|f| !f.ends_with("states.rs")) {
        for (n, line) in code(file).lines().enumerate() {
            for name in &names {
                if line.contains(&format!("'{name}'")) {
                    found.push(format!("{}:{}: '{name}'", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "state names spelled in SQL:\n{}",
        found.join("\n")
    );
}

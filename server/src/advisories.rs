//! Importing security advisories (OSV) and the CISA Known Exploited
//! Vulnerabilities catalog: from a JSON file, a directory of them, or a zip
//! (as osv.dev publishes per ecosystem).
//!
//! An import never stops the portal. Every file is read, parsed and
//! checked off the async runtime first; one bad entry rejects the whole
//! import with a reason naming the file and the entry, and nothing is
//! stored. What is new or changed is then written to a staging area in
//! short transactions and switched over in one short transaction, so the
//! import is all or nothing while check-ins, sign-ins, the scheduler and
//! mail go on; finally the server-patches the new content concerns are
//! matched again, in small batches. Each run, with its phase, progress and
//! outcome, is recorded for the admins' advisories page. Importing the
//! same data again changes nothing.

use patchport_core::Clock;
use patchport_core::advisory;
use patchport_db::advisories::ImportKind;
use patchport_db::{Db, advisories, audit};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Why an import was refused; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("{file}: {problem}")]
    Read {
        /// The file (or zip entry).
        file: String,
        /// What went wrong.
        problem: String,
    },
    /// An entry is malformed.
    #[error("{file}: {error}")]
    Invalid {
        /// The file (or zip entry).
        file: String,
        /// Which entry and field, and what is wrong.
        error: advisory::AdvisoryError,
    },
    /// Nothing to import.
    #[error("{0}: no .json files found")]
    Empty(String),
    /// Storing failed.
    #[error("storage: {0}")]
    Storage(#[from] patchport_db::StorageError),
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The import's id (its row on the advisories page).
    pub import_id: i64,
    /// Advisories (or KEV entries) read.
    pub read: usize,
    /// New ones.
    pub inserted: usize,
    /// Changed ones.
    pub updated: usize,
    /// Ones already stored as they are.
    pub unchanged: usize,
    /// Server-patch versions matched again afterwards.
    pub matched: u64,
    /// What was read but not used (e.g. CVSS vectors in a distribution's
    /// own fields that do not parse).
    pub warnings: Vec<String>,
}

/// Most bytes one file (or zip entry) may have.
const MAX_FILE: u64 = 64 * 1024 * 1024;

/// Reads `path`: a `.json` file, a `.zip` of `.json` files, or a directory
/// (its `.json` and `.zip` files, recursively, in name order). Returns
/// (name, bytes) per JSON document.
pub fn read_documents(path: &Path) -> Result<Vec<(String, Vec<u8>)>, ImportError> {
    let name = path.display().to_string();
    let read_err = |problem: String| ImportError::Read {
        file: name.clone(),
        problem,
    };
    let meta = std::fs::metadata(path).map_err(|e| read_err(e.to_string()))?;
    let mut out = Vec::new();
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| read_err(e.to_string()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_doc = entry.extension().is_some_and(|x| x == "json" || x == "zip");
            if entry.is_dir() || is_doc {
                out.extend(read_documents(&entry)?);
            }
        }
        return Ok(out);
    }
    if meta.len() > MAX_FILE && path.extension().is_some_and(|x| x == "json") {
        return Err(read_err(format!("larger than {MAX_FILE} bytes")));
    }
    if path.extension().is_some_and(|x| x == "zip") {
        let file = std::fs::File::open(path).map_err(|e| read_err(e.to_string()))?;
        return zip_documents(&name, file);
    }
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    out.push((name, bytes));
    Ok(out)
}

/// The `.json` documents of a zip, in name order, each named `name:entry`.
fn zip_documents(
    name: &str,
    reader: impl std::io::Read + std::io::Seek,
) -> Result<Vec<(String, Vec<u8>)>, ImportError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|e| ImportError::Read {
        file: name.to_owned(),
        problem: e.to_string(),
    })?;
    let mut names: Vec<String> = zip
        .file_names()
        .filter(|n| n.ends_with(".json"))
        .map(str::to_owned)
        .collect();
    names.sort();
    let mut out = Vec::new();
    for entry in names {
        let file_name = format!("{name}:{entry}");
        let mut reader = zip.by_name(&entry).map_err(|e| ImportError::Read {
            file: file_name.clone(),
            problem: e.to_string(),
        })?;
        let mut bytes = Vec::new();
        (&mut reader)
            .take(MAX_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| ImportError::Read {
                file: file_name.clone(),
                problem: e.to_string(),
            })?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(ImportError::Read {
                file: file_name,
                problem: format!("larger than {MAX_FILE} bytes"),
            });
        }
        out.push((file_name, bytes));
    }
    Ok(out)
}

/// The largest download an advisory URL may send (osv.dev's biggest
/// per-ecosystem zips are a few hundred MB).
const MAX_DOWNLOAD: u64 = 1 << 30;

/// Downloads `url` (http or https) on the blocking pool, with a timeout.
pub async fn fetch(url: &str) -> Result<Vec<u8>, ImportError> {
    let read_err = |problem: String| ImportError::Read {
        file: url.to_owned(),
        problem,
    };
    let parsed = url::Url::parse(url).map_err(|e| read_err(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(read_err("only http and https URLs can be fetched".into()));
    }
    let owned = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(600)))
            .build()
            .new_agent();
        let mut response = agent.get(&owned).call().map_err(|e| e.to_string())?;
        response
            .body_mut()
            .with_config()
            .limit(MAX_DOWNLOAD)
            .read_to_vec()
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| read_err(e.to_string()))?
    .map_err(read_err)
}

/// Imports OSV advisories from a URL: a zip of `.json` documents (as
/// osv.dev publishes per ecosystem) or one JSON document. All or nothing.
pub async fn import_url(
    db: &Db,
    clock: &dyn Clock,
    url: &str,
    actor: &str,
) -> Result<Imported, ImportError> {
    let import_id = begin(db, clock, ImportKind::Osv, url, actor).await?;
    let run = async {
        progress(db, clock, import_id, "fetching", 0, 1).await?;
        let bytes = fetch(url).await?;
        let owned = url.to_owned();
        let documents = blocking(move || {
            if bytes.starts_with(b"PK\x03\x04") {
                zip_documents(&owned, std::io::Cursor::new(bytes))
            } else {
                Ok(vec![(owned, bytes)])
            }
        })
        .await?;
        if documents.is_empty() {
            return Err(ImportError::Empty(url.to_owned()));
        }
        import_osv_run(db, clock, import_id, documents, url, actor).await
    };
    finish(db, clock, import_id, run.await).await
}

/// Imports the KEV catalog from a URL, all or nothing.
pub async fn import_kev_url(
    db: &Db,
    clock: &dyn Clock,
    url: &str,
    actor: &str,
) -> Result<Imported, ImportError> {
    let import_id = begin(db, clock, ImportKind::Kev, url, actor).await?;
    let run = async {
        progress(db, clock, import_id, "fetching", 0, 1).await?;
        let bytes = fetch(url).await?;
        import_kev_run(db, clock, import_id, url, bytes, actor).await
    };
    finish(db, clock, import_id, run.await).await
}

/// Imports OSV advisories from `paths`, all or nothing.
pub async fn import_osv(
    db: &Db,
    clock: &dyn Clock,
    paths: &[&Path],
    actor: &str,
) -> Result<Imported, ImportError> {
    let target = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let import_id = begin(db, clock, ImportKind::Osv, &target, actor).await?;
    let owned: Vec<std::path::PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    let run = async {
        let documents = blocking(move || {
            let mut documents = Vec::new();
            for path in &owned {
                let found = read_documents(path)?;
                if found.is_empty() {
                    return Err(ImportError::Empty(path.display().to_string()));
                }
                documents.extend(found);
            }
            Ok(documents)
        })
        .await?;
        import_osv_run(db, clock, import_id, documents, &target, actor).await
    };
    finish(db, clock, import_id, run.await).await
}

/// Imports OSV documents given as (name, JSON), all or nothing.
pub async fn import_documents(
    db: &Db,
    clock: &dyn Clock,
    documents: Vec<(String, Vec<u8>)>,
    target: &str,
    actor: &str,
) -> Result<Imported, ImportError> {
    let import_id = begin(db, clock, ImportKind::Osv, target, actor).await?;
    let run = import_osv_run(db, clock, import_id, documents, target, actor).await;
    finish(db, clock, import_id, run).await
}

/// Runs `work` on the blocking pool (parsing megabytes of JSON must not
/// hold up the async runtime that serves requests).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ImportError> + Send + 'static,
) -> Result<T, ImportError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ImportError::Read {
            file: "import".into(),
            problem: e.to_string(),
        })?
}

async fn begin(
    db: &Db,
    clock: &dyn Clock,
    kind: ImportKind,
    source: &str,
    actor: &str,
) -> Result<i64, ImportError> {
    let mut conn = db.write().await?;
    Ok(advisories::begin_import(&mut conn, kind, source, actor, clock.now()).await?)
}

async fn progress(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    phase: &str,
    done: usize,
    total: usize,
) -> Result<(), ImportError> {
    let mut conn = db.write().await?;
    advisories::progress(
        &mut conn,
        import_id,
        phase,
        done as i64,
        total as i64,
        clock.now(),
    )
    .await?;
    Ok(())
}

/// Records the outcome of a run: its counts when it succeeded, its error
/// (and nothing switched over) when it failed.
async fn finish(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    run: Result<Imported, ImportError>,
) -> Result<Imported, ImportError> {
    let mut conn = db.write().await?;
    match run {
        Ok(mut done) => {
            done.import_id = import_id;
            let outcome = advisories::Outcome {
                documents: done.read as i64,
                inserted: done.inserted as i64,
                updated: done.updated as i64,
                unchanged: done.unchanged as i64,
                matched: done.matched as i64,
                warnings: done.warnings.clone(),
            };
            advisories::finish_import(&mut conn, import_id, &outcome, clock.now()).await?;
            Ok(done)
        }
        Err(e) => {
            if let Err(recorded) =
                advisories::fail_import(&mut conn, import_id, &e.to_string(), clock.now()).await
            {
                tracing::warn!(import_id, error = %recorded, "could not record a failed import");
            }
            Err(e)
        }
    }
}

/// Documents parsed per step of the blocking pool, between progress updates.
const PARSE_BATCH: usize = 500;
/// Advisories staged per transaction: each takes a few milliseconds.
const STAGE_BATCH: usize = 200;
/// Versions matched again per transaction.
const MATCH_BATCH: i64 = 200;

/// Parses one OSV document into what is stored, with its digest.
fn prepare(
    file: &str,
    bytes: &[u8],
) -> Result<(advisories::NewAdvisory, Vec<String>), ImportError> {
    let advisory = advisory::parse_osv(bytes).map_err(|error| ImportError::Invalid {
        file: file.to_owned(),
        error,
    })?;
    // The digest of the checked record as it serialises: the same
    // advisory reformatted is still the same.
    let canonical = serde_json::to_vec(&advisory).unwrap_or_else(|_| bytes.to_vec());
    let hash = hex::encode(Sha256::digest(&canonical));
    let cvss = advisory.cvss();
    let rating = advisory.rating();
    let warnings = advisory
        .ignored_vectors()
        .into_iter()
        .map(|v| {
            format!(
                "{file}: {}: CVSS vector {v:?} does not parse; not used",
                advisory.id
            )
        })
        .collect();
    let affected = advisory
        .affected
        .iter()
        .map(|a| {
            (
                a.package.ecosystem.clone(),
                a.package.name.clone(),
                serde_json::to_string(&a.for_matching()).unwrap_or_else(|_| "{}".into()),
            )
        })
        .collect();
    let new = advisories::NewAdvisory {
        cves: advisory.cves(),
        advisory_id: advisory.id.clone(),
        summary: advisory.summary.clone(),
        details: advisory.details.clone(),
        severity: rating
            .as_ref()
            .map_or("unknown", |r| r.level.as_str())
            .to_owned(),
        severity_source: rating.map(|r| r.source).unwrap_or_default(),
        kind: advisory.kind().as_str().to_owned(),
        cvss_vector: cvss.as_ref().map(|c| c.vector.clone()),
        cvss_score: cvss.as_ref().map(|c| c.score),
        published: advisory.published_at,
        modified: advisory.modified_at,
        withdrawn: advisory.withdrawn_at,
        source: file.to_owned(),
        content_hash: hash,
        affected,
    };
    Ok((new, warnings))
}

/// Runs an OSV import that has begun: checks every document, stages what
/// is new or changed, switches it over and matches again what it concerns.
async fn import_osv_run(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    documents: Vec<(String, Vec<u8>)>,
    target: &str,
    actor: &str,
) -> Result<Imported, ImportError> {
    let mut out = Imported {
        read: documents.len(),
        ..Default::default()
    };
    // Check everything before anything is stored.
    let prepared = check_documents(db, clock, import_id, documents, &mut out.warnings).await?;
    let changed = changed_advisories(db, prepared, &mut out).await?;
    stage_advisories(db, clock, import_id, &changed).await?;
    switch_over(db, clock, import_id, &mut out, target, actor).await?;
    out.matched = match_stale(db, clock, Some(import_id)).await?;
    Ok(out)
}

/// Parses and checks every document on the blocking pool, a batch at a
/// time with progress in between; adds their warnings to `warnings`.
async fn check_documents(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    documents: Vec<(String, Vec<u8>)>,
    warnings: &mut Vec<String>,
) -> Result<Vec<advisories::NewAdvisory>, ImportError> {
    let total = documents.len();
    let mut prepared: Vec<advisories::NewAdvisory> = Vec::with_capacity(total);
    let mut rest = documents;
    while !rest.is_empty() {
        progress(db, clock, import_id, "checking", prepared.len(), total).await?;
        let tail = rest.split_off(rest.len().min(PARSE_BATCH));
        let batch = std::mem::replace(&mut rest, tail);
        let parsed = blocking(move || {
            batch
                .iter()
                .map(|(file, bytes)| prepare(file, bytes))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
        for (new, found) in parsed {
            warnings.extend(found);
            prepared.push(new);
        }
    }
    Ok(prepared)
}

/// The advisories that are new or differ from what is stored, the last
/// one read of each id; counts the unchanged ones in `out` and warns of
/// ids that appear more than once.
async fn changed_advisories(
    db: &Db,
    prepared: Vec<advisories::NewAdvisory>,
    out: &mut Imported,
) -> Result<Vec<advisories::NewAdvisory>, ImportError> {
    // A document may repeat an id (the same record in two files): the
    // last one read wins, as it would one import after the other.
    let mut by_id: std::collections::HashMap<String, usize> = Default::default();
    for (i, a) in prepared.iter().enumerate() {
        by_id.insert(a.advisory_id.clone(), i);
    }
    let stored = {
        let mut conn = db.read().await?;
        advisories::stored_hashes(&mut conn).await?
    };
    let mut changed: Vec<advisories::NewAdvisory> = Vec::new();
    for (i, a) in prepared.into_iter().enumerate() {
        if by_id.get(&a.advisory_id) != Some(&i) {
            continue;
        }
        if stored.get(&a.advisory_id) == Some(&a.content_hash) {
            out.unchanged += 1;
        } else {
            changed.push(a);
        }
    }
    if by_id.len() < out.read {
        out.warnings.push(format!(
            "{} advisory ids appear in more than one file; the last file read counts",
            out.read - by_id.len()
        ));
    }
    Ok(changed)
}

/// Writes the changed advisories to the import's staging area, a short
/// transaction per batch.
async fn stage_advisories(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    changed: &[advisories::NewAdvisory],
) -> Result<(), ImportError> {
    for (n, batch) in changed.chunks(STAGE_BATCH).enumerate() {
        progress(
            db,
            clock,
            import_id,
            "staging",
            n * STAGE_BATCH,
            changed.len(),
        )
        .await?;
        let mut tx = db.begin().await?;
        advisories::stage(&mut tx, import_id, batch).await?;
        patchport_db::commit(tx).await?;
    }
    Ok(())
}

/// Switches the staged advisories over in one transaction, counting the
/// new and changed ones in `out`, and audits the import if it changed
/// anything.
async fn switch_over(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    out: &mut Imported,
    target: &str,
    actor: &str,
) -> Result<(), ImportError> {
    progress(db, clock, import_id, "switching", 0, 1).await?;
    let now = clock.now();
    let mut tx = db.begin().await?;
    let switched = advisories::switch(&mut tx, import_id, now).await?;
    out.inserted = switched.inserted as usize;
    out.updated = switched.updated as usize;
    if out.inserted + out.updated > 0 {
        let detail = format!(
            "{} read: {} new, {} changed, {} unchanged",
            out.read, out.inserted, out.updated, out.unchanged
        );
        let event = audit::NewAuditEvent {
            actor_name: actor,
            action: "advisories.imported",
            target,
            detail: &detail,
            source: "import",
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
    }
    patchport_db::commit(tx).await?;
    Ok(())
}

/// Matches stale server-patch versions again, a batch per transaction,
/// until none is left (or another instance is at it); records progress
/// on the import when one is given. Returns how many were matched.
pub async fn match_stale(
    db: &Db,
    clock: &dyn Clock,
    import_id: Option<i64>,
) -> Result<u64, ImportError> {
    let mut matched = 0u64;
    let total = {
        let mut conn = db.read().await?;
        patchport_db::advisories::stale_count(&mut conn).await?
    };
    loop {
        if let Some(id) = import_id {
            progress(
                db,
                clock,
                id,
                "matching",
                matched as usize,
                total.max(matched as i64) as usize,
            )
            .await?;
        }
        let mut attempt = 0;
        let done = loop {
            let step = async {
                let mut tx = db.begin().await?;
                let n = advisories::rematch_stale(&mut tx, MATCH_BATCH).await?;
                patchport_db::commit(tx).await?;
                Ok::<_, patchport_db::StorageError>(n)
            };
            match step.await {
                Ok(n) => break n,
                // PostgreSQL: a check-in took the same rows in a way that
                // deadlocked; run the batch again.
                Err(e) if e.is_retryable() && attempt < 3 => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        };
        if done == 0 {
            return Ok(matched);
        }
        matched += done as u64;
    }
}

/// Imports the CISA KEV catalog from a JSON file, all or nothing.
pub async fn import_kev(
    db: &Db,
    clock: &dyn Clock,
    path: &Path,
    actor: &str,
) -> Result<Imported, ImportError> {
    let file = path.display().to_string();
    let import_id = begin(db, clock, ImportKind::Kev, &file, actor).await?;
    let run = async {
        let owned = path.to_path_buf();
        let name = file.clone();
        let bytes = blocking(move || {
            std::fs::read(&owned).map_err(|e| ImportError::Read {
                file: name,
                problem: e.to_string(),
            })
        })
        .await?;
        import_kev_run(db, clock, import_id, &file, bytes, actor).await
    };
    finish(db, clock, import_id, run.await).await
}

/// Imports a KEV catalog given as JSON, all or nothing.
pub async fn import_kev_bytes(
    db: &Db,
    clock: &dyn Clock,
    file: &str,
    bytes: &[u8],
    actor: &str,
) -> Result<Imported, ImportError> {
    let import_id = begin(db, clock, ImportKind::Kev, file, actor).await?;
    let run = import_kev_run(db, clock, import_id, file, bytes.to_vec(), actor).await;
    finish(db, clock, import_id, run).await
}

async fn import_kev_run(
    db: &Db,
    clock: &dyn Clock,
    import_id: i64,
    file: &str,
    bytes: Vec<u8>,
    actor: &str,
) -> Result<Imported, ImportError> {
    progress(db, clock, import_id, "checking", 0, 1).await?;
    let name = file.to_owned();
    let kev = blocking(move || {
        advisory::parse_kev(&bytes).map_err(|error| ImportError::Invalid { file: name, error })
    })
    .await?;
    let mut out = Imported {
        read: kev.vulnerabilities.len(),
        ..Default::default()
    };
    progress(db, clock, import_id, "switching", 0, 1).await?;
    // About 1,500 small rows: one short transaction keeps it all or nothing.
    let now = clock.now();
    let mut tx = db.begin().await?;
    let mut changed = Vec::new();
    for e in &kev.vulnerabilities {
        let canonical = serde_json::to_vec(e).unwrap_or_default();
        let hash = hex::encode(Sha256::digest(&canonical));
        let entry = advisories::KevEntry {
            cve: &e.cve_id,
            vendor: &e.vendor_project,
            product: &e.product,
            name: &e.vulnerability_name,
            date_added: e.date_added_at,
            due_date: e.due_date_at,
            ransomware: &e.known_ransomware_campaign_use,
            content_hash: &hash,
        };
        if advisories::store_kev(&mut tx, &entry).await? {
            changed.push(e.cve_id.clone());
        }
    }
    out.inserted = changed.len();
    out.unchanged = out.read - changed.len();
    if !changed.is_empty() {
        advisories::stale_for_cves(&mut tx, &changed).await?;
        let event = audit::NewAuditEvent {
            actor_name: actor,
            action: "kev.imported",
            target: file,
            detail: &format!(
                "{} entries, {} new or changed (catalog {})",
                kev.vulnerabilities.len(),
                changed.len(),
                kev.catalog_version
            ),
            source: "import",
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
    }
    patchport_db::commit(tx).await?;
    out.matched = match_stale(db, clock, Some(import_id)).await?;
    Ok(out)
}

/// Demo data: once the simulated servers have reported, writes OSV
/// advisories (Debian style, marked as demo data in their summaries) for
/// about half of the security patches in the catalog, with CVSS vectors and
/// a few known-exploited CVEs, and imports them the way real ones are
/// imported, so the demo shows advisories, CVEs and risk.
pub async fn seed_demo_advisories(db: &Db, clock: &dyn Clock) -> Result<Imported, ImportError> {
    const VECTORS: &[&str] = &[
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N",
    ];
    let mut conn = db.read().await?;
    let patches = patchport_db::advisories::security_patches(&mut conn).await?;
    drop(conn);
    let mut documents = Vec::new();
    let mut exploited = Vec::new();
    for (n, (release, package, source, _from, version)) in
        patches.iter().enumerate().filter(|(n, _)| n % 2 == 0)
    {
        let (os, ver) = release.split_once(':').unwrap_or((release, ""));
        let Some(ecosystem) = advisory::release_ecosystem(os, ver).into_iter().next() else {
            continue;
        };
        let name = source.as_deref().unwrap_or(package);
        let number = 5600 + n;
        let cve = format!("CVE-2024-{}", 20_000 + n);
        if n % 10 == 0 {
            exploited.push(cve.clone());
        }
        let doc = serde_json::json!({
            "schema_version": "1.7.0",
            "id": format!("DSA-{number}-1"),
            "summary": format!("{name} - security update (demo data)"),
            "details": format!(
                "A vulnerability was discovered in {name} that may allow a remote attacker to \
                 cause a denial of service or execute code.\n\nThis advisory is generated demo data.\n\n\
                 For the stable distribution, this problem has been fixed in version {version}."
            ),
            "upstream": [cve],
            "published": "2026-10-01T00:00:00Z",
            "modified": "2026-10-02T00:00:00Z",
            "severity": [{"type": "CVSS_V3", "score": VECTORS[n % VECTORS.len()]}],
            "affected": [{
                "package": {"ecosystem": ecosystem, "name": name},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": version}]}]
            }]
        });
        documents.push((
            format!("demo/DSA-{number}-1.json"),
            serde_json::to_vec(&doc).unwrap_or_default(),
        ));
    }
    if documents.is_empty() {
        return Ok(Imported::default());
    }
    let done = import_documents(db, clock, documents, "demo advisories", "demo").await?;
    let kev = serde_json::json!({
        "title": "CISA Catalog of Known Exploited Vulnerabilities (demo data)",
        "catalogVersion": "demo",
        "count": exploited.len(),
        "vulnerabilities": exploited.iter().map(|cve| serde_json::json!({
            "cveID": cve, "vendorProject": "Demo", "product": "Demo", "vulnerabilityName": "Demo vulnerability",
            "dateAdded": "2026-10-15", "shortDescription": "Demo data.", "requiredAction": "Apply updates.",
            "dueDate": "2026-11-05", "knownRansomwareCampaignUse": "Unknown", "notes": "", "cwes": []
        })).collect::<Vec<_>>()
    });
    import_kev_bytes(
        db,
        clock,
        "demo KEV",
        &serde_json::to_vec(&kev).unwrap_or_default(),
        "demo",
    )
    .await?;
    Ok(done)
}

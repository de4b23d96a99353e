//! Importing security advisories (OSV) and the CISA Known Exploited
//! Vulnerabilities catalog: from a JSON file, a directory of them, or a zip
//! (as osv.dev publishes per ecosystem). Every file is parsed and checked
//! first; one bad entry rejects the whole import with a reason naming the
//! file and the entry, and nothing is stored. Then everything is stored
//! and matched to the patch catalog in one transaction. Importing the same
//! data again changes nothing.

use patchport_core::Clock;
use patchport_core::advisory::{self, Advisory};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    /// Advisories read.
    pub read: usize,
    /// New ones.
    pub inserted: usize,
    /// Changed ones.
    pub updated: usize,
    /// Ones already stored as they are.
    pub unchanged: usize,
    /// Patch links made for new and changed advisories.
    pub linked: u64,
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
        let mut zip = zip::ZipArchive::new(file).map_err(|e| read_err(e.to_string()))?;
        let mut names: Vec<String> = zip
            .file_names()
            .filter(|n| n.ends_with(".json"))
            .map(str::to_owned)
            .collect();
        names.sort();
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
        return Ok(out);
    }
    let bytes = std::fs::read(path).map_err(|e| read_err(e.to_string()))?;
    out.push((name, bytes));
    Ok(out)
}

/// Imports OSV advisories from `paths`, all or nothing.
pub async fn import_osv(
    db: &Db,
    clock: &dyn Clock,
    paths: &[&Path],
    actor: &str,
) -> Result<Imported, ImportError> {
    let mut parsed: Vec<(String, Advisory, String)> = Vec::new();
    for path in paths {
        let documents = read_documents(path)?;
        if documents.is_empty() {
            return Err(ImportError::Empty(path.display().to_string()));
        }
        for (file, bytes) in documents {
            let advisory = advisory::parse_osv(&bytes).map_err(|error| ImportError::Invalid {
                file: file.clone(),
                error,
            })?;
            // The digest of the checked record as it serialises: the same
            // advisory reformatted is still the same.
            let canonical = serde_json::to_vec(&advisory).unwrap_or(bytes);
            let hash = hex::encode(Sha256::digest(&canonical));
            parsed.push((file, advisory, hash));
        }
    }
    let now = clock.now();
    let mut out = Imported {
        read: parsed.len(),
        ..Default::default()
    };
    let mut tx = db.begin().await?;
    for (file, advisory, hash) in &parsed {
        let cves = advisory.cves();
        let cvss = advisory.cvss();
        let affected: Vec<(String, String, String)> = advisory
            .affected
            .iter()
            .map(|a| {
                (
                    a.package.ecosystem.clone(),
                    a.package.name.clone(),
                    serde_json::to_string(a).unwrap_or_else(|_| "{}".into()),
                )
            })
            .collect();
        let new = advisories::NewAdvisory {
            advisory_id: &advisory.id,
            summary: &advisory.summary,
            details: &advisory.details,
            severity: advisory.severity_level().map_or("unknown", |l| l.as_str()),
            cvss_vector: cvss.as_ref().map(|c| c.vector.as_str()),
            cvss_score: cvss.as_ref().map(|c| c.score),
            published: advisory.published_at,
            modified: advisory.modified_at,
            withdrawn: advisory.withdrawn_at,
            source: file,
            content_hash: hash,
            cves: &cves,
            affected: &affected,
        };
        match advisories::store(&mut tx, &new, now).await? {
            advisories::Stored::Unchanged(_) => out.unchanged += 1,
            stored => {
                if matches!(stored, advisories::Stored::Inserted(_)) {
                    out.inserted += 1;
                } else {
                    out.updated += 1;
                }
                out.linked += advisories::match_advisory(&mut tx, stored.id(), advisory).await?;
            }
        }
    }
    if out.inserted + out.updated > 0 {
        let detail = format!(
            "{} read: {} new, {} changed, {} unchanged; {} patch links",
            out.read, out.inserted, out.updated, out.unchanged, out.linked
        );
        let target = paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let event = audit::NewAuditEvent {
            actor_name: actor,
            action: "advisories.imported",
            target: &target,
            detail: &detail,
            source: "import",
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
    }
    patchport_db::commit(tx).await?;
    Ok(out)
}

/// Imports the CISA KEV catalog from a JSON file, all or nothing. Returns
/// (entries read, entries new or changed).
pub async fn import_kev(
    db: &Db,
    clock: &dyn Clock,
    path: &Path,
    actor: &str,
) -> Result<(usize, usize), ImportError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ImportError::Read {
        file: file.clone(),
        problem: e.to_string(),
    })?;
    let kev = advisory::parse_kev(&bytes).map_err(|error| ImportError::Invalid {
        file: file.clone(),
        error,
    })?;
    let now = clock.now();
    let mut tx = db.begin().await?;
    let mut changed = 0;
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
            changed += 1;
        }
    }
    if changed > 0 {
        let event = audit::NewAuditEvent {
            actor_name: actor,
            action: "kev.imported",
            target: &file,
            detail: &format!(
                "{} entries, {changed} new or changed (catalog {})",
                kev.vulnerabilities.len(),
                kev.catalog_version
            ),
            source: "import",
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
    }
    patchport_db::commit(tx).await?;
    Ok((kev.vulnerabilities.len(), changed))
}

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
    let bytes = fetch(url).await?;
    let documents = if bytes.starts_with(b"PK\x03\x04") {
        zip_documents(url, std::io::Cursor::new(bytes))?
    } else {
        vec![(url.to_owned(), bytes)]
    };
    if documents.is_empty() {
        return Err(ImportError::Empty(url.to_owned()));
    }
    import_documents(db, clock, documents, url, actor).await
}

/// Imports the KEV catalog from a URL, all or nothing.
pub async fn import_kev_url(
    db: &Db,
    clock: &dyn Clock,
    url: &str,
    actor: &str,
) -> Result<(usize, usize), ImportError> {
    let bytes = fetch(url).await?;
    import_kev_bytes(db, clock, url, &bytes, actor).await
}

/// Imports OSV advisories from `paths`, all or nothing.
pub async fn import_osv(
    db: &Db,
    clock: &dyn Clock,
    paths: &[&Path],
    actor: &str,
) -> Result<Imported, ImportError> {
    let mut documents = Vec::new();
    for path in paths {
        let found = read_documents(path)?;
        if found.is_empty() {
            return Err(ImportError::Empty(path.display().to_string()));
        }
        documents.extend(found);
    }
    let target = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    import_documents(db, clock, documents, &target, actor).await
}

/// Imports OSV documents given as (name, JSON), all or nothing.
pub async fn import_documents(
    db: &Db,
    clock: &dyn Clock,
    documents: Vec<(String, Vec<u8>)>,
    target: &str,
    actor: &str,
) -> Result<Imported, ImportError> {
    let mut parsed: Vec<(String, Advisory, String)> = Vec::new();
    {
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
    import_kev_bytes(db, clock, &file, &bytes, actor).await
}

/// Imports a KEV catalog given as JSON, all or nothing.
pub async fn import_kev_bytes(
    db: &Db,
    clock: &dyn Clock,
    file: &str,
    bytes: &[u8],
    actor: &str,
) -> Result<(usize, usize), ImportError> {
    let file = file.to_owned();
    let kev = advisory::parse_kev(bytes).map_err(|error| ImportError::Invalid {
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
        advisories::refresh_patch_risk(&mut tx, None).await?;
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
    for (n, (release, package, source, version)) in
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

//! The admins' advisories page: every import (OSV advisories, the CISA KEV
//! catalog) with its phase, progress and outcome, what is stored by kind
//! and rating, and how many server-patches still wait to be matched. The
//! page follows a running import by itself.

use crate::errors::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One import, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportView {
    /// Its id.
    pub id: i64,
    /// osv or kev.
    pub kind: String,
    /// What was imported (paths, URLs).
    pub source: String,
    /// Who or what started it (cli, schedule, demo, a user name).
    pub actor: String,
    /// running, succeeded or failed.
    pub state: String,
    /// Where a running import is: fetching, reading, checking, staging,
    /// switching, matching.
    pub phase: String,
    /// Progress within the phase.
    pub done: i64,
    /// Out of.
    pub total: i64,
    /// Documents (or catalog entries) read.
    pub documents: i64,
    /// New.
    pub inserted: i64,
    /// Changed.
    pub updated: i64,
    /// Already stored as they are.
    pub unchanged: i64,
    /// Server-patch versions matched again afterwards.
    pub matched: i64,
    /// Why it failed.
    pub error: String,
    /// What was read but not used, one per line.
    pub warnings: String,
    /// Started (seconds since the epoch).
    pub started_at: i64,
    /// Finished.
    pub finished_at: Option<i64>,
}

/// Everything on the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvisoryPageData {
    /// The latest imports, newest first.
    pub imports: Vec<ImportView>,
    /// Stored advisories: (kind, rating, how many).
    pub counts: Vec<(String, String, i64)>,
    /// Server-patch versions waiting to be matched again.
    pub stale: i64,
}

impl AdvisoryPageData {
    /// Something is still moving: the page keeps refreshing.
    pub fn busy(&self) -> bool {
        self.stale > 0 || self.imports.iter().any(|i| i.state == "running")
    }
}

/// Imports listed on the page.
#[cfg(feature = "ssr")]
const IMPORTS_SHOWN: i64 = 25;

/// The advisories page's data (admins only).
#[server(endpoint = "admin/advisories/status")]
pub async fn advisory_status() -> Result<AdvisoryPageData, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        let imports = patchport_db::advisories::imports(&mut conn, IMPORTS_SHOWN).await?;
        let counts = patchport_db::advisories::counts(&mut conn).await?;
        let stale = patchport_db::advisories::stale_count(&mut conn).await?;
        Ok(AdvisoryPageData {
            imports: imports
                .into_iter()
                .map(|i| ImportView {
                    id: i.id,
                    kind: i.kind,
                    source: i.source,
                    actor: i.actor,
                    state: i.state,
                    phase: i.phase,
                    done: i.done,
                    total: i.total,
                    documents: i.documents,
                    inserted: i.inserted,
                    updated: i.updated,
                    unchanged: i.unchanged,
                    matched: i.matched,
                    error: i.error,
                    warnings: i.warnings,
                    started_at: i.started_at,
                    finished_at: i.finished_at,
                })
                .collect(),
            counts,
            stale,
        })
    })
    .await
}

/// What an import's state and phase read as.
fn describe(i: &ImportView) -> String {
    match i.state.as_str() {
        "running" if i.total > 0 => format!("{} {} of {}", i.phase, i.done, i.total),
        "running" => i.phase.clone(),
        "succeeded" => format!(
            "{} read: {} new, {} changed, {} unchanged; {} server-patch versions matched",
            i.documents, i.inserted, i.updated, i.unchanged, i.matched
        ),
        _ => i.error.clone(),
    }
}

/// The advisories page.
#[component]
pub fn AdvisoriesPage() -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let busy = RwSignal::new(false);
    let status = Resource::new(move || tick.get(), |_| advisory_status());
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if busy.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(2),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    view! {
        <section class="card">
            <h1>"Advisories"</h1>
            <p class="hint">
                "Security advisories (OSV) and the CISA catalog of known exploited vulnerabilities, as imported with "
                <code>"patchport advisories import"</code>" / "<code>"patchport advisories kev"</code>
                " or fetched from "<code>"PATCHPORT_ADVISORY_URLS"</code>" and "<code>"PATCHPORT_KEV_URL"</code>
                ". An import is all or nothing, and the portal keeps working while it runs."
            </p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match status.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(s) => {
                        busy.set(s.busy());
                        let stored: i64 = s.counts.iter().map(|c| c.2).sum();
                        view! {
                            <h2>"Stored"</h2>
                            {if s.counts.is_empty() {
                                view! { <p class="empty" id="advisories-empty">"No advisory has been imported yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-scroll"><table class="data" id="advisory-counts">
                                        <thead><tr><th>"Kind"</th><th>"Rating"</th><th>"Advisories"</th></tr></thead>
                                        <tbody>
                                            {s.counts.iter().map(|(kind, severity, n)| view! {
                                                <tr><td>{kind.clone()}</td><td><span class=format!("badge sev-{severity}")>{severity.clone()}</span></td><td>{*n}</td></tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table></div>
                                    <p class="hint">{format!("{stored} advisories in all.")}</p>
                                }.into_any()
                            }}
                            {(s.stale > 0).then(|| view! {
                                <p class="warn" role="status" id="advisories-matching">{format!(
                                    "{} server-patch versions are being matched to the advisories again; counts on the report follow within moments.",
                                    s.stale
                                )}</p>
                            })}
                            <h2>"Imports"</h2>
                            {if s.imports.is_empty() {
                                view! { <p class="empty">"No import has run yet."</p> }.into_any()
                            } else {
                                view! {
                                    <div class="table-scroll"><table class="data" id="imports">
                                        <thead><tr><th>"Started"</th><th>"What"</th><th>"By"</th><th>"State"</th><th>"Outcome"</th></tr></thead>
                                        <tbody>
                                            {s.imports.into_iter().map(|i| {
                                                let outcome = describe(&i);
                                                let running = i.state == "running";
                                                let warnings: Vec<String> = i.warnings.lines().map(str::to_owned).collect();
                                                view! {
                                                    <tr data-import=i.id.to_string() data-state=i.state.clone()>
                                                        <td class="nowrap"><small><crate::ui::Time ts={i.started_at} /></small></td>
                                                        <td><span class="badge">{if i.kind == "kev" { "KEV" } else { "OSV" }}</span>" "<small class="source">{i.source.clone()}</small></td>
                                                        <td>{i.actor.clone()}</td>
                                                        <td><span class=format!("badge import-{}", i.state)>{i.state.clone()}</span></td>
                                                        <td>
                                                            {outcome}
                                                            {(running && i.total > 0).then(|| view! {
                                                                <br/><progress max=i.total.to_string() value=i.done.to_string()></progress>
                                                            })}
                                                            {(!warnings.is_empty()).then(|| view! {
                                                                <details><summary>{format!("{} notes", warnings.len())}</summary>
                                                                    <ul>{warnings.into_iter().map(|w| view! { <li><small>{w}</small></li> }).collect_view()}</ul>
                                                                </details>
                                                            })}
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table></div>
                                }.into_any()
                            }}
                        }.into_any()
                    }
                }})}
            </Transition>
        </section>
    }
}

//! The audit trail page (admins only).

use crate::errors::AppError;
use crate::ui::Pager;
use leptos::prelude::*;

/// One audit event, as stored.
pub use patchport_core::view::AuditEvent as AuditRow;

/// A page of audit events, newest first, with how many match in all.
pub type AuditPage = patchport_core::view::Page<AuditRow>;

/// Rows per page on the audit page.
pub const PER_PAGE: i64 = 50;

/// Lists audit events, newest first, optionally by action prefix.
#[server(endpoint = "admin/audit")]
pub async fn list_audit(action: String, page: i64) -> Result<AuditPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let found = patchport_db::audit::list(&mut conn, &action, page, PER_PAGE).await?;
        Ok(found)
    })
    .await
}

/// The audit trail.
#[component]
pub fn AuditTrailPage() -> impl IntoView {
    let page = RwSignal::new(1_i64);
    let action = RwSignal::new(String::new());
    let events = Resource::new(
        move || (action.get(), page.get()),
        |(a, p)| list_audit(a, p),
    );
    view! {
        <section class="card">
            <h1>"Audit trail"</h1>
            <div class="toolbar">
                <label>
                    "Action "
                    <select on:change=move |ev| { action.set(event_target_value(&ev)); page.set(1); }>
                        <option value="">"All events"</option>
                        <option value="login.">"Sign-ins"</option>
                        <option value="logout">"Sign-outs"</option>
                        <option value="user.">"User management"</option>
                        <option value="password.">"Password changes"</option>
                        <option value="access.">"Refused requests"</option>
                    </select>
                </label>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match events.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! { <p class="empty">"No events recorded yet."</p> }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PER_PAGE total=p.total />
                        <table class="data">
                            <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"What"</th><th>"Target"</th><th>"Detail"</th><th>"From"</th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|e| view! {
                                    <tr>
                                        <td class="nowrap">{patchport_core::clock::format_utc(e.at)}</td>
                                        <td>{if e.actor_name.is_empty() { "system".to_owned() } else { e.actor_name }}</td>
                                        <td><code>{e.action}</code></td>
                                        <td>{e.target}</td>
                                        <td>{e.detail}</td>
                                        <td>{e.source}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

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
        let mut conn = ssr::admin_read().await?;
        let found = patchport_db::audit::list(&mut conn, &action, page, PER_PAGE).await?;
        Ok(found)
    })
    .await
}

/// The kinds of event recorded so far (action prefixes such as `job.`).
#[server(endpoint = "admin/audit/kinds")]
pub async fn audit_kinds() -> Result<Vec<String>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::audit::kinds(&mut conn).await?)
    })
    .await
}

/// What the filter calls a kind of event (an action prefix); a kind not
/// named here is offered by its prefix.
pub fn kind_label(prefix: &str) -> String {
    let label = match prefix {
        "access." => "Refused requests",
        "account." => "Account settings",
        "advisories." => "Advisory imports",
        "agent." => "Agents and enrolment",
        "demo." => "Demo setup",
        "group." => "Server groups",
        "invitation." => "Invitations",
        "job." => "Jobs",
        "kev." => "Known-exploited imports",
        "login." => "Sign-ins",
        "logout" => "Sign-outs",
        "mail." => "Mail",
        "password." => "Password changes",
        "policy." => "Rollout policies",
        "portal." => "Portal settings",
        "reboot." => "Reboots",
        "reboot_rules." => "Reboot rules",
        "rollout." => "Rollouts",
        "deployment." => "Deployments",
        "server." => "Servers",
        "user." => "User management",
        "window." => "Maintenance windows",
        other => return other.trim_end_matches('.').to_owned(),
    };
    label.to_owned()
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
    let kinds = Resource::new(|| (), |_| audit_kinds());
    view! {
        <section class="card">
            <h1>"Audit trail"</h1>
            <div class="toolbar">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        let mut options: Vec<(String, String)> = kinds.await.unwrap_or_default()
                            .into_iter()
                            .map(|k| (kind_label(&k), k))
                            .collect();
                        options.sort();
                        view! {
                            <label>
                                "Kind of event "
                                <select id="audit-kind" on:change=move |ev| { action.set(event_target_value(&ev)); page.set(1); }>
                                    <option value="">"All events"</option>
                                    {options.into_iter().map(|(label, k)| view! { <option value=k>{label}</option> }).collect_view()}
                                </select>
                            </label>
                        }
                    })}
                </Suspense>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match events.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! { <p class="empty">"No events recorded yet."</p> }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PER_PAGE total=p.total />
                        <div class="table-scroll" tabindex="0" role="region" aria-label="Audit events"><table class="data">
                            <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Target"</th><th>"Detail"</th><th>"From"</th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|e| view! {
                                    <tr>
                                        <td class="nowrap"><crate::ui::Time ts={e.at} /></td>
                                        <td>{if e.actor_name.is_empty() { "system".to_owned() } else { e.actor_name }}</td>
                                        <td><code>{e.action}</code></td>
                                        <td>{e.target}</td>
                                        <td>{e.detail}</td>
                                        <td>{e.source}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

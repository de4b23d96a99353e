//! The home page's "what needs doing": for admins across the fleet, for
//! owners on their own servers. Each item is a count with its first rows,
//! an empty state that says so, and links to where the thing is done.

use crate::errors::AppError;
use crate::ui::Time;
use leptos::prelude::*;
use patchport_core::view::Page;
use patchport_core::view::home::{
    AdminHome, DEADLINE_SOON_HOURS, DeploymentRow, KEV_OVERDUE_DAYS, OwnerHome, RebootItem,
    RolloutItem,
};
use serde::{Deserialize, Serialize};

/// What needs doing across the fleet (admins).
#[server(endpoint = "home/admin")]
pub async fn home_for_admin() -> Result<AdminHome, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        let now = ssr::state()?.clock.now();
        Ok(patchport_db::home::admin(&mut conn, now).await?)
    })
    .await
}

/// What needs doing on the caller's own servers (never anyone else's).
#[server(endpoint = "home/owner")]
pub async fn home_for_owner() -> Result<OwnerHome, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        Ok(patchport_db::home::owner(&mut conn, me.id, state.clock.now()).await?)
    })
    .await
}

/// One thing to do: its count and title, then its rows and the link to
/// the rest, or the sentence that says nothing waits.
#[component]
fn Item(
    key: &'static str,
    title: String,
    total: i64,
    empty: String,
    #[prop(optional)] shown: usize,
    #[prop(optional)] more: Option<(String, &'static str)>,
    children: Children,
) -> impl IntoView {
    let due = total > 0;
    let rest = usize::try_from(total).unwrap_or(0).saturating_sub(shown);
    view! {
        <li class=if due { "todo-item due" } else { "todo-item" } id=format!("todo-{key}") data-count=total.to_string()>
            <h3><span class="count">{total}</span>" "{title}</h3>
            {if due {
                view! {
                    {children()}
                    {(rest > 0).then(|| view! { <p class="muted">{format!("… and {rest} more")}</p> })}
                    {more.map(|(href, label)| view! { <p><a class="more" href=href>{label}" ›"</a></p> })}
                }.into_any()
            } else {
                view! { <p class="empty">{empty}</p> }.into_any()
            }}
        </li>
    }
}

fn rollout_list(p: &Page<RolloutItem>, since: &'static str) -> impl IntoView + use<> {
    view! {
        <ul class="todo-rows">
            {p.items.iter().map(|r| view! {
                <li data-rollout=r.id.to_string()>
                    <a href=format!("/rollouts/{}", r.id)>{format!("{} {}", r.package, r.version)}</a>
                    <small>{format!(" {} · {since} ", r.release)}<Time ts=r.since /></small>
                </li>
            }).collect_view()}
        </ul>
    }
}

fn deployment_list(p: &Page<DeploymentRow>) -> impl IntoView + use<> {
    view! {
        <ul class="todo-rows">
            {p.items.iter().map(|d| {
                let c = d.counts;
                view! {
                    <li data-deployment=d.id.to_string()>
                        <a href=format!("/deployments/{}", d.id)>{format!("#{} {}", d.id, crate::deployments::patch_summary(&d.patches))}</a>
                        <small>{format!(" {} of {} servers installed, {} failed, {} pending · ", c.installed, c.targets, c.failed, c.pending)}<Time ts=d.created_at /></small>
                    </li>
                }
            }).collect_view()}
        </ul>
    }
}

/// Servers that must reboot. One without a maintenance window cannot be
/// booked by its owner: the owner is told to ask an admin, an admin is
/// sent to give it a window.
fn reboot_list(p: &Page<RebootItem>, deadline: &'static str, admin: bool) -> impl IntoView + use<> {
    view! {
        <ul class="todo-rows">
            {p.items.iter().map(|r| view! {
                <li data-server=r.hostname.clone() data-window=r.has_window.to_string()>
                    <a href=format!("/servers/{}#reboot-booking", r.server_id)>{r.hostname.clone()}</a>
                    <small>
                        {match r.deadline_at {
                            Some(t) => view! { {format!(" {deadline} ")}<Time ts=t /> }.into_any(),
                            None => view! { " the system asks for a reboot" }.into_any(),
                        }}
                        {r.booked_at.map(|t| view! { " · booked for "<Time ts=t /> })}
                        {(!r.has_window && r.booked_at.is_none()).then(|| if admin {
                            view! { " · no maintenance window: " <a href="/windows">"give it one"</a> }.into_any()
                        } else {
                            view! { <span class="warn">" · no maintenance window to book it in: ask an admin"</span> }.into_any()
                        })}
                    </small>
                </li>
            }).collect_view()}
        </ul>
    }
}

/// The admin's list of what needs doing.
#[component]
pub fn AdminToDo() -> impl IntoView {
    to_do(Resource::new(|| (), |_| home_for_admin()), |h| {
        admin_items(h).into_any()
    })
}

/// The "What needs doing" section, filled by `items` once `home` loaded.
fn to_do<T>(home: Resource<Result<T, AppError>>, items: fn(T) -> AnyView) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + for<'de> Deserialize<'de> + 'static,
{
    view! {
        <section class="todo" id="todo" aria-labelledby="todo-title">
            <h2 id="todo-title">"What needs doing"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match home.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(h) => items(h),
                }})}
            </Transition>
        </section>
    }
}

fn admin_items(h: AdminHome) -> impl IntoView {
    let minutes = 2 * patchport_core::protocol::CHECK_IN_INTERVAL / 60;
    view! {
        <ul class="todo-list">
            <Item key="approval" title="rollouts awaiting approval".into() total=h.awaiting_approval.total
                empty="Nothing waits for approval.".into() shown=h.awaiting_approval.items.len()
                more=("/rollouts?state=observing".into(), "Rollouts under observation")>
                {rollout_list(&h.awaiting_approval, "observed until")}
            </Item>
            <Item key="test-failed" title="test installs failed".into() total=h.test_failed.total
                empty="No test install failed.".into() shown=h.test_failed.items.len()
                more=("/rollouts?state=test_failed".into(), "Rollouts whose test failed")>
                {rollout_list(&h.test_failed, "failed")}
            </Item>
            <Item key="deployments-failed" title="deployments with failed servers".into() total=h.deployments_failed.total
                empty="No deployment failed.".into() shown=h.deployments_failed.items.len()
                more=("/deployments?state=failed".into(), "Failed deployments")>
                {deployment_list(&h.deployments_failed)}
            </Item>
            <Item key="deployments-running" title="deployments running".into() total=h.deployments_running.total
                empty="No deployment is running.".into() shown=h.deployments_running.items.len()
                more=("/deployments?state=running".into(), "Running deployments")>
                {deployment_list(&h.deployments_running)}
            </Item>
            <Item key="silent" title=format!("servers silent for more than {minutes} minutes") total=h.silent.total
                empty=format!("Every server checked in within the last {minutes} minutes.") shown=h.silent.items.len()
                more=("/servers".into(), "All servers")>
                <ul class="todo-rows">
                    {h.silent.items.iter().map(|s| view! {
                        <li data-server=s.hostname.clone()>
                            <a href=format!("/servers/{}", s.id)>{s.hostname.clone()}</a>
                            <small>" last heard "<Time ts=s.last_check_in /></small>
                        </li>
                    }).collect_view()}
                </ul>
            </Item>
            <Item key="deadlines-missed" title="reboot deadlines missed".into() total=h.deadlines_missed.total
                empty="No reboot deadline was missed.".into() shown=h.deadlines_missed.items.len()>
                {reboot_list(&h.deadlines_missed, "was due", true)}
            </Item>
            <Item key="deadlines-soon" title=format!("reboot deadlines in the next {DEADLINE_SOON_HOURS} hours") total=h.deadlines_soon.total
                empty=format!("No reboot is due in the next {DEADLINE_SOON_HOURS} hours.") shown=h.deadlines_soon.items.len()>
                {reboot_list(&h.deadlines_soon, "due", true)}
            </Item>
            <Item key="kev" title=format!("known-exploited patches missing for more than {KEV_OVERDUE_DAYS} days") total=h.kev_overdue.total
                empty=format!("No known-exploited patch has been missing for more than {KEV_OVERDUE_DAYS} days.") shown=h.kev_overdue.items.len()
                more=(format!("/report?known_exploited=true&min_age_days={KEV_OVERDUE_DAYS}"), "These in the report")>
                <ul class="todo-rows">
                    {h.kev_overdue.items.iter().map(|k| view! {
                        <li data-patch=k.patch_id.to_string()>
                            <a href=format!("/patches/{}", k.patch_id)>{format!("{} {}", k.package, k.version)}</a>
                            <small>{format!(" on {} servers, since ", k.servers)}<Time ts=k.oldest /></small>
                        </li>
                    }).collect_view()}
                </ul>
            </Item>
        </ul>
    }
}

/// The owner's list of what needs doing on their servers.
#[component]
pub fn OwnerToDo() -> impl IntoView {
    to_do(Resource::new(|| (), |_| home_for_owner()), |h| {
        owner_items(h).into_any()
    })
}

fn owner_items(h: OwnerHome) -> impl IntoView {
    let c = h.changes;
    let changed = c.published + c.jobs_succeeded + c.jobs_failed + c.notices.total;
    let since_title = if c.since_sign_in {
        "changes since your last sign-in"
    } else {
        "changes in the last week"
    };
    view! {
        <ul class="todo-list">
            <Item key="published" title="servers with published patches to install".into() total=h.published.total
                empty="No published patch waits on your servers.".into() shown=h.published.items.len()
                more=("/servers".into(), "My servers")>
                <ul class="todo-rows">
                    {h.published.items.iter().map(|p| view! {
                        <li data-server=p.hostname.clone()>
                            <a href=format!("/servers/{}#to-install", p.server_id)>{p.hostname.clone()}</a>
                            <small>{format!(" {} patches to install", p.patches)}</small>
                        </li>
                    }).collect_view()}
                </ul>
            </Item>
            <Item key="reboots" title="reboots to book".into() total=h.reboots_to_book.total
                empty="No reboot to book.".into() shown=h.reboots_to_book.items.len()>
                {reboot_list(&h.reboots_to_book, "reboot by", false)}
            </Item>
            <Item key="next-reboot" title="next booked reboot".into() total=i64::from(h.next_reboot.is_some())
                empty="No reboot is booked.".into()>
                {h.next_reboot.map(|b| view! {
                    <p data-server=b.hostname.clone()>
                        <a href=format!("/servers/{}#reboot-booking", b.server_id)>{b.hostname.clone()}</a>
                        " reboots at "<Time ts=b.at />
                    </p>
                })}
            </Item>
            <Item key="changes" title=since_title.into() total=changed
                empty="Nothing changed on your servers since then.".into()>
                <p class="since">{if c.since_sign_in { "Since your last sign-in, " } else { "Since " }}<Time ts=c.since />": "
                    {format!("{} patches published for your servers, {} jobs succeeded, {} failed.", c.published, c.jobs_succeeded, c.jobs_failed)}</p>
                <ul class="todo-rows">
                    {c.notices.items.iter().map(|n| view! {
                        <li>
                            {if n.link.is_empty() {
                                view! { <span>{n.subject.clone()}</span> }.into_any()
                            } else {
                                view! { <a href=n.link.clone()>{n.subject.clone()}</a> }.into_any()
                            }}
                            <small>" "<Time ts=n.created_at /></small>
                        </li>
                    }).collect_view()}
                </ul>
            </Item>
        </ul>
    }
}

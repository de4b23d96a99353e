//! The servers list: admins see all servers, owners their own, filtered
//! and sorted; admins assign owners, criticality and groups in place and
//! revoke agents from it.

use super::enrolment::EnrollmentTokens;
#[cfg(feature = "ssr")]
use super::{account_named, criticality_filter};
use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One server in the list.
pub use patchport_core::view::ServerRow;

/// A page of servers.
pub type ServerPage = patchport_core::view::Page<ServerRow>;

/// Rows per page on the servers page.
pub const PER_PAGE: i64 = 50;

/// Filters and order of the servers list, as the page sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerFilter {
    /// Substring of the host name.
    pub search: String,
    /// Only members of this group.
    pub group_id: Option<i64>,
    /// `critical`, `standard` or empty for both.
    pub criticality: String,
    /// `online`, `stale`, `offline`, `never` or empty for any.
    pub status: String,
    /// `yes`, `no` or empty for any.
    pub reboot: String,
    /// Only servers missing at least one patch.
    pub missing_only: bool,
    /// Sort column: hostname, os, owner, criticality, last_seen, missing,
    /// security.
    pub sort: String,
    /// Largest first.
    pub descending: bool,
}

#[cfg(feature = "ssr")]
impl ServerFilter {
    fn query(
        self,
        me: &crate::accounts::UserView,
        now: i64,
    ) -> Result<patchport_db::servers::ServerQuery, AppError> {
        use patchport_db::servers::{CheckInStatus, ServerSort};
        let criticality = criticality_filter(&self.criticality)?;
        let status = match self.status.as_str() {
            "" => None,
            s => Some(CheckInStatus::parse(s).ok_or_else(|| {
                AppError::invalid("status", "status must be online, stale, offline or never")
            })?),
        };
        let reboot_required = match self.reboot.as_str() {
            "" => None,
            "yes" => Some(true),
            "no" => Some(false),
            _ => return Err(AppError::invalid("reboot", "reboot must be yes or no")),
        };
        let sort = match self.sort.as_str() {
            "" => ServerSort::default(),
            s => ServerSort::parse(s)
                .ok_or_else(|| AppError::invalid("sort", format!("cannot sort by '{s}'")))?,
        };
        Ok(patchport_db::servers::ServerQuery {
            search: self.search,
            owner_id: (me.role != patchport_core::Role::Admin).then_some(me.id),
            id: None,
            group_id: self.group_id,
            criticality,
            status,
            reboot_required,
            missing_only: self.missing_only,
            now,
            sort,
            descending: self.descending,
        })
    }
}

/// Lists servers: all of them for admins, their own for owners.
#[server(endpoint = "servers/list", input = server_fn::codec::Json)]
pub async fn list_servers(filter: ServerFilter, page: i64) -> Result<ServerPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let q = filter.query(&me, now)?;
        let mut conn = state.db.read().await?;
        let mut found = patchport_db::servers::list(&mut conn, &q, page, PER_PAGE).await?;
        let ids: Vec<i64> = found.items.iter().map(|s| s.id).collect();
        let windows = patchport_db::windows::next_for_servers(&mut conn, &ids, now).await?;
        let bookings = patchport_db::windows::first_bookings(&mut conn, &ids).await?;
        for row in &mut found.items {
            row.judge(now);
            row.set_window(windows.get(&row.id).map(|o| (o.start, o.end)), now);
            row.booked_reboot = bookings.get(&row.id).copied();
        }
        Ok(found)
    })
    .await
}

/// Revokes a server's agent credential: its check-ins are refused until it
/// is enrolled again.
#[server(endpoint = "admin/servers/revoke_agent")]
pub async fn revoke_agent(server_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !patchport_db::agents::revoke_credential(&mut w.tx, server_id, w.now).await? {
            return Err(AppError::NotFound);
        }
        let host = ssr::host_name(&mut w.tx, server_id).await;
        w.commit("agent.revoked", &host, "").await?;
        Ok(())
    })
    .await
}

/// Assigns a server to an owner (empty for none) and sets its criticality.
#[server(endpoint = "admin/servers/assign")]
pub async fn assign_server(
    server_id: i64,
    owner: String,
    criticality: String,
) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !matches!(criticality.as_str(), "critical" | "standard") {
            return Err(AppError::invalid(
                "criticality",
                "criticality must be critical or standard",
            ));
        }
        let owner_id = match owner.trim() {
            "" => None,
            name => Some(account_named(&mut w.tx, name).await?),
        };
        patchport_db::servers::set_assignment(&mut w.tx, server_id, owner_id, &criticality).await?;
        let detail = format!("owner '{}', {criticality}", owner.trim());
        let host = ssr::host_name(&mut w.tx, server_id).await;
        w.commit("server.assigned", &host, &detail).await?;
        Ok(())
    })
    .await
}

/// A column header that sorts the list by `column`; a second click turns
/// the order round.
#[component]
fn SortHeader(
    label: &'static str,
    column: &'static str,
    filter: RwSignal<ServerFilter>,
    page: RwSignal<i64>,
) -> impl IntoView {
    let active =
        move || filter.with(|f| f.sort == column || (f.sort.is_empty() && column == "hostname"));
    let arrow = move || match (active(), filter.with(|f| f.descending)) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    view! {
        <th aria-sort=move || match (active(), filter.with(|f| f.descending)) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }>
            <button type="button" class="sort" on:click=move |_| {
                filter.update(|f| {
                    if active() {
                        f.descending = !f.descending;
                    } else {
                        f.sort = column.to_owned();
                        // Counts and recency read best largest first.
                        f.descending = matches!(column, "missing" | "security" | "last_seen");
                    }
                });
                page.set(1);
            }>{label}{arrow}</button>
        </th>
    }
}

/// The servers page.
#[component]
pub fn ServersPage() -> impl IntoView {
    use crate::groups::{
        CreateGroup, DeleteGroup, GroupsCard, SetServerGroups, SetTestGroup, list_groups,
    };
    let revoke = ServerAction::<RevokeAgent>::new();
    let assign = ServerAction::<AssignServer>::new();
    let set_groups = ServerAction::<SetServerGroups>::new();
    let create_group = ServerAction::<CreateGroup>::new();
    let delete_group = ServerAction::<DeleteGroup>::new();
    let set_test = ServerAction::<SetTestGroup>::new();
    let filter = RwSignal::new(ServerFilter::default());
    let page = RwSignal::new(1_i64);
    let servers = Resource::new(
        move || {
            (
                filter.get(),
                page.get(),
                revoke.version().get(),
                assign.version().get(),
                set_groups.version().get(),
                delete_group.version().get(),
            )
        },
        |(f, p, ..)| list_servers(f, p),
    );
    let admin = use_context::<crate::accounts::UserView>()
        .is_some_and(|u| u.role == patchport_core::Role::Admin);
    let groups = Resource::new(
        move || {
            (
                create_group.version().get(),
                delete_group.version().get(),
                set_test.version().get(),
                set_groups.version().get(),
            )
        },
        move |_| async move {
            if admin {
                list_groups().await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let set = move |change: fn(&mut ServerFilter, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            filter.update(|f| change(f, value));
            page.set(1);
        }
    };
    view! {
        <section class="card">
            <h1>{if admin { "Servers" } else { "My servers" }}</h1>
            <div class="toolbar filters" id="server-filters">
                <input type="search" placeholder="Search host name" aria-label="Search servers"
                    prop:value=move || filter.with(|f| f.search.clone())
                    on:input=set(|f, v| f.search = v) />
                {admin.then(|| view! {
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = groups.await.unwrap_or_default();
                            view! {
                                <select aria-label="Group" on:change=set(|f, v| f.group_id = v.parse().ok())>
                                    <option value="">"All groups"</option>
                                    {list.into_iter().map(|g| view! {
                                        <option value=g.id.to_string() selected=move || filter.with(|f| f.group_id == Some(g.id))>
                                            {if g.is_test_group { format!("{} (test)", g.name) } else { g.name.clone() }}
                                        </option>
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                })}
                <select aria-label="Criticality" on:change=set(|f, v| f.criticality = v)>
                    <option value="">"Any criticality"</option>
                    <option value="critical">"critical"</option>
                    <option value="standard">"standard"</option>
                </select>
                <select aria-label="Status" on:change=set(|f, v| f.status = v)>
                    <option value="">"Any status"</option>
                    <option value="online">"online"</option>
                    <option value="stale">"stale (over 10 min)"</option>
                    <option value="offline">"offline (over a day)"</option>
                    <option value="never">"never checked in"</option>
                </select>
                <select aria-label="Reboot" on:change=set(|f, v| f.reboot = v)>
                    <option value="">"Reboot: any"</option>
                    <option value="yes">"reboot required"</option>
                    <option value="no">"no reboot required"</option>
                </select>
                <label class="check">
                    <input type="checkbox" prop:checked=move || filter.with(|f| f.missing_only)
                        on:change=move |ev| { let on = event_target_checked(&ev); filter.update(|f| f.missing_only = on); page.set(1); } />
                    " missing patches only"
                </label>
            </div>
            <FormError action=revoke />
            <FormError action=assign />
            <FormError action=set_groups />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let all_groups = groups.await.unwrap_or_default();
                    let filtered = filter.with_untracked(|f| *f != ServerFilter { sort: f.sort.clone(), descending: f.descending, ..Default::default() });
                    match servers.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() && filtered => view! {
                        <p class="empty">"No servers match these filters."</p>
                    }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <p class="empty">{if admin {
                            "No servers yet. Create an enrolment token below and run the agent's enroll command on a server."
                        } else {
                            "No servers are assigned to you yet. Your administrators assign them."
                        }}</p>
                    }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="servers">
                            <thead><tr>
                                <SortHeader label="Host" column="hostname" filter page />
                                <SortHeader label="OS" column="os" filter page />
                                <th>"Groups"</th>
                                {admin.then(|| view! { <SortHeader label="Owner" column="owner" filter page /> })}
                                <SortHeader label="Criticality" column="criticality" filter page />
                                <SortHeader label="Last seen" column="last_seen" filter page />
                                <SortHeader label="Missing" column="missing" filter page />
                                <SortHeader label="Security" column="security" filter page />
                                <th>"Published"</th><th>"Reboot"</th><th>"Next window"</th><th>"Agent"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|s| {
                                    let id = s.id;
                                    view! {
                                        <tr data-server=s.hostname.clone()>
                                            <td><a href=format!("/servers/{id}")>{s.hostname.clone()}</a></td>
                                            <td>{s.os_name.clone()}</td>
                                            {if admin {
                                                view! { <GroupCell id current=s.groups.clone() all=all_groups.clone() set_groups /> }.into_any()
                                            } else {
                                                view! { <td>{s.groups.iter().map(|g| g.1.clone()).collect::<Vec<_>>().join(", ")}</td> }.into_any()
                                            }}
                                            {if admin {
                                                view! { <AssignCells id owner=s.owner.clone().unwrap_or_default() criticality=s.criticality.clone() assign /> }.into_any()
                                            } else {
                                                // An owner's list holds only their servers: no owner column.
                                                view! {
                                                    <td><span class=format!("badge crit-{}", s.criticality)>{s.criticality.clone()}</span></td>
                                                }.into_any()
                                            }}
                                            <td class="nowrap">
                                                <span class=format!("dot {}", s.status)></span>
                                                {s.status.clone()} " "
                                                <small>{s.last_check_in.map(crate::ui::when).unwrap_or_default()}</small>
                                            </td>
                                            <td>{s.missing}</td>
                                            <td class:warn=move || { s.missing_security > 0 }>{s.missing_security}</td>
                                            <td class="published" class:warn=move || { s.published > 0 }>
                                                {(s.published > 0).then(|| view! { <a href=format!("/servers/{id}")>{format!("{} to install", s.published)}</a> })}
                                            </td>
                                            <td class="reboot">{match (s.booked_reboot, s.reboot_required) {
                                                (Some(at), _) => format!("booked {}", crate::ui::when(at)),
                                                // Only a server with a window can have a reboot booked.
                                                (None, true) if s.next_window.is_some() => "required: book it".to_owned(),
                                                (None, true) => "required: no window to book it in, ask an admin".to_owned(),
                                                (None, false) => String::new(),
                                            }}</td>
                                            <td class="window"><small>{match s.next_window {
                                                Some((_, end)) if s.window_open => format!("open until {}", crate::ui::when(end)),
                                                Some((start, _)) => crate::ui::when(start),
                                                None => "none".to_owned(),
                                            }}</small></td>
                                            <td>
                                                {if !s.agent_active {
                                                    view! { <span class="badge">"revoked"</span> }.into_any()
                                                } else if admin {
                                                    view! { <RevokeButton id revoke /> }.into_any()
                                                } else {
                                                    view! { <span>"active"</span> }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
        {admin.then(|| view! {
            <GroupsCard create=create_group delete=delete_group set_test groups />
            <EnrollmentTokens />
        })}
    }
}

/// A server's groups, which an admin can change in place.
#[component]
fn GroupCell(
    id: i64,
    current: Vec<(i64, String)>,
    all: Vec<crate::groups::GroupView>,
    set_groups: ServerAction<crate::groups::SetServerGroups>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let chosen = RwSignal::new(
        current
            .iter()
            .map(|g| g.0)
            .collect::<std::collections::BTreeSet<i64>>(),
    );
    let shown = if current.is_empty() {
        "—".to_owned()
    } else {
        current
            .iter()
            .map(|g| g.1.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let any_groups = !all.is_empty();
    view! {
        <td>
            <Show when=move || editing.get() fallback=move || view! {
                {shown.clone()}" "
                {any_groups.then(|| view! {
                    <button type="button" class="small" aria-label="Edit groups" on:click=move |_| editing.set(true)>"Edit"</button>
                })}
            }>
                <form class="inline groups" on:submit=move |ev| {
                    ev.prevent_default();
                    set_groups.dispatch(crate::groups::SetServerGroups { server_id: id, group_ids: chosen.get_untracked().into_iter().collect() });
                    editing.set(false);
                }>
                    {all.iter().map(|g| {
                        let gid = g.id;
                        view! {
                            <label class="check">
                                <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&gid))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| { if on { c.insert(gid); } else { c.remove(&gid); } });
                                    } />
                                {g.name.clone()}
                            </label>
                        }
                    }).collect_view()}
                    <button type="submit" class="primary small">"Save"</button>
                    <button type="button" class="small" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </Show>
        </td>
    }
}

/// Owner and criticality cells that an admin can edit in place.
#[component]
fn AssignCells(
    id: i64,
    owner: String,
    criticality: String,
    assign: ServerAction<AssignServer>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let new_owner = RwSignal::new(owner.clone());
    let new_crit = RwSignal::new(criticality.clone());
    let shown_owner = if owner.is_empty() {
        "—".to_owned()
    } else {
        owner
    };
    view! {
        <Show when=move || editing.get() fallback=move || {
            let (o, c) = (shown_owner.clone(), criticality.clone());
            view! {
                <td>{o}</td>
                <td>
                    <span class=format!("badge crit-{c}")>{c.clone()}</span>" "
                    <button type="button" class="small" aria-label="Edit owner and criticality" on:click=move |_| editing.set(true)>"Edit"</button>
                </td>
            }
        }>
            <td colspan="2">
                <form class="inline" on:submit=move |ev| {
                    ev.prevent_default();
                    assign.dispatch(AssignServer { server_id: id, owner: new_owner.get_untracked(), criticality: new_crit.get_untracked() });
                    editing.set(false);
                }>
                    <input type="text" placeholder="owner's user name" aria-label="Owner"
                        prop:value=new_owner on:input=move |ev| new_owner.set(event_target_value(&ev)) />
                    <select aria-label="Criticality" prop:value=new_crit on:change=move |ev| new_crit.set(event_target_value(&ev))>
                        <option value="standard">"standard"</option>
                        <option value="critical">"critical"</option>
                    </select>
                    <button type="submit" class="primary">"Save"</button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </td>
        </Show>
    }
}

#[component]
fn RevokeButton(id: i64, revoke: ServerAction<RevokeAgent>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    view! {
        <Show when=move || confirming.get() fallback=move || view! {
            <button type="button" on:click=move |_| confirming.set(true)>"Revoke"</button>
        }>
            <span class="confirm" role="alertdialog">
                "Refuse this agent's check-ins?"
                <button type="button" class="danger" on:click=move |_| {
                    revoke.dispatch(RevokeAgent { server_id: id });
                    confirming.set(false);
                }>"Revoke"</button>
                <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
        </Show>
    }
}

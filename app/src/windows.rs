//! Maintenance windows (admins): define recurring windows in a time zone,
//! apply them to groups and servers, and see the upcoming ones.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use patchport_core::window::{Occurrence, Window};
use serde::{Deserialize, Serialize};

/// A window as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// When it recurs.
    pub window: Window,
    /// "Tue, Thu 22:00–02:00 Europe/Berlin (4 h)".
    pub summary: String,
    /// Groups it applies to.
    pub groups: Vec<String>,
    /// Servers it applies to directly.
    pub servers: Vec<String>,
    /// The next occurrences (the open one first).
    pub upcoming: Vec<Occurrence>,
}

/// Every window, with its next occurrences.
#[server(endpoint = "admin/windows/list")]
pub async fn list_windows() -> Result<Vec<WindowView>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        Ok(patchport_db::windows::list(&mut conn)
            .await?
            .into_iter()
            .map(|w| WindowView {
                id: w.id,
                name: w.name,
                summary: w.window.describe(),
                upcoming: w.window.upcoming(now, 5),
                window: w.window,
                groups: w.groups,
                servers: w.servers,
            })
            .collect())
    })
    .await
}

/// Two weeks of windows from this week's Monday, in the reader's zone, for
/// the calendar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarView {
    /// Today's date in the reader's zone (`YYYY-MM-DD`).
    pub today: String,
    /// The zone the days are cut in.
    pub zone: String,
    /// Per day (14): its local midnight, its date and its windows'
    /// openings by time.
    pub days: Vec<(i64, String, Vec<Slot>)>,
}

/// A window opening in the calendar: (window name, opens, closes).
pub type Slot = (String, i64, i64);

/// Days the calendar shows.
pub const CALENDAR_DAYS: i64 = 14;

/// The windows' occurrences over two weeks from this week's Monday, each on
/// the day it opens in the reader's zone.
#[server(endpoint = "admin/windows/calendar")]
pub async fn window_calendar() -> Result<CalendarView, AppError> {
    use crate::ssr;
    use patchport_core::clock::{local_days, local_input};
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut days: Vec<(i64, String, Vec<Slot>)> = local_days(now, &me.zone, CALENDAR_DAYS + 1)
            .into_iter()
            .map(|(start, date)| (start, date, Vec::new()))
            .collect();
        // The day after the last one only marks where the last one ends.
        let Some((end, _, _)) = days.pop() else {
            return Err(AppError::Internal);
        };
        let start = days.first().map_or(end, |d| d.0);
        let mut conn = state.db.read().await?;
        for w in patchport_db::windows::list(&mut conn).await? {
            // At most a few occurrences a day, over two weeks.
            for o in w.window.upcoming(start, 64) {
                if o.start >= end {
                    break;
                }
                if let Some(day) = days.iter_mut().rev().find(|d| d.0 <= o.start) {
                    day.2.push((w.name.clone(), o.start, o.end));
                }
            }
        }
        for day in &mut days {
            day.2.sort_by_key(|(name, opens, _)| (*opens, name.clone()));
        }
        let today = local_input(now, &me.zone)[..10].to_owned();
        Ok(CalendarView {
            today,
            zone: me.zone,
            days,
        })
    })
    .await
}

/// The calendar: two weeks of windows, Monday first, in the reader's zone.
#[component]
fn CalendarCard(version: Signal<(usize, usize)>) -> impl IntoView {
    let calendar = Resource::new(move || version.get(), |_| window_calendar());
    view! {
        <section class="card">
            <h2>"Calendar"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match calendar.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(c) if c.days.iter().all(|d| d.2.is_empty()) => view! { <p class="empty" id="window-calendar">"No window opens in these two weeks: create one below."</p> }.into_any(),
                    Ok(c) => {
                        let zone = c.zone.clone();
                        let hm = move |t: i64| patchport_core::clock::local_hm(t, &zone);
                        let weeks: Vec<Vec<(i64, String, Vec<Slot>)>> = c.days.chunks(7).map(<[_]>::to_vec).collect();
                        let today = c.today.clone();
                        view! {
                            <p class="hint">{format!("Times in {}.", c.zone)}</p>
                            <div class="table-scroll">
                            <table class="calendar" id="window-calendar">
                                <thead><tr>{["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].map(|d| view! { <th>{d}</th> }).collect_view()}</tr></thead>
                                <tbody>
                                    {weeks.into_iter().map(|week| view! {
                                        <tr>{week.into_iter().map(|(_, date, list)| view! {
                                            <td class:today=date == today class:past=date < today data-day=date.clone()>
                                                <span class="date">{date[5..10].to_owned()}</span>
                                                {list.into_iter().map(|(name, opens, closes)| {
                                                    let title = format!("{name}: {} – {}", crate::ui::when(opens), crate::ui::when(closes));
                                                    view! { <span class="slot" title=title><b>{format!("{}–{}", hm(opens), hm(closes))}</b>" "{name}</span> }
                                                }).collect_view()}
                                            </td>
                                        }).collect_view()}</tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            </div>
                        }.into_any()
                    }
                }})}
            </Transition>
        </section>
    }
}

/// Creates a window and applies it to groups and servers (host names).
#[server(endpoint = "admin/windows/create", input = server_fn::codec::Json)]
pub async fn create_window(
    name: String,
    window: Window,
    group_ids: Vec<i64>,
    hostnames: Vec<String>,
) -> Result<i64, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = AppError::named("name", "a window", &name)?;
        let window = window
            .validated()
            .map_err(|e| AppError::invalid("window", e.to_string()))?;
        let servers = named_servers(&mut w.tx, &hostnames).await?;
        let id = patchport_db::windows::create(&mut w.tx, &name, &window, w.now).await?;
        patchport_db::windows::assign(&mut w.tx, id, &group_ids, &servers).await?;
        w.commit("window.created", &name, &window.describe())
            .await?;
        Ok(id)
    })
    .await
}

/// The new-window form, posted URL-encoded (by the hydrated page or,
/// without JavaScript, by the browser): `days[]` once per ticked day (1 =
/// Monday), `start` as `HH:MM`, `hours` (fractions allowed), the time
/// zone, one group (`group_id`, 0 for none) and host names separated by
/// commas or spaces. Creates it as [`create_window`] does.
#[server(endpoint = "admin/windows/submit")]
pub async fn submit_window(
    #[server(default)] name: String,
    #[server(default)] days: Vec<u8>,
    #[server(default)] start: String,
    #[server(default)] hours: String,
    #[server(default)] time_zone: String,
    #[server(default)] group_id: i64,
    #[server(default)] hostnames: String,
) -> Result<i64, AppError> {
    // A start or duration that does not read is refused by the window's
    // own checks, with their words.
    let start_minute = start
        .trim()
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u16>().ok()?, m.parse::<u16>().ok()?)))
        .filter(|&(h, m)| h < 24 && m < 60)
        .map_or(24 * 60, |(h, m)| h * 60 + m);
    let duration_minutes = (hours.trim().parse::<f64>().unwrap_or(0.0) * 60.0).round() as u32;
    let id = create_window(
        name,
        Window {
            days,
            start_minute,
            duration_minutes,
            time_zone: time_zone.trim().to_owned(),
        },
        (group_id > 0).then_some(group_id).into_iter().collect(),
        hostnames
            .split([',', ' '])
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
    )
    .await?;
    crate::ui::back_to_page(None);
    Ok(id)
}

#[cfg(feature = "ssr")]
async fn named_servers(
    conn: &mut patchport_db::Conn,
    hostnames: &[String],
) -> Result<Vec<i64>, AppError> {
    let names: Vec<String> = hostnames
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    patchport_db::rollouts::servers_named(conn, &names)
        .await
        .map_err(|e| AppError::invalid("hostnames", AppError::from(e).to_string()))
}

/// Applies a window to exactly these groups and servers.
#[server(endpoint = "admin/windows/assign", input = server_fn::codec::Json)]
pub async fn assign_window(
    id: i64,
    group_ids: Vec<i64>,
    hostnames: Vec<String>,
) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let servers = named_servers(&mut w.tx, &hostnames).await?;
        patchport_db::windows::assign(&mut w.tx, id, &group_ids, &servers).await?;
        w.commit(
            "window.assigned",
            &format!("window {id}"),
            &format!("groups {group_ids:?}, servers {}", hostnames.join(", ")),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Deletes a window.
#[server(endpoint = "admin/windows/delete")]
pub async fn delete_window(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = patchport_db::windows::delete(&mut w.tx, id).await?;
        w.commit("window.deleted", &name, "").await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `/windows`: the windows, where they apply, the upcoming ones, and a
/// form for a new one.
#[component]
pub fn WindowsPage() -> impl IntoView {
    let create = ServerAction::<SubmitWindow>::new();
    let delete = ServerAction::<DeleteWindow>::new();
    let windows = Resource::new(
        move || (create.version().get(), delete.version().get()),
        |_| list_windows(),
    );
    let groups = Resource::new(|| (), |_| crate::groups::list_groups());
    view! {
        <section class="card">
            <h1>"Maintenance windows"</h1>
            <p class="hint">"Automatic deployments to standard servers run inside a server's windows (its own and its groups'). A start time that a daylight-saving change skips opens after the jump (02:30 becomes 03:30); one that happens twice opens at the first; durations are real hours."</p>
            <FormError action=delete />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match windows.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No maintenance windows yet: approved patches are published for standard servers instead of deployed."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-scroll"><table class="data" id="windows">
                            <thead><tr><th>"Window"</th><th>"When"</th><th>"Applies to"</th><th>"Next"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|w| {
                                    let id = w.id;
                                    let question = format!("Delete window {}?", w.name);
                                    let applies = w.groups.iter().map(|g| format!("group {g}")).chain(w.servers.iter().cloned()).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <tr data-window=w.name.clone()>
                                            <td>{w.name.clone()}</td>
                                            <td>{w.summary.clone()}</td>
                                            <td>{if applies.is_empty() { "nothing yet".to_owned() } else { applies }}</td>
                                            <td><small>{w.upcoming.iter().take(3).map(|o| format!("{} – {}", crate::ui::when(o.start), crate::ui::when(o.end))).collect::<Vec<_>>().join("; ")}</small></td>
                                            <td>
                                                <crate::ui::ConfirmDelete question=question.clone() step=format!("delete-window-{id}")>
                                                    <ActionForm action=delete attr:class="inline">
                                                        <input type="hidden" name="id" value=id.to_string() />
                                                        <button type="submit" class="danger">"Delete"</button>
                                                    </ActionForm>
                                                </crate::ui::ConfirmDelete>
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
        <CalendarCard version=Signal::derive(move || (create.version().get(), delete.version().get())) />
        <section class="card">
            <h2>"New window"</h2>
            <ActionForm action=create attr:id="new-window">
                <label>"Name "<input type="text" name="name" required maxlength="64" aria-label="Window name" /></label>
                <fieldset class="days"><legend>"Days"</legend>
                    {(1u8..=7).map(|d| view! {
                        <label class="check"><input type="checkbox" name="days[]" value=d.to_string() aria-label=DAYS[usize::from(d - 1)] />
                            {DAYS[usize::from(d - 1)]}</label>
                    }).collect_view()}
                </fieldset>
                <label>"Starts "<input type="time" name="start" value="22:00" aria-label="Start time" /></label>
                <label>"Hours "<input type="number" name="hours" value="4" min="0.25" max="168" step="0.25" aria-label="Duration in hours" /></label>
                <label>"Time zone "<input type="text" name="time_zone" value="UTC" aria-label="Time zone" list="zones" /></label>
                <datalist id="zones">
                    {["UTC", "Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York", "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney"]
                        .into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
                </datalist>
                <label>"Group "<select name="group_id" aria-label="Group">
                    <option value="0">"—"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move { groups.await.map(|list| list.into_iter().map(|g| view! {
                            <option value=g.id.to_string()>{g.name}</option>
                        }).collect_view()).unwrap_or_default() })}
                    </Suspense>
                </select></label>
                <label>"Servers "<input type="text" name="hostnames" aria-label="Servers" placeholder="host names" /></label>
                <button type="submit" class="primary">"Create window"</button>
            </ActionForm>
            <FormError action=create />
        </section>
        <crate::booking::RebootRulesCard />
    }
}

//! Maintenance windows (admins): define recurring windows in a time zone,
//! apply them to groups and servers, edit and delete them, and see the
//! upcoming ones. A change that leaves booked reboots outside every window
//! of their servers is refused, naming them, unless the admin asks to
//! cancel those bookings (their owners are then mailed).

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
    /// The same groups' ids.
    pub group_ids: Vec<i64>,
    /// Servers it applies to directly.
    pub servers: Vec<String>,
    /// The next occurrences (the open one first).
    pub upcoming: Vec<Occurrence>,
    /// Booked reboots only this window holds, as (host, time): deleting
    /// it cancels them.
    pub only_here: Vec<(String, i64)>,
}

/// Every window, with its next occurrences.
#[server(endpoint = "admin/windows/list")]
pub async fn list_windows() -> Result<Vec<WindowView>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        read_windows(&mut conn, ssr::state()?.clock.now()).await
    })
    .await
}

/// The windows page's data in one call: the windows and the calendar,
/// read once.
#[server(endpoint = "admin/windows/page")]
pub async fn windows_page() -> Result<(Vec<WindowView>, CalendarView), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let mut conn = ssr::admin_read().await?;
        let now = ssr::state()?.clock.now();
        let windows = read_windows(&mut conn, now).await?;
        let calendar = calendar_of(now, &me.zone, windows.iter().map(|w| (&w.name, &w.window)))?;
        Ok((windows, calendar))
    })
    .await
}

/// Every window as the page lists it.
#[cfg(feature = "ssr")]
async fn read_windows(
    conn: &mut patchport_db::Conn,
    now: i64,
) -> Result<Vec<WindowView>, AppError> {
    let mut held = patchport_db::windows::held_only_by(conn).await?;
    Ok(patchport_db::windows::list(conn)
        .await?
        .into_iter()
        .map(|w| WindowView {
            id: w.id,
            name: w.name,
            summary: w.window.describe(),
            upcoming: w.window.upcoming(now, 5),
            window: w.window,
            groups: w.groups,
            group_ids: w.group_ids,
            servers: w.servers,
            only_here: held
                .remove(&w.id)
                .unwrap_or_default()
                .into_iter()
                .map(|b| (b.host, b.at))
                .collect(),
        })
        .collect())
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
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let mut conn = ssr::admin_read().await?;
        let now = ssr::state()?.clock.now();
        let windows = patchport_db::windows::list(&mut conn).await?;
        calendar_of(now, &me.zone, windows.iter().map(|w| (&w.name, &w.window)))
    })
    .await
}

/// The calendar of these (name, window) pairs from `now`'s week, in `zone`.
#[cfg(feature = "ssr")]
fn calendar_of<'a>(
    now: i64,
    zone: &str,
    windows: impl Iterator<Item = (&'a String, &'a Window)>,
) -> Result<CalendarView, AppError> {
    use patchport_core::clock::{local_days, local_input};
    let mut days: Vec<(i64, String, Vec<Slot>)> = local_days(now, zone, CALENDAR_DAYS + 1)
        .into_iter()
        .map(|(start, date)| (start, date, Vec::new()))
        .collect();
    // The day after the last one only marks where the last one ends.
    let Some((end, _, _)) = days.pop() else {
        return Err(AppError::Internal);
    };
    let start = days.first().map_or(end, |d| d.0);
    for (name, window) in windows {
        // At most a few occurrences a day, over two weeks.
        for o in window.upcoming(start, 64) {
            if o.start >= end {
                break;
            }
            if let Some(day) = days.iter_mut().rev().find(|d| d.0 <= o.start) {
                day.2.push((name.clone(), o.start, o.end));
            }
        }
    }
    for day in &mut days {
        day.2.sort_by_key(|(name, opens, _)| (*opens, name.clone()));
    }
    Ok(CalendarView {
        today: local_input(now, zone)[..10].to_owned(),
        zone: zone.to_owned(),
        days,
    })
}

/// The windows page's data, loaded once for its parts.
type PageData = Resource<Result<(Vec<WindowView>, CalendarView), AppError>>;

/// The calendar: two weeks of windows, Monday first, in the reader's zone.
#[component]
fn CalendarCard(page: PageData) -> impl IntoView {
    view! {
        <section class="card">
            <h2>"Calendar"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match page.await.map(|p| p.1) {
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

/// A window as a form sends it: `days[]` once per ticked day (1 =
/// Monday), `start` as `HH:MM`, `hours` (fractions allowed), the time
/// zone. A start or duration that does not read is refused by the
/// window's own checks, with their words.
#[cfg(feature = "ssr")]
fn form_window(days: Vec<u8>, start: &str, hours: &str, time_zone: &str) -> Window {
    let start_minute = start
        .trim()
        .split_once(':')
        .and_then(|(h, m)| Some((h.parse::<u16>().ok()?, m.parse::<u16>().ok()?)))
        .filter(|&(h, m)| h < 24 && m < 60)
        .map_or(24 * 60, |(h, m)| h * 60 + m);
    let duration_minutes = (hours.trim().parse::<f64>().unwrap_or(0.0) * 60.0).round() as u32;
    Window {
        days,
        start_minute,
        duration_minutes,
        time_zone: time_zone.trim().to_owned(),
    }
}

/// Host names typed into a form, separated by commas or spaces.
#[cfg(feature = "ssr")]
fn form_hosts(hostnames: &str) -> Vec<String> {
    hostnames
        .split([',', ' '])
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The new-window form, posted URL-encoded (by the hydrated page or,
/// without JavaScript, by the browser): the window's fields as
/// [`form_window`] reads them, one group (`group_id`, 0 for none) and host
/// names separated by commas or spaces. Creates it as [`create_window`]
/// does.
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
    let id = create_window(
        name,
        form_window(days, &start, &hours, &time_zone),
        (group_id > 0).then_some(group_id).into_iter().collect(),
        form_hosts(&hostnames),
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

/// After a change of the windows in `w`'s transaction: refits the booked
/// reboots (`patchport_db::windows::refit_bookings`). Those left outside
/// every window refuse the change, named with their times in the admin's
/// zone (the transaction rolls back), unless `cancel` asks to cancel them.
#[cfg(feature = "ssr")]
async fn refit(
    w: &mut crate::ssr::AdminWrite,
    cancel: bool,
) -> Result<Vec<patchport_db::windows::Stranded>, AppError> {
    let stranded = patchport_db::windows::refit_bookings(&mut w.tx, w.now, cancel).await?;
    if !cancel && !stranded.is_empty() {
        let zone = w.me.zone.clone();
        return Err(AppError::invalid(
            "cancel_bookings",
            format!(
                "Not saved: this leaves booked reboots outside every maintenance window of \
                 their servers: {}. Tick \u{201c}{CANCEL_LABEL}\u{201d} to save it anyway, or \
                 change it so they still fit.",
                bookings_text(&stranded, |t| patchport_core::clock::format_in(t, &zone))
            ),
        ));
    }
    Ok(stranded)
}

/// "web-1 at 2027-03-29 04:30 CEST, db-2 at …", times as `when` writes
/// them.
#[cfg(feature = "ssr")]
fn bookings_text(
    bookings: &[patchport_db::windows::Stranded],
    when: impl Fn(i64) -> String,
) -> String {
    bookings
        .iter()
        .map(|b| format!("{} at {}", b.host, when(b.at)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "; cancelled web-1 at 2027-03-29 02:30 UTC" for the audit trail, or
/// nothing when no booking was cancelled.
#[cfg(feature = "ssr")]
fn cancelled_note(cancelled: &[patchport_db::windows::Stranded]) -> String {
    if cancelled.is_empty() {
        String::new()
    } else {
        format!(
            "; cancelled {}",
            bookings_text(cancelled, patchport_core::clock::format_utc)
        )
    }
}

/// The edit form's box that lets a change cancel the bookings it strands.
const CANCEL_LABEL: &str =
    "Cancel booked reboots this leaves outside every window (their owners are mailed)";

/// What saving a window answers.
#[cfg(feature = "ssr")]
fn saved_text(name: &str, cancelled: &[patchport_db::windows::Stranded], zone: &str) -> String {
    if cancelled.is_empty() {
        format!("Saved window {name}.")
    } else {
        format!(
            "Saved window {name}. Cancelled, and their owners will be mailed: {}.",
            bookings_text(cancelled, |t| patchport_core::clock::format_in(t, zone))
        )
    }
}

/// Changes a window: its name, when it recurs, and exactly which groups
/// and servers it applies to, checked as [`create_window`] checks them.
/// Booked reboots still inside a window expire when it now closes; a
/// change that leaves some outside every window is refused, naming them,
/// unless `cancel_bookings` (then they are cancelled and their owners
/// mailed). Audited with the window as it was.
#[server(endpoint = "admin/windows/update", input = server_fn::codec::Json)]
pub async fn update_window(
    id: i64,
    name: String,
    window: Window,
    group_ids: Vec<i64>,
    hostnames: Vec<String>,
    #[server(default)] cancel_bookings: bool,
) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let before = patchport_db::windows::get(&mut w.tx, id).await?;
        let name = AppError::named("name", "a window", &name)?;
        let window = window
            .validated()
            .map_err(|e| AppError::invalid("window", e.to_string()))?;
        let servers = named_servers(&mut w.tx, &hostnames).await?;
        patchport_db::windows::update(&mut w.tx, id, &name, &window).await?;
        patchport_db::windows::assign(&mut w.tx, id, &group_ids, &servers).await?;
        let cancelled = refit(&mut w, cancel_bookings).await?;
        let detail = format!(
            "{}; groups {group_ids:?}, servers {}; was {} {}{}",
            window.describe(),
            hostnames.join(", "),
            before.name,
            before.window.describe(),
            cancelled_note(&cancelled)
        );
        let zone = w.me.zone.clone();
        w.commit("window.updated", &name, &detail).await?;
        Ok(saved_text(&name, &cancelled, &zone))
    })
    .await
}

pub use edit_form::*;

/// The edit form's server function (its own module: one argument per form
/// field is more than clippy's limit, and the macro's copies of the
/// function do not carry an `allow`).
#[allow(clippy::too_many_arguments)]
mod edit_form {
    use super::*;

    /// The edit form, posted URL-encoded (by the hydrated page or, without
    /// JavaScript, by the browser): the window's fields as [`form_window`]
    /// reads them, `group_ids[]` once per ticked group, host names separated
    /// by commas or spaces, and `cancel_bookings` when ticked. Saves it as
    /// [`update_window`] does.
    #[server(endpoint = "admin/windows/edit")]
    pub async fn submit_window_edit(
        id: i64,
        #[server(default)] name: String,
        #[server(default)] days: Vec<u8>,
        #[server(default)] start: String,
        #[server(default)] hours: String,
        #[server(default)] time_zone: String,
        #[server(default)] group_ids: Vec<i64>,
        #[server(default)] hostnames: String,
        #[server(default)] cancel_bookings: bool,
    ) -> Result<String, AppError> {
        let saved = update_window(
            id,
            name,
            form_window(days, &start, &hours, &time_zone),
            group_ids,
            form_hosts(&hostnames),
            cancel_bookings,
        )
        .await?;
        crate::ui::back_to_page(Some(EDIT_DONE));
        Ok(saved)
    }
}

/// The page was reloaded after saving a window without JavaScript
/// (`?done=…`).
const EDIT_DONE: &str = "window-saved";

/// Applies a window to exactly these groups and servers; bookings are
/// refitted as by [`update_window`].
#[server(endpoint = "admin/windows/assign", input = server_fn::codec::Json)]
pub async fn assign_window(
    id: i64,
    group_ids: Vec<i64>,
    hostnames: Vec<String>,
    #[server(default)] cancel_bookings: bool,
) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let servers = named_servers(&mut w.tx, &hostnames).await?;
        patchport_db::windows::assign(&mut w.tx, id, &group_ids, &servers).await?;
        let cancelled = refit(&mut w, cancel_bookings).await?;
        w.commit(
            "window.assigned",
            &format!("window {id}"),
            &format!(
                "groups {group_ids:?}, servers {}{}",
                hostnames.join(", "),
                cancelled_note(&cancelled)
            ),
        )
        .await?;
        Ok(())
    })
    .await
}

/// Deletes a window. Booked reboots only it held are refused as by
/// [`update_window`], unless `cancel_bookings` (the page's confirmation
/// names them and sends it).
#[server(endpoint = "admin/windows/delete")]
pub async fn delete_window(
    id: i64,
    #[server(default)] cancel_bookings: bool,
) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = patchport_db::windows::delete(&mut w.tx, id).await?;
        let cancelled = refit(&mut w, cancel_bookings).await?;
        let detail = cancelled_note(&cancelled);
        w.commit("window.deleted", &name, detail.trim_start_matches("; "))
            .await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// The confirmation step that opens window `id`'s edit form.
fn edit_step(id: i64) -> String {
    format!("edit-window-{id}")
}

/// The window whose edit form the page was loaded with
/// (`?confirm=edit-window-<id>`, see [`crate::ui::StepButton`]).
fn editing_from_query() -> Option<i64> {
    leptos_router::hooks::use_query_map().with_untracked(|q| {
        q.get(crate::ui::CONFIRM)?
            .strip_prefix("edit-window-")?
            .parse()
            .ok()
    })
}

/// A duration in minutes as the hours field shows it ("4", "1.5").
fn hours_text(minutes: u32) -> String {
    if minutes.is_multiple_of(60) {
        (minutes / 60).to_string()
    } else {
        format!("{}", f64::from(minutes) / 60.0)
    }
}

/// `/windows`: the windows, where they apply, the upcoming ones, a form
/// for a new one, and each one's edit form.
#[component]
pub fn WindowsPage() -> impl IntoView {
    let create = ServerAction::<SubmitWindow>::new();
    let delete = ServerAction::<DeleteWindow>::new();
    let edit = ServerAction::<SubmitWindowEdit>::new();
    let versions = move || {
        (
            create.version().get(),
            delete.version().get() + edit.version().get(),
        )
    };
    let windows: PageData = Resource::new(versions, |_| windows_page());
    let groups = Resource::new(|| (), |_| crate::groups::list_groups());
    let editing = RwSignal::new(editing_from_query());
    // Saved with JavaScript: the form closes; the list shows the change.
    Effect::new(move |_| {
        if matches!(edit.value().get(), Some(Ok(_))) {
            editing.set(None);
        }
    });
    let saved_before = crate::ui::done(EDIT_DONE);
    view! {
        <section class="card">
            <h1>"Maintenance windows"</h1>
            <p class="hint">"Automatic deployments to standard servers run inside a server's windows (its own and its groups'). A start time that a daylight-saving change skips opens after the jump (02:30 becomes 03:30); one that happens twice opens at the first; durations are real hours."</p>
            <FormError action=delete />
            {move || match edit.value().get() {
                Some(Ok(msg)) => Some(msg),
                None if saved_before => Some("Saved.".to_owned()),
                _ => None,
            }.map(|msg| view! { <p class="ok" role="status" id="window-saved">{msg}</p> })}
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match windows.await.map(|p| p.0) {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No maintenance windows yet: approved patches are published for standard servers instead of deployed."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-scroll"><table class="data" id="windows">
                            <thead><tr><th>"Window"</th><th>"When"</th><th>"Applies to"</th><th>"Next"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|w| {
                                    let id = w.id;
                                    let question = delete_question(&w);
                                    let applies = w.groups.iter().map(|g| format!("group {g}")).chain(w.servers.iter().cloned()).collect::<Vec<_>>().join(", ");
                                    view! {
                                        <tr data-window=w.name.clone()>
                                            <td>{w.name.clone()}</td>
                                            <td>{w.summary.clone()}</td>
                                            <td>{if applies.is_empty() { "nothing yet".to_owned() } else { applies }}</td>
                                            <td><small>{w.upcoming.iter().take(3).map(|o| format!("{} – {}", crate::ui::when(o.start), crate::ui::when(o.end))).collect::<Vec<_>>().join("; ")}</small></td>
                                            <td class="actions">
                                                <crate::ui::StepButton step=edit_step(id) class="small" open=Callback::new(move |_| editing.set(Some(id)))>"Edit"</crate::ui::StepButton>
                                                " "
                                                <crate::ui::ConfirmDelete question=question.clone() step=format!("delete-window-{id}")>
                                                    <ActionForm action=delete attr:class="inline">
                                                        <input type="hidden" name="id" value=id.to_string() />
                                                        <input type="hidden" name="cancel_bookings" value="true" />
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
        <Show when=move || editing.get().is_some()>
            <EditWindowCard windows groups editing edit />
        </Show>
        <CalendarCard page=windows />
        <section class="card">
            <h2>"New window"</h2>
            <ActionForm action=create attr:id="new-window">
                <WindowFields name=String::new() days=Vec::new() start="22:00".into() hours="4".into() time_zone="UTC".into() step="0.25" />
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

/// The fields a window is made of, as the new and the edit form show them.
#[component]
fn WindowFields(
    name: String,
    days: Vec<u8>,
    /// `HH:MM`.
    start: String,
    hours: String,
    time_zone: String,
    /// The hours' step: `0.25` for a new window (at least a quarter hour),
    /// `any` for one being edited, which may have any duration.
    step: &'static str,
) -> impl IntoView {
    let min = (step != "any").then_some(step);
    view! {
        <label>"Name "<input type="text" name="name" required maxlength="64" aria-label="Window name" value=name /></label>
        <fieldset class="days"><legend>"Days"</legend>
            {(1u8..=7).map(|d| view! {
                <label class="check"><input type="checkbox" name="days[]" value=d.to_string() aria-label=DAYS[usize::from(d - 1)] checked=days.contains(&d) />
                    {DAYS[usize::from(d - 1)]}</label>
            }).collect_view()}
        </fieldset>
        <label>"Starts "<input type="time" name="start" value=start aria-label="Start time" /></label>
        <label>"Hours "<input type="number" name="hours" value=hours min=min max="168" step=step aria-label="Duration in hours" /></label>
        <label>"Time zone "<input type="text" name="time_zone" value=time_zone aria-label="Time zone" list="zones" /></label>
    }
}

/// "Delete window X?", naming the booked reboots deleting it cancels.
fn delete_question(w: &WindowView) -> String {
    if w.only_here.is_empty() {
        return format!("Delete window {}?", w.name);
    }
    let booked: Vec<String> = w
        .only_here
        .iter()
        .map(|(host, at)| format!("{host} at {}", crate::ui::when(*at)))
        .collect();
    format!(
        "Delete window {}? These booked reboots fall in no other window and are cancelled (their owners are mailed): {}.",
        w.name,
        booked.join(", ")
    )
}

/// The edit form of the window `editing` names, filled with it as it is
/// stored. Cancel closes it (in place with JavaScript, else by reloading
/// the page without `?confirm=`).
#[component]
fn EditWindowCard(
    windows: PageData,
    groups: Resource<Result<Vec<crate::groups::GroupView>, AppError>>,
    editing: RwSignal<Option<i64>>,
    edit: ServerAction<SubmitWindowEdit>,
) -> impl IntoView {
    let close = Callback::new(move |_| editing.set(None));
    view! {
        <section class="card" id="edit-window">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || { let id = editing.get(); Suspend::new(async move {
                    let (list, all_groups) = (windows.await.map(|p| p.0), groups.await);
                    let found = list.ok().and_then(|l| l.into_iter().find(|w| Some(w.id) == id));
                    let Some(w) = found else {
                        return view! { <p class="empty">"That window is gone."</p> <crate::ui::CancelStep close /> }.into_any();
                    };
                    let start = format!("{:02}:{:02}", w.window.start_minute / 60, w.window.start_minute % 60);
                    let all_groups = all_groups.unwrap_or_default();
                    view! {
                        <h2>{format!("Edit window {}", w.name)}</h2>
                        <ActionForm action=edit attr:id="edit-window-form">
                            <input type="hidden" name="id" value=w.id.to_string() />
                            // Any duration a window may have, also one made through the API.
                            <WindowFields name=w.name.clone() days=w.window.days.clone() start hours=hours_text(w.window.duration_minutes)
                                time_zone=w.window.time_zone.clone() step="any" />
                            {(!all_groups.is_empty()).then(|| view! {
                                <fieldset class="groups"><legend>"Groups"</legend>
                                    {all_groups.into_iter().map(|g| view! {
                                        <label class="check"><input type="checkbox" name="group_ids[]" value=g.id.to_string() checked=w.group_ids.contains(&g.id) />
                                            {g.name}</label>
                                    }).collect_view()}
                                </fieldset>
                            })}
                            <label>"Servers "<input type="text" name="hostnames" aria-label="Servers" placeholder="host names" value=w.servers.join(", ") /></label>
                            <label class="check"><input type="checkbox" name="cancel_bookings" value="true" />{CANCEL_LABEL}</label>
                            <button type="submit" class="primary">"Save window"</button>
                        </ActionForm>
                        <crate::ui::CancelStep close />
                    }.into_any()
                })}}
            </Transition>
            <FormError action=edit />
        </section>
    }
}

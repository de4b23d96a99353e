//! Reboot booking on a server's page: its owner (or an admin) sees the
//! server's maintenance windows and books, moves or cancels the reboot
//! inside one of them.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use patchport_core::window::Occurrence;
use serde::{Deserialize, Serialize};

/// A server's windows and its booked reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootPlanView {
    /// Each window: name and summary.
    pub windows: Vec<(String, String)>,
    /// The next occurrences of all of them, in order.
    pub upcoming: Vec<Occurrence>,
    /// The booked reboot: when, and when its window closes.
    pub booked: Option<(i64, i64)>,
    /// The server was patched and must reboot by then.
    pub deadline: Option<i64>,
    /// How many more times the booking may be moved (with a deadline).
    pub deferrals_left: Option<i64>,
}

/// The server's windows and booked reboot (its owner and admins).
#[server(endpoint = "servers/reboot_plan")]
pub async fn reboot_plan(server_id: i64) -> Result<RebootPlanView, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        crate::servers::check_visible(&mut conn, &me, server_id).await?;
        let windows = patchport_db::windows::of_server(&mut conn, server_id).await?;
        let mut upcoming: Vec<Occurrence> = windows
            .iter()
            .flat_map(|(_, w)| w.upcoming(now, 5))
            .collect();
        upcoming.sort_by_key(|o| o.start);
        upcoming.truncate(5);
        let booked = patchport_db::windows::booked_reboots(&mut conn, server_id)
            .await?
            .first()
            .map(|b| (b.at, b.until));
        let duty = patchport_db::windows::obligation(&mut conn, server_id).await?;
        let rules = patchport_db::windows::rules(&mut conn).await?;
        Ok(RebootPlanView {
            deadline: duty.map(|d| d.deadline_at),
            // The first booking is free; each later one is a deferral.
            deferrals_left: duty.map(|d| (rules.max_deferrals + 1 - d.bookings.max(1)).max(0)),
            windows: windows
                .into_iter()
                .map(|(name, w)| (name, w.describe()))
                .collect(),
            upcoming,
            booked,
        })
    })
    .await
}

/// Books (or moves) the server's reboot to `at` (`YYYY-MM-DDTHH:MM` in
/// the reader's zone), which must fall inside one of its maintenance
/// windows. Its owner gets one mail, with the calendar entry, once the
/// booking stops changing for the quiet period.
#[server(endpoint = "servers/book_reboot")]
pub async fn book_reboot(server_id: i64, at: String) -> Result<i64, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        if at.trim().is_empty() {
            return Err(AppError::invalid("at", "choose the reboot time"));
        }
        let at = crate::jobs::parse_time("at", "the reboot time", &at, now, &me.zone)?;
        let mut tx = state.db.begin().await?;
        let host = crate::servers::check_visible(&mut tx, &me, server_id).await?;
        let booking = patchport_db::windows::book_reboot(&mut tx, server_id, at, me.id, now)
            .await?
            .map_err(|e| AppError::invalid("at", e.explain(&me.zone)))?;
        ssr::audit(
            &mut tx,
            Some(&me),
            "reboot.booked",
            &host,
            &format!("at {}", patchport_core::clock::format_utc(booking.at)),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        Ok(booking.at)
    })
    .await
}

/// Cancels the server's booked reboot; its owner is mailed once the
/// booking stops changing (see `patchport_db::mail::settle_bookings`).
#[server(endpoint = "servers/cancel_reboot")]
pub async fn cancel_reboot(server_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        let host = crate::servers::check_visible(&mut tx, &me, server_id).await?;
        let booked = patchport_db::windows::booked_reboots(&mut tx, server_id).await?;
        if booked.is_empty() {
            return Err(AppError::Conflict("no reboot is booked".into()));
        }
        for b in booked {
            patchport_db::jobs::cancel(&mut tx, b.job_id, now).await?;
        }
        // Told with the booking's other changes, once they rest: nothing
        // if its booking was never mailed.
        patchport_db::mail::booking_changed(&mut tx, server_id, now, false).await?;
        ssr::audit(&mut tx, Some(&me), "reboot.cancelled", &host, "", now).await?;
        patchport_db::commit(tx).await?;
        Ok(())
    })
    .await
}

/// The reboot card on a server's page.
#[component]
pub fn RebootCard(server_id: i64) -> impl IntoView {
    let book = ServerAction::<BookReboot>::new();
    let cancel = ServerAction::<CancelReboot>::new();
    let admin = use_context::<crate::accounts::UserView>()
        .is_some_and(|u| u.role == patchport_core::Role::Admin);
    let plan = Resource::new(
        move || (book.version().get(), cancel.version().get()),
        move |_| reboot_plan(server_id),
    );
    view! {
        <section class="card" id="reboot-booking">
            <h2>"Reboot"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { match plan.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.windows.is_empty() => view! { <p class="empty" id="no-window">{if admin {
                        view! { "This server has no maintenance window, so no reboot can be booked. " <a href="/windows">"Give it one"</a>", or queue a reboot under Jobs." }.into_any()
                    } else {
                        view! { "This server has no maintenance window, so no reboot can be booked here: ask an admin to give it one, or to reboot it for you." }.into_any()
                    }}</p> }.into_any(),
                    Ok(p) => view! {
                        <p>"Maintenance windows: "{p.windows.iter().map(|(n, s)| format!("{n} ({s})")).collect::<Vec<_>>().join("; ")}</p>
                        <p id="booked">{match p.booked {
                            Some((at, until)) => format!("Reboot booked for {} (window closes {}).", crate::ui::when(at), crate::ui::when(until)),
                            None => "No reboot booked.".to_owned(),
                        }}</p>
                        {p.deadline.map(|d| view! {
                            <p id="reboot-deadline" class="warn">{format!(
                                "Patched: it must reboot by {}.{}",
                                crate::ui::when(d),
                                match (p.booked.is_some(), p.deferrals_left) {
                                    (true, Some(0)) => " The booking can no longer be moved.".to_owned(),
                                    (true, Some(n)) => format!(" The booking can be moved {n} more time(s)."),
                                    _ => String::new(),
                                }
                            )}</p>
                        })}
                        <ul class="upcoming">
                            {p.upcoming.iter().map(|o| view! { <li>{format!("{} – {}", crate::ui::when(o.start), crate::ui::when(o.end))}</li> }).collect_view()}
                        </ul>
                        // A plain form post without JavaScript: the server
                        // redirects back here, which then shows the booking
                        // (or the error). Times are typed in the reader's zone.
                        // A booking that may not be moved again is not
                        // offered to be moved (the move would be refused).
                        {if p.booked.is_some() && p.deferrals_left == Some(0) {
                            view! { <p class="hint" id="no-more-moves">{if admin {
                                "To reboot at another time, cancel the booking and queue a reboot under Jobs."
                            } else {
                                "To reboot at another time, ask an admin."
                            }}</p> }.into_any()
                        } else {
                            view! {
                                <ActionForm action=book attr:class="inline" attr:id="book-reboot">
                                    <input type="hidden" name="server_id" value=server_id.to_string() />
                                    <label>{format!("Reboot at ({}) ", crate::ui::reader_zone())}<input type="datetime-local" name="at" aria-label="Reboot at" /></label>
                                    <button type="submit" class="primary">{if p.booked.is_some() { "Move the reboot" } else { "Book reboot" }}</button>
                                </ActionForm>
                                <p class="hint">{match p.deadline {
                                    Some(d) => format!("Choose a time inside one of the windows above, before {}.", crate::ui::when(d)),
                                    None => "Choose a time inside one of the windows above.".to_owned(),
                                }}</p>
                            }.into_any()
                        }}
                        {p.booked.is_some().then(|| view! {
                            <a class="button" id="booking-ics" href=format!("/servers/{server_id}/reboot.ics") download="">"Add to my calendar (.ics)"</a>
                            " "
                            <ActionForm action=cancel attr:class="inline" attr:id="cancel-booking">
                                <input type="hidden" name="server_id" value=server_id.to_string() />
                                <button type="submit">"Cancel the booked reboot"</button>
                            </ActionForm>
                        })}
                    }.into_any(),
                }})}
            </Transition>
            <FormError action=book />
            <FormError action=cancel />
        </section>
    }
}

/// The admins' reboot rules: deadlines by severity and deferrals allowed.
#[server(endpoint = "admin/reboot_rules")]
pub async fn reboot_rules() -> Result<patchport_core::deadline::RebootRules, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::windows::rules(&mut conn).await?)
    })
    .await
}

/// Saves the reboot rules (admins). Open deadlines stay as they are.
#[server(endpoint = "admin/reboot_rules/save", input = server_fn::codec::Json)]
pub async fn save_reboot_rules(
    rules: patchport_core::deadline::RebootRules,
) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let rules = rules
            .validated()
            .map_err(|(field, why)| AppError::invalid(field, why))?;
        patchport_db::windows::save_rules(&mut w.tx, &rules, w.now).await?;
        w.commit(
            "reboot_rules.saved",
            "reboot rules",
            &format!(
                "critical {} d, high {} d, medium {} d, other {} d, {} deferrals",
                rules.critical_days,
                rules.high_days,
                rules.medium_days,
                rules.low_days,
                rules.max_deferrals
            ),
        )
        .await?;
        Ok(RULES_SAVED.to_owned())
    })
    .await
}

/// The reboot rules form, posted URL-encoded (by the hydrated page or,
/// without JavaScript, by the browser): each field as typed, a number of
/// days or moves; anything else is refused as [`save_reboot_rules`]
/// refuses a negative one.
#[server(endpoint = "admin/reboot_rules/submit")]
pub async fn submit_reboot_rules(
    #[server(default)] critical_days: String,
    #[server(default)] high_days: String,
    #[server(default)] medium_days: String,
    #[server(default)] low_days: String,
    #[server(default)] max_deferrals: String,
) -> Result<String, AppError> {
    let n = |v: &str| v.trim().parse::<i64>().unwrap_or(-1);
    let saved = save_reboot_rules(patchport_core::deadline::RebootRules {
        critical_days: n(&critical_days),
        high_days: n(&high_days),
        medium_days: n(&medium_days),
        low_days: n(&low_days),
        max_deferrals: n(&max_deferrals),
    })
    .await?;
    crate::ui::back_to_page(Some(RULES_DONE));
    Ok(saved)
}

/// What saving the reboot rules answers.
const RULES_SAVED: &str = "Saved. New deadlines follow these rules; open ones keep theirs.";

/// The page was reloaded after saving the rules without JavaScript
/// (`?done=…`).
const RULES_DONE: &str = "reboot-rules";

/// The reboot rules card on the windows page (admins).
#[component]
pub fn RebootRulesCard() -> impl IntoView {
    let save = ServerAction::<SubmitRebootRules>::new();
    let current = Resource::new(move || save.version().get(), |_| reboot_rules());
    // Saved without JavaScript: the page was loaded again to say so.
    let saved_before = crate::ui::done(RULES_DONE);
    view! {
        <section class="card" id="reboot-rules">
            <h2>"Reboot deadlines"</h2>
            <p class="hint">"When a server is patched without a reboot, its owner must book one within these days (by the worst severity installed). Admins are mailed when a deadline passes. Owners may move a booking this many times."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match current.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(r) => {
                        let fields = [
                            ("critical_days", "Critical (days)", r.critical_days),
                            ("high_days", "High (days)", r.high_days),
                            ("medium_days", "Medium (days)", r.medium_days),
                            ("low_days", "Other (days)", r.low_days),
                            ("max_deferrals", "Moves allowed", r.max_deferrals),
                        ];
                        view! {
                            <ActionForm action=save attr:class="inline">
                                {fields.into_iter().map(|(name, label, value)| view! {
                                    <label>{label} " " <input type="number" name=name min="0" max="90" class="narrow" value=value.to_string() /></label>
                                }).collect_view()}
                                <button type="submit" class="primary">"Save"</button>
                            </ActionForm>
                        }.into_any()
                    }
                }})}
            </Transition>
            <FormError action=save />
            {move || match save.value().get() {
                Some(Ok(msg)) => Some(msg),
                None if saved_before => Some(RULES_SAVED.to_owned()),
                _ => None,
            }.map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
        </section>
    }
}

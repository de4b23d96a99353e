//! Reboot booking on a server's page: its owner (or an admin) sees the
//! server's maintenance windows and books, moves or cancels the reboot
//! inside one of them.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use patchport_core::clock::format_utc;
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
        crate::servers::visible_server(&mut conn, &me, server_id).await?;
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
        Ok(RebootPlanView {
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

/// Books (or moves) the server's reboot to `at` (`YYYY-MM-DDTHH:MM`, UTC),
/// which must fall inside one of its maintenance windows.
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
        let at = crate::jobs::parse_time("at", "the reboot time", &at, now)?;
        let mut tx = state.db.begin().await?;
        let server = crate::servers::visible_server(&mut tx, &me, server_id).await?;
        let booking = patchport_db::windows::book_reboot(&mut tx, server_id, at, me.id, now)
            .await?
            .map_err(|e| AppError::invalid("at", e.to_string()))?;
        ssr::audit(
            &mut tx,
            Some(&me),
            "reboot.booked",
            &server.row.hostname,
            &format!("at {}", format_utc(booking.at)),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        Ok(booking.at)
    })
    .await
}

/// Cancels the server's booked reboot.
#[server(endpoint = "servers/cancel_reboot")]
pub async fn cancel_reboot(server_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        let server = crate::servers::visible_server(&mut tx, &me, server_id).await?;
        let booked = patchport_db::windows::booked_reboots(&mut tx, server_id).await?;
        if booked.is_empty() {
            return Err(AppError::Conflict("no reboot is booked".into()));
        }
        for b in booked {
            patchport_db::jobs::cancel(&mut tx, b.job_id, now).await?;
        }
        ssr::audit(
            &mut tx,
            Some(&me),
            "reboot.cancelled",
            &server.row.hostname,
            "",
            now,
        )
        .await?;
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
    let plan = Resource::new(
        move || (book.version().get(), cancel.version().get()),
        move |_| reboot_plan(server_id),
    );
    let at = RwSignal::new(String::new());
    view! {
        <section class="card" id="reboot-booking">
            <h2>"Reboot"</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { match plan.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.windows.is_empty() => view! { <p class="empty">"This server has no maintenance window, so no reboot can be booked. An admin can give it one."</p> }.into_any(),
                    Ok(p) => view! {
                        <p>"Maintenance windows: "{p.windows.iter().map(|(n, s)| format!("{n} ({s})")).collect::<Vec<_>>().join("; ")}</p>
                        <p id="booked">{match p.booked {
                            Some((at, until)) => format!("Reboot booked for {} (window closes {}).", format_utc(at), format_utc(until)),
                            None => "No reboot booked.".to_owned(),
                        }}</p>
                        <ul class="upcoming">
                            {p.upcoming.iter().map(|o| view! { <li>{format!("{} – {}", format_utc(o.start), format_utc(o.end))}</li> }).collect_view()}
                        </ul>
                        {p.booked.is_some().then(|| view! {
                            <a class="button" id="booking-ics" href=format!("/servers/{server_id}/reboot.ics") download="">"Add to my calendar (.ics)"</a>
                            " "
                            <button type="button" on:click=move |_| { cancel.dispatch(CancelReboot { server_id }); }>"Cancel the booked reboot"</button>
                        })}
                    }.into_any(),
                }})}
            </Transition>
            <form class="inline" on:submit=move |ev| { ev.prevent_default(); book.dispatch(BookReboot { server_id, at: at.get_untracked() }); }>
                <label>"Reboot at (UTC) "<input type="datetime-local" aria-label="Reboot at" prop:value=move || at.get() on:input=move |ev| at.set(event_target_value(&ev)) /></label>
                <button type="submit" class="primary">"Book reboot"</button>
            </form>
            <FormError action=book />
            <FormError action=cancel />
        </section>
    }
}

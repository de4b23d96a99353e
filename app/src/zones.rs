//! Time zones: each account reads and types times in its own zone, the
//! portal has a default for accounts that chose none, and a signed-in user
//! who never chose is offered the browser's zone.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;

/// The zone names the portal knows (jiff's compiled-in database), sorted.
pub fn zone_names() -> Vec<String> {
    let mut names: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_owned())
        .filter(|n| n.contains('/') || n == "UTC")
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Checks a zone name typed or chosen in a form: a name jiff knows, or
/// (for an account) empty, meaning the portal's default.
#[cfg(feature = "ssr")]
fn checked_zone(zone: &str) -> Result<String, AppError> {
    let zone = zone.trim();
    if patchport_core::clock::zone(zone).is_none() {
        return Err(AppError::invalid(
            "zone",
            format!(
                "unknown time zone {zone:?}: choose one from the list, like Europe/Berlin or UTC"
            ),
        ));
    }
    Ok(zone.to_owned())
}

/// Sets the zone the signed-in user reads times in; empty goes back to the
/// portal's default.
#[server(endpoint = "account/time_zone")]
pub async fn set_time_zone(#[server(default)] zone: String) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let zone = if zone.trim().is_empty() {
            None
        } else {
            Some(checked_zone(&zone)?)
        };
        let mut tx = state.db.begin().await?;
        patchport_db::accounts::set_time_zone(&mut tx, me.id, zone.as_deref(), now).await?;
        let shown = zone
            .clone()
            .unwrap_or_else(|| "the portal's default".to_owned());
        ssr::audit(
            &mut tx,
            Some(&me),
            "account.time_zone",
            &me.username,
            &shown,
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        crate::ui::back_to_page(Some(ZONE_SAVED));
        Ok(format!("Times are now shown in {shown}."))
    })
    .await
}

/// Sets the portal's default zone, for accounts that chose none (admins).
#[server(endpoint = "admin/default_time_zone")]
pub async fn set_default_time_zone(#[server(default)] zone: String) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let zone = checked_zone(&zone)?;
        patchport_db::accounts::set_default_zone(&mut w.tx, &zone, w.now).await?;
        w.commit("portal.time_zone", "default time zone", &zone)
            .await?;
        crate::ui::back_to_page(Some(DEFAULT_SAVED));
        Ok(format!(
            "Accounts without their own zone now read times in {zone}."
        ))
    })
    .await
}

/// The portal's default zone (admins), for the account page.
#[server(endpoint = "admin/default_time_zone/get")]
pub async fn default_time_zone() -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::accounts::default_zone(&mut conn).await?)
    })
    .await
}

/// `?done=` after the user's zone was saved without JavaScript.
const ZONE_SAVED: &str = "time-zone";
/// `?done=` after the portal's default was saved without JavaScript.
const DEFAULT_SAVED: &str = "default-time-zone";

/// A `<select>` of every zone, `current` chosen; `none` labels an empty
/// first choice when given.
#[component]
fn ZoneSelect(
    name: &'static str,
    label: &'static str,
    current: String,
    #[prop(optional)] none: Option<&'static str>,
) -> impl IntoView {
    let selected = current.clone();
    view! {
        <label>{label}
            <select name=name>
                {none.map(|text| view! { <option value="" selected=current.is_empty()>{text}</option> })}
                {zone_names().into_iter().map(|z| {
                    let on = z == selected;
                    view! { <option value=z.clone() selected=on>{z.clone()}</option> }
                }).collect_view()}
            </select>
        </label>
    }
}

/// The account page's time zone card: the user's own zone and, for admins,
/// the portal's default.
#[component]
pub fn ZoneCard() -> impl IntoView {
    let save = ServerAction::<SetTimeZone>::new();
    let save_default = ServerAction::<SetDefaultTimeZone>::new();
    let auth = expect_context::<crate::app::AuthContext>();
    let saved_before = crate::ui::done(ZONE_SAVED);
    let default_saved_before = crate::ui::done(DEFAULT_SAVED);
    // Every time on the page was rendered in the old zone: load it again.
    reload_after(save);
    reload_after(save_default);
    view! {
        <h2 id="time-zone">"Time zone"</h2>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move { auth.user.await.ok().flatten().map(|u| {
                let admin = u.role == patchport_core::Role::Admin;
                let current = if u.zone_chosen { u.zone.clone() } else { String::new() };
                view! {
                    <p class="hint">{format!("Times are shown in {}{}.", u.zone, if u.zone_chosen { "" } else { " (the portal's default)" })}</p>
                    <ActionForm action=save attr:class="stack" attr:id="zone-form">
                        <ZoneSelect name="zone" label="Your time zone" current none="The portal's default" />
                        <button type="submit" class="primary">"Save time zone"</button>
                    </ActionForm>
                    // Asked for admins only: an owner's request would be
                    // refused, and the whole page answered 403.
                    {admin.then(|| {
                        let default_zone = Resource::new(move || save_default.version().get(), |_| default_time_zone());
                        view! {
                        <Suspense fallback=|| ()>
                            {move || Suspend::new(async move { default_zone.await.ok().map(|z| view! {
                                <ActionForm action=save_default attr:class="stack" attr:id="default-zone-form">
                                    <ZoneSelect name="zone" label="Portal default (accounts that chose none)" current=z />
                                    <button type="submit">"Save the default"</button>
                                </ActionForm>
                            }) })}
                        </Suspense>
                    }})}
                }
            }) })}
        </Transition>
        <FormError action=save />
        <FormError action=save_default />
        {move || match save.value().get() {
            Some(Ok(msg)) => Some(msg),
            None if saved_before => Some("Time zone saved.".to_owned()),
            _ => None,
        }.map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
        {move || match save_default.value().get() {
            Some(Ok(msg)) => Some(msg),
            None if default_saved_before => Some("Default time zone saved.".to_owned()),
            _ => None,
        }.map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
    }
}

/// Loads the page again once `action` went through: every time on it was
/// rendered in the old zone.
fn reload_after<S>(action: ServerAction<S>)
where
    S: server_fn::ServerFn<Error = AppError, Output = String> + Clone + Send + Sync + 'static,
{
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(_)))
            && let Some(w) = web_sys::window()
        {
            let _ = w.location().reload();
        }
    });
}

/// The zone the browser runs in (`Intl`), in the browser only.
fn browser_zone() -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        let format =
            js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
        let options = format.resolved_options();
        js_sys::Reflect::get(&options, &"timeZone".into())
            .ok()
            .and_then(|v| v.as_string())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        None
    }
}

/// For a signed-in user who never chose a zone, once the page runs in the
/// browser and its zone differs from the one times are shown in: offers
/// the browser's zone (or keeping the current one). Either choice is
/// saved, so the offer is made once.
#[component]
pub fn ZoneOffer() -> impl IntoView {
    let auth = expect_context::<crate::app::AuthContext>();
    let offered = RwSignal::new(None::<String>);
    let save = ServerAction::<SetTimeZone>::new();
    Effect::new(move |_| {
        if let Some(zone) = browser_zone() {
            offered.set(Some(zone));
        }
    });
    reload_after(save);
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let user = auth.user.await.ok().flatten();
                move || {
                    let u = user.clone()?;
                    let browser = offered.get()?;
                    // Nothing to offer when the times already match the
                    // browser's (the offer comes back if they stop to).
                    (!u.zone_chosen && browser != u.zone && patchport_core::clock::zone(&browser).is_some()).then(|| {
                        let keep = u.zone.clone();
                        let text = format!("Times are shown in {}. Your browser uses {browser}: show times in {browser}?", u.zone);
                        let label = format!("Use {browser}");
                        let keep_label = format!("Keep {keep}");
                        view! {
                            <aside class="card zone-offer" id="zone-offer" role="region" aria-label="Time zone">
                                <p>{text}</p>
                                <ActionForm action=save attr:class="inline">
                                    <input type="hidden" name="zone" value=browser />
                                    <button type="submit" class="primary">{label}</button>
                                </ActionForm>
                                " "
                                <ActionForm action=save attr:class="inline">
                                    <input type="hidden" name="zone" value=keep />
                                    <button type="submit">{keep_label}</button>
                                </ActionForm>
                                <FormError action=save />
                            </aside>
                        }
                    })
                }
            })}
        </Transition>
    }
}

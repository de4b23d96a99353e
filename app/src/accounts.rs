//! Signing in and out, first-run setup, and one's own password.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use patchport_core::Role;
use serde::{Deserialize, Serialize};

/// The signed-in user, as the UI sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    /// Account id.
    pub id: i64,
    /// User name.
    pub username: String,
    /// Name to show.
    pub display_name: String,
    /// Admin or owner.
    pub role: Role,
    /// The zone this user reads and types times in (IANA name).
    pub zone: String,
    /// The user chose the zone (else it is the portal's default, and the
    /// browser's own zone is offered).
    pub zone_chosen: bool,
}

impl UserView {
    /// The display name, or the user name when there is none.
    pub fn name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.username
        } else {
            &self.display_name
        }
    }
}

#[cfg(feature = "ssr")]
impl From<patchport_db::accounts::Account> for UserView {
    fn from(a: patchport_db::accounts::Account) -> Self {
        Self {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            role: a.role,
            zone_chosen: a.time_zone.is_some(),
            zone: a.zone,
        }
    }
}

/// The one message for every failed sign-in, whatever the reason.
pub const LOGIN_FAILED: &str = "Wrong user name or password.";

/// Who is signed in, if anybody. Public: the sign-in page asks it too.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<UserView>, AppError> {
    crate::ssr::run(async { Ok(crate::ssr::user().ok()) }).await
}

/// The cookie that marks a browser that signed in before (a random token;
/// the portal keeps its SHA-256 in `known_device`).
#[cfg(feature = "ssr")]
const DEVICE_COOKIE: &str = "patchport_device";
/// How long a browser stays a known device without signing in again.
#[cfg(feature = "ssr")]
const DEVICE_DAYS: i64 = 90;

/// Signs in. Unknown users, wrong passwords and disabled accounts all get
/// [`LOGIN_FAILED`] after the same amount of work.
///
/// Attempts are counted before the password is checked
/// (`throttle::reserve`), per user name and per client address (the real
/// client's, behind a trusted proxy), so a burst checks at most the free
/// attempts; after those, one attempt per (doubling) block. A browser that
/// signed in to this account before (its device cookie) is counted on its
/// own key instead: failures others cause cannot lock its owner out.
/// Checking a password waits for one of the portal's hashing slots (429
/// when none frees up): a flood cannot exhaust memory.
#[server(endpoint = "login")]
pub async fn login(username: String, password: String, next: String) -> Result<(), AppError> {
    use crate::ssr::{self, auth, passwords};
    ssr::run(async move {
        let state = ssr::state()?;
        let session = ssr::session()?;
        let source = ssr::client_addr();
        let now = state.clock.now();
        let typed = username.trim().to_lowercase();
        let cookie_name = state.auth.cookie_name(DEVICE_COOKIE);
        let device = ssr::cookie(&cookie_name)
            .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|t| patchport_core::protocol::secret_digest(&t));
        let (found, keys) =
            login_lookup(&state, &username, &typed, &source, device.as_deref(), now).await?;
        reserve_attempt(&state, &keys, now).await?;
        let (account, phc) = match found {
            Some((a, h)) => (Some(a), Some(h)),
            None => (None, None),
        };
        let password_ok = match passwords::verify(phc.clone(), password.clone()).await {
            Ok(ok) => ok,
            Err(busy) => {
                let mut tx = state.db.begin().await?;
                release_attempts(&mut tx, &keys).await?;
                patchport_db::commit(tx).await?;
                return Err(busy);
            }
        };
        let account = match account {
            Some(a) if password_ok && !a.disabled => a,
            other => return refuse_login(&state, other.as_ref(), &typed, &source, now).await,
        };
        let (me, token) = record_sign_in(&state, account, &keys, &typed, &source, now).await?;
        // A hash made with weaker parameters than today's is made again.
        if phc.as_deref().is_some_and(passwords::needs_rehash)
            && let Ok(pw) = patchport_core::Password::parse(&password)
        {
            let hash = passwords::hash(&pw).await?;
            let mut tx = state.db.begin().await?;
            patchport_db::accounts::set_password_hash(&mut tx, me.id, &hash, now).await?;
            patchport_db::commit(tx).await?;
        }
        ssr::set_cookie(&cookie_name, &token, DEVICE_DAYS * 86_400);
        auth::sign_in(&state, &session, me.id).await?;
        leptos_axum::redirect(patchport_core::accounts::local_path(&next));
        Ok(())
    })
    .await
}

/// The account (and its password hash) `username` names, if any, and the
/// throttle keys a sign-in attempt counts on: the device's own key when
/// this browser (`device`, its token's hash) signed in to that account
/// within [`DEVICE_DAYS`], else the typed name's and the client address's.
#[cfg(feature = "ssr")]
async fn login_lookup(
    state: &crate::ssr::AppState,
    username: &str,
    typed: &str,
    source: &str,
    device: Option<&str>,
    now: i64,
) -> Result<
    (
        Option<(patchport_db::accounts::Account, String)>,
        Vec<String>,
    ),
    AppError,
> {
    use patchport_db::accounts;
    let mut conn = state.db.read().await?;
    let found = match patchport_core::Username::parse(username) {
        Ok(name) => accounts::find_for_login(&mut conn, name.as_str()).await?,
        Err(_) => None,
    };
    let device_of = match device {
        Some(hash) => accounts::device_account(&mut conn, hash, now - DEVICE_DAYS * 86_400).await?,
        None => None,
    };
    drop(conn);
    let known_device = device_of.is_some() && device_of == found.as_ref().map(|(a, _)| a.id);
    let keys: Vec<String> = match (device, known_device) {
        (Some(hash), true) => vec![format!("device:{hash}")],
        _ => vec![format!("user:{typed}"), format!("addr:{source}")],
    };
    Ok((found, keys))
}

/// Counts a sign-in attempt on each of `keys` before any password is
/// checked; when any key is blocked, gives back what it counted and
/// refuses with how long to wait.
#[cfg(feature = "ssr")]
async fn reserve_attempt(
    state: &crate::ssr::AppState,
    keys: &[String],
    now: i64,
) -> Result<(), AppError> {
    use patchport_db::throttle;
    let mut tx = state.db.begin().await?;
    let mut blocked = None;
    let mut reserved = Vec::new();
    for key in keys {
        match throttle::reserve(&mut tx, key, now, state.auth.throttle).await? {
            Some(until) => blocked = blocked.max(Some(until)),
            None => reserved.push(key.clone()),
        }
    }
    if blocked.is_some() {
        // Refused before any check: what this attempt counted is given
        // back, so a blocked name does not make the address wait longer.
        release_attempts(&mut tx, &reserved).await?;
    }
    patchport_db::commit(tx).await?;
    if let Some(until) = blocked {
        return Err(AppError::TooManyRequests(format!(
            "Too many failed sign-ins. Try again in {} seconds.",
            (until - now).max(1)
        )));
    }
    Ok(())
}

/// Gives back the attempt counted on each of `keys`.
#[cfg(feature = "ssr")]
async fn release_attempts(
    tx: &mut patchport_db::Conn,
    keys: &[String],
) -> Result<(), patchport_db::StorageError> {
    for key in keys {
        patchport_db::throttle::release(tx, key).await?;
    }
    Ok(())
}

/// Records a failed sign-in and why (unknown user, disabled account or
/// wrong password), then fails with [`LOGIN_FAILED`] whatever the reason.
#[cfg(feature = "ssr")]
async fn refuse_login(
    state: &crate::ssr::AppState,
    account: Option<&patchport_db::accounts::Account>,
    typed: &str,
    source: &str,
    now: i64,
) -> Result<(), AppError> {
    let mut tx = state.db.begin().await?;
    let reason = match account {
        None => "unknown user",
        Some(a) if a.disabled => "account disabled",
        Some(_) => "wrong password",
    };
    let event = patchport_db::audit::NewAuditEvent {
        actor_id: account.map(|a| a.id),
        actor_name: typed,
        action: "login.failed",
        target: typed,
        detail: reason,
        source,
    };
    patchport_db::audit::record(&mut tx, &event, now).await?;
    patchport_db::commit(tx).await?;
    Err(AppError::Invalid {
        field: None,
        message: LOGIN_FAILED.into(),
    })
}

/// Records a successful sign-in in one transaction: clears the attempts
/// counted on `keys`, the typed name and the client address, makes this
/// browser a known device of the account (a fresh token each sign-in,
/// returned for its cookie) and audits it.
#[cfg(feature = "ssr")]
async fn record_sign_in(
    state: &crate::ssr::AppState,
    account: patchport_db::accounts::Account,
    keys: &[String],
    typed: &str,
    source: &str,
    now: i64,
) -> Result<(UserView, String), AppError> {
    use crate::ssr;
    let mut tx = state.db.begin().await?;
    for key in keys
        .iter()
        .cloned()
        .chain([format!("user:{typed}"), format!("addr:{source}")])
    {
        patchport_db::throttle::clear(&mut tx, &key).await?;
    }
    // This browser is a known device of the account from now on (a
    // fresh token each sign-in).
    let token = ssr::new_secret();
    patchport_db::accounts::remember_device(
        &mut tx,
        account.id,
        &patchport_core::protocol::secret_digest(&token),
        now,
    )
    .await?;
    let me = UserView::from(account);
    ssr::audit(&mut tx, Some(&me), "login.succeeded", &me.username, "", now).await?;
    patchport_db::commit(tx).await?;
    Ok((me, token))
}

/// Signs out: the session is deleted on the server. Public, so that a
/// click on "Sign out" after the session already timed out still lands on
/// the sign-in page instead of an error.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        if let Ok(me) = ssr::user() {
            let state = ssr::state()?;
            let mut tx = state.db.begin().await?;
            ssr::audit(
                &mut tx,
                Some(&me),
                "logout",
                &me.username,
                "",
                state.clock.now(),
            )
            .await?;
            patchport_db::commit(tx).await?;
            ssr::auth::sign_out(&ssr::session()?).await?;
        }
        leptos_axum::redirect("/login?signed_out=1");
        Ok(())
    })
    .await
}

/// Whether the first-run setup page is open (no admin exists yet).
#[server(endpoint = "setup_open")]
pub async fn setup_open() -> Result<bool, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        Ok(!patchport_db::accounts::admin_exists(&mut conn).await?)
    })
    .await
}

/// Creates the first admin, given the one-time setup code from the server
/// log, and signs them in.
#[server(endpoint = "setup_admin")]
pub async fn setup_admin(
    code: String,
    username: String,
    display_name: String,
    password: String,
    password_repeat: String,
) -> Result<(), AppError> {
    use crate::ssr::{self, passwords};
    use patchport_db::accounts;
    use subtle::ConstantTimeEq;
    ssr::run(async move {
        let state = ssr::state()?;
        let expected = state
            .setup_code
            .lock()
            .map_err(|_| AppError::Internal)?
            .clone();
        let code_ok =
            expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(code.trim().as_bytes())));
        if !code_ok {
            return Err(AppError::invalid(
                "code",
                "The setup code is not right. It is printed in the server log.",
            ));
        }
        let name = patchport_core::Username::parse(&username)?;
        let pw = passwords::chosen(&password, &password_repeat, "The passwords do not match.")?;
        let hash = passwords::hash(&pw).await?;
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        if accounts::admin_exists(&mut tx).await? {
            return Err(AppError::Conflict(
                "An administrator already exists; sign in instead.".into(),
            ));
        }
        let new = accounts::NewAccount {
            username: name.as_str(),
            display_name: display_name.trim(),
            email: None,
            role: Role::Admin,
            password_hash: &hash,
        };
        let me = UserView::from(accounts::create(&mut tx, &new, now).await?);
        ssr::audit(
            &mut tx,
            Some(&me),
            "user.created",
            &me.username,
            "first admin, via setup page",
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        *state.setup_code.lock().map_err(|_| AppError::Internal)? = None;
        ssr::auth::sign_in(&state, &ssr::session()?, me.id).await?;
        leptos_axum::redirect("/");
        Ok(())
    })
    .await
}

/// Changes the signed-in user's password and ends their other sessions.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current: String,
    password: String,
    password_repeat: String,
) -> Result<String, AppError> {
    use crate::ssr::{self, passwords};
    use patchport_db::{accounts, sessions};
    ssr::run(async move {
        let state = ssr::state()?;
        let me = ssr::user()?;
        let session = ssr::session()?;
        let pw = passwords::chosen(
            &password,
            &password_repeat,
            "The new passwords do not match.",
        )?;
        let mut conn = state.db.read().await?;
        let phc = accounts::password_hash(&mut conn, me.id).await?;
        drop(conn);
        if !passwords::verify(Some(phc), current).await? {
            return Err(AppError::invalid(
                "current",
                "The current password is not right.",
            ));
        }
        let hash = passwords::hash(&pw).await?;
        let now = state.clock.now();
        let keep = ssr::auth::session_id(&session);
        let mut tx = state.db.begin().await?;
        accounts::set_password_hash(&mut tx, me.id, &hash, now).await?;
        let ended = sessions::delete_for_account(&mut tx, me.id, keep.as_deref()).await?;
        passwords::tell_changed(
            &mut tx,
            &me,
            patchport_core::notice::PasswordChange::AccountPage,
            now,
        )
        .await?;
        ssr::audit(
            &mut tx,
            Some(&me),
            "password.changed",
            &me.username,
            &format!("{ended} other sessions ended"),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        Ok(match ended {
            0 => "Password changed.".to_owned(),
            1 => "Password changed. Your other session was signed out.".to_owned(),
            n => format!("Password changed. Your {n} other sessions were signed out."),
        })
    })
    .await
}

/// The sign-in page.
#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<crate::app::AuthContext>();
    let query = use_query_map();
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_owned()));
    let signed_out = move || query.with(|q| q.get("signed_out").is_some());
    let password_set = move || query.with(|q| q.get("password_set").is_some());
    let setup = Resource::new(|| (), |_| setup_open());
    view! {
        <section class="card narrow">
            <h1>"Sign in to Patchport"</h1>
            <Show when=signed_out>
                <p class="ok" role="status">"You have signed out."</p>
            </Show>
            <Show when=password_set>
                <p class="ok" role="status">"Your password is set. Sign in with it."</p>
            </Show>
            <ActionForm action=auth.login attr:class="stack">
                <input type="hidden" name="next" value=next />
                <label>
                    "User name"
                    <input type="text" name="username" autocomplete="username" required autofocus />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required />
                </label>
                <FormError action=auth.login />
                <button type="submit" class="primary" disabled=move || auth.login.pending().get()>
                    {move || if auth.login.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <p class="hint"><a href="/forgot">"Forgot your password?"</a></p>
            <Transition fallback=|| ()>
                {move || {
                    Suspend::new(async move { setup.await.ok().filter(|open| *open).map(|_| view! {
                        <p class="hint">
                            "No administrator exists yet. " <a href="/setup">"Set up Patchport"</a>
                        </p>
                    }) })
                }}
            </Transition>
        </section>
    }
}

/// First-run setup: exists only while no admin exists.
#[component]
pub fn SetupPage() -> impl IntoView {
    let auth = expect_context::<crate::app::AuthContext>();
    let open = Resource::new(|| (), |_| setup_open());
    view! {
        <section class="card narrow">
            <h1>"Set up Patchport"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match open.await {
                    Ok(true) => view! {
                        <p>
                            "Create the first administrator. The setup code is printed in the portal's log when it starts."
                        </p>
                        <ActionForm action=auth.setup attr:class="stack">
                            <label>"Setup code" <input type="text" name="code" required autocomplete="off" /></label>
                            <label>"User name" <input type="text" name="username" required autocomplete="username" /></label>
                            <label>"Display name" <input type="text" name="display_name" /></label>
                            <label>"Password" <input type="password" name="password" required minlength="10" autocomplete="new-password" /></label>
                            <label>"Repeat password" <input type="password" name="password_repeat" required autocomplete="new-password" /></label>
                            <FormError action=auth.setup />
                            <button type="submit" class="primary">"Create administrator"</button>
                        </ActionForm>
                    }.into_any(),
                    Ok(false) => view! {
                        <p>"Patchport is already set up. " <a href="/login">"Sign in"</a></p>
                    }.into_any(),
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

/// The signed-in user's own account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let auth = expect_context::<crate::app::AuthContext>();
    view! {
        <section class="card narrow">
            <h1>"Your account"</h1>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { auth.user.await.ok().flatten().map(|u| view! {
                    <p>"Signed in as " <strong>{u.username.clone()}</strong> " (" {u.role.as_str()} ")"</p>
                }) })}
            </Transition>
            <h2>"Change password"</h2>
            <ActionForm action=change attr:class="stack">
                <label>"Current password" <input type="password" name="current" required autocomplete="current-password" /></label>
                <label>"New password" <input type="password" name="password" required minlength="10" autocomplete="new-password" /></label>
                <label>"Repeat new password" <input type="password" name="password_repeat" required autocomplete="new-password" /></label>
                <FormError action=change />
                {move || change.value().get().and_then(Result::ok).map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
                <button type="submit" class="primary">"Change password"</button>
            </ActionForm>
            <crate::zones::ZoneCard />
            <crate::mail::MailPreferences />
        </section>
    }
}

//! Mail in the UI: the admins' outbox page, everybody's mail preferences,
//! and the one-time links mail carries (password reset, invitation).

use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// One mail, for the outbox page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailView {
    /// Id.
    pub id: i64,
    /// Address.
    pub recipient: String,
    /// Kind.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub body: String,
    /// Portal path it links to; "(one-time link)" for secret links.
    pub link: String,
    /// queued, sent or dead.
    pub state: String,
    /// Tries so far.
    pub attempts: i64,
    /// Next try (queued).
    pub next_attempt_at: i64,
    /// Why the last try failed.
    pub last_error: String,
    /// Queued at.
    pub created_at: i64,
    /// Sent at.
    pub sent_at: Option<i64>,
}

/// A page of the outbox, with counts by state and where mail goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxPage {
    /// Mails on this page, newest first.
    pub items: Vec<MailView>,
    /// Matching mails in all.
    pub total: i64,
    /// Waiting to be sent (or retried).
    pub queued: i64,
    /// Handed to the mail server.
    pub sent: i64,
    /// Given up.
    pub dead: i64,
    /// Where mail goes, in words.
    pub transport: String,
}

/// Mails per outbox page.
pub const PER_PAGE: i64 = 50;

/// The outbox (admins): every mail with its state, newest first.
#[server(endpoint = "admin/mail/list")]
pub async fn list_mail(state: String, page: i64) -> Result<OutboxPage, AppError> {
    use crate::ssr;
    use patchport_db::mail;
    ssr::run(async move {
        ssr::require_admin()?;
        if !matches!(state.as_str(), "" | "queued" | "sent" | "dead") {
            return Err(AppError::invalid(
                "state",
                "state must be queued, sent or dead",
            ));
        }
        let app = ssr::state()?;
        let mut conn = app.db.read().await?;
        let filter = mail::MailFilter {
            state: (!state.is_empty()).then_some(state),
            account_id: None,
        };
        let p = mail::list(&mut conn, &filter, page, PER_PAGE).await?;
        let (queued, sent, dead) = mail::counts(&mut conn).await?;
        Ok(OutboxPage {
            items: p
                .items
                .into_iter()
                .map(|m| MailView {
                    link: if m.secret_link {
                        "(one-time link)".into()
                    } else {
                        m.link
                    },
                    id: m.id,
                    recipient: m.recipient,
                    kind: m.kind,
                    subject: m.subject,
                    body: m.body,
                    state: m.state,
                    attempts: m.attempts,
                    next_attempt_at: m.next_attempt_at,
                    last_error: m.last_error,
                    created_at: m.created_at,
                    sent_at: m.sent_at,
                })
                .collect(),
            total: p.total,
            queued,
            sent,
            dead,
            transport: app.mail_to.to_string(),
        })
    })
    .await
}

/// Queues a sent or dead mail again (admins).
#[server(endpoint = "admin/mail/resend")]
pub async fn resend_mail(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        patchport_db::mail::resend(&mut w.tx, id, w.now).await?;
        w.commit("mail.resent", &format!("mail {id}"), "").await?;
        Ok(())
    })
    .await
}

/// One kind of mail on the preferences page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceView {
    /// Kind.
    pub kind: String,
    /// What it is about.
    pub label: String,
    /// Whether the user gets it.
    pub on: bool,
}

/// The signed-in user's address and which mails they get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// Where mail goes; None when the account has no address.
    pub email: Option<String>,
    /// The kinds that apply to the user's role.
    pub kinds: Vec<PreferenceView>,
}

/// The kinds a role gets and may switch off.
#[cfg(feature = "ssr")]
fn kinds_for(
    role: patchport_core::Role,
) -> impl Iterator<Item = &'static patchport_core::mail::Kind> {
    use patchport_core::mail::{Audience, KINDS};
    KINDS.iter().filter(move |k| match k.audience {
        Audience::Owner => true,
        Audience::Admin => role == patchport_core::Role::Admin,
        Audience::Account => false,
    })
}

/// The signed-in user's mail preferences.
#[server(endpoint = "mail/preferences")]
pub async fn mail_preferences() -> Result<Preferences, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let account = patchport_db::accounts::get(&mut conn, me.id)
            .await?
            .ok_or(AppError::Unauthorized)?;
        let off = patchport_db::mail::opt_outs(&mut conn, me.id).await?;
        Ok(Preferences {
            email: account.email,
            kinds: kinds_for(me.role)
                .map(|k| PreferenceView {
                    kind: k.name.into(),
                    label: k.label.into(),
                    on: !off.iter().any(|o| o == k.name),
                })
                .collect(),
        })
    })
    .await
}

/// Saves which mails the signed-in user gets: the kinds listed in `on`;
/// the other kinds of their role are switched off.
#[server(endpoint = "mail/preferences/save", input = server_fn::codec::Json)]
pub async fn save_mail_preferences(on: Vec<String>) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mine: Vec<&str> = kinds_for(me.role).map(|k| k.name).collect();
        if let Some(bad) = on.iter().find(|k| !mine.contains(&k.as_str())) {
            return Err(AppError::invalid(
                "on",
                format!("'{bad}' is not a kind of mail you can choose"),
            ));
        }
        let off: Vec<String> = mine
            .iter()
            .filter(|k| !on.iter().any(|o| o == *k))
            .map(|k| k.to_string())
            .collect();
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        patchport_db::mail::set_opt_outs(&mut tx, me.id, &off).await?;
        ssr::audit(
            &mut tx,
            Some(&me),
            "mail.preferences",
            &me.username,
            &format!("off: {}", off.join(", ")),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        Ok(mail_saved(mine.len() - off.len(), mine.len()))
    })
    .await
}

/// The mail preferences form, posted URL-encoded (by the hydrated page or,
/// without JavaScript, by the browser): `on[]` once per ticked kind, none
/// when nothing is ticked. Saves as [`save_mail_preferences`] does.
#[server(endpoint = "mail/preferences/submit")]
pub async fn submit_mail_preferences(
    #[server(default)] on: Vec<String>,
) -> Result<String, AppError> {
    let saved = save_mail_preferences(on).await?;
    crate::ui::back_to_page(Some(MAIL_SAVED));
    Ok(saved)
}

/// What saving the preferences answers.
fn mail_saved(on: usize, of: usize) -> String {
    format!("Saved: you get {on} of {of} kinds of mail.")
}

/// What a page reloaded after saving the preferences without JavaScript
/// says (`?done=…`).
const MAIL_SAVED: &str = "mail-preferences";

/// How long a password reset link works.
pub const RESET_SECONDS: i64 = 3600;
/// How long an invitation link works.
pub const INVITE_SECONDS: i64 = 7 * 24 * 3600;

/// The answer to every reset request, whether or not the account exists.
pub const RESET_REQUESTED: &str = "If that account exists and has a mail address, a link to choose a new password is on its way. It works once, for an hour.";

/// A new one-time link for an account: the token goes into the queued
/// mail's link, only its digest into the database.
#[cfg(feature = "ssr")]
pub(crate) async fn send_account_link(
    tx: &mut patchport_db::Conn,
    account: &patchport_db::accounts::Account,
    purpose: patchport_db::accounts::TokenPurpose,
    now: i64,
) -> Result<bool, AppError> {
    use patchport_core::notice::Notice;
    use patchport_db::accounts::TokenPurpose;
    use rand::Rng;
    let token: String = rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let username = account.username.clone();
    let (ttl, path, notice) = match purpose {
        TokenPurpose::Reset => (RESET_SECONDS, "reset", Notice::PasswordReset { username }),
        TokenPurpose::Invite => (INVITE_SECONDS, "invite", Notice::Invitation { username }),
    };
    patchport_db::accounts::create_token(
        tx,
        account.id,
        purpose,
        &patchport_core::protocol::secret_digest(&token),
        now + ttl,
        now,
    )
    .await?;
    let queued =
        patchport_db::mail::queue_secret(tx, account.id, &notice, &format!("/{path}/{token}"), now)
            .await?;
    Ok(queued.is_some())
}

/// Asks for a password reset link by user name or mail address. Public;
/// the answer never says whether the account exists; requests are
/// throttled per client address.
#[server(endpoint = "request_password_reset")]
pub async fn request_password_reset(who: String) -> Result<String, AppError> {
    use crate::ssr;
    use patchport_db::{accounts, throttle};
    ssr::run(async move {
        let state = ssr::state()?;
        let who = who.trim().to_owned();
        if who.is_empty() || who.len() > 254 {
            return Err(AppError::invalid(
                "who",
                "Enter your user name or mail address.",
            ));
        }
        let now = state.clock.now();
        let key = format!("reset:{}", ssr::client_addr());
        let mut tx = state.db.begin().await?;
        if let Some(until) = throttle::blocked_until(&mut tx, &key, now).await? {
            return Err(AppError::TooManyRequests(format!(
                "Too many reset requests. Try again in {} seconds.",
                until - now
            )));
        }
        // Every request counts, found or not, so addresses cannot be probed.
        throttle::record_failure(&mut tx, &key, now, state.auth.throttle).await?;
        if let Some(account) = accounts::find_by_name_or_email(&mut tx, &who).await? {
            let sent =
                send_account_link(&mut tx, &account, accounts::TokenPurpose::Reset, now).await?;
            ssr::audit(
                &mut tx,
                None,
                "password.forgotten",
                &account.username,
                if sent {
                    "link mailed"
                } else {
                    "no mail address"
                },
                now,
            )
            .await?;
        }
        patchport_db::commit(tx).await?;
        Ok(RESET_REQUESTED.to_owned())
    })
    .await
}

#[cfg(feature = "ssr")]
fn purpose(raw: &str) -> Result<patchport_db::accounts::TokenPurpose, AppError> {
    match raw {
        "reset" => Ok(patchport_db::accounts::TokenPurpose::Reset),
        "invite" => Ok(patchport_db::accounts::TokenPurpose::Invite),
        _ => Err(AppError::invalid(
            "purpose",
            "purpose must be reset or invite",
        )),
    }
}

/// The message for a link that does not work (any reason).
pub const LINK_INVALID: &str = "This link does not work: it was used already, it expired, or a newer one was sent. Ask for a new one.";

/// The user name a one-time link is for, while it works. Public.
#[server(endpoint = "account_link")]
pub async fn account_link(purpose: String, token: String) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let state = ssr::state()?;
        let purpose = self::purpose(&purpose)?;
        let mut conn = state.db.read().await?;
        patchport_db::accounts::token_account(
            &mut conn,
            purpose,
            &patchport_core::protocol::secret_digest(token.trim()),
            state.clock.now(),
        )
        .await?
        .map(|a| a.username)
        .ok_or_else(|| AppError::Conflict(LINK_INVALID.into()))
    })
    .await
}

/// Sets a password through a one-time link, which then stops working; the
/// account's sessions end. Public.
#[server(endpoint = "use_account_link")]
pub async fn use_account_link(
    purpose: String,
    token: String,
    password: String,
    password_repeat: String,
) -> Result<(), AppError> {
    use crate::ssr::{self, passwords};
    use patchport_db::{accounts, sessions};
    ssr::run(async move {
        let state = ssr::state()?;
        let purpose = self::purpose(&purpose)?;
        let pw = passwords::chosen(&password, &password_repeat, "The passwords do not match.")?;
        let hash = passwords::hash(&pw).await?;
        let now = state.clock.now();
        let mut tx = state.db.begin().await?;
        let Some(account) = accounts::use_token(
            &mut tx,
            purpose,
            &patchport_core::protocol::secret_digest(token.trim()),
            now,
        )
        .await?
        else {
            return Err(AppError::Conflict(LINK_INVALID.into()));
        };
        accounts::set_password_hash(&mut tx, account.id, &hash, now).await?;
        let ended = sessions::delete_for_account(&mut tx, account.id, None).await?;
        let me = crate::accounts::UserView::from(account);
        if purpose == accounts::TokenPurpose::Reset {
            passwords::tell_changed(
                &mut tx,
                &me,
                patchport_core::notice::PasswordChange::ResetLink,
                now,
            )
            .await?;
        }
        ssr::audit(
            &mut tx,
            Some(&me),
            match purpose {
                accounts::TokenPurpose::Reset => "password.reset",
                accounts::TokenPurpose::Invite => "invitation.accepted",
            },
            &me.username,
            &format!("by mailed link; {ended} sessions ended"),
            now,
        )
        .await?;
        patchport_db::commit(tx).await?;
        leptos_axum::redirect("/login?password_set=1");
        Ok(())
    })
    .await
}

/// `/outbox`: every mail and its state; sent and dead mail can be resent.
#[component]
pub fn OutboxPage() -> impl IntoView {
    let state = RwSignal::new(String::new());
    let page = RwSignal::new(1i64);
    let resend = ServerAction::<ResendMail>::new();
    let list = Resource::new(
        move || (state.get(), page.get(), resend.version().get()),
        |(s, p, _)| list_mail(s, p),
    );
    view! {
        <section class="card">
            <h1>"Outbox"</h1>
            <label class="inline">
                "State "
                <select name="state" on:change=move |ev| { state.set(event_target_value(&ev)); page.set(1); }>
                    <option value="">"All"</option>
                    <option value="queued">"Queued"</option>
                    <option value="sent">"Sent"</option>
                    <option value="dead">"Dead (given up)"</option>
                </select>
            </label>
            <FormError action=resend />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match list.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) => {
                        let summary = format!("{} queued · {} sent · {} dead. Mail goes to {}.", p.queued, p.sent, p.dead, p.transport);
                        if p.items.is_empty() {
                            return view! { <p class="hint" id="outbox-summary">{summary}</p><p class="empty">"No mail here."</p> }.into_any();
                        }
                        let total = p.total;
                        view! {
                            <p class="hint" id="outbox-summary">{summary}</p>
                            <Pager page per_page=PER_PAGE total />
                            <div class="table-scroll"><table class="data" id="outbox">
                                <thead><tr><th>"Queued"</th><th>"To"</th><th>"Subject"</th><th>"State"</th><th>"Tries"</th><th>"Last error"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {p.items.into_iter().map(|m| {
                                        let id = m.id;
                                        let state_text = match (m.state.as_str(), m.sent_at) {
                                            ("sent", Some(at)) => format!("sent {}", crate::ui::when(at)),
                                            ("queued", _) if m.attempts > 0 => format!("retry at {}", crate::ui::when(m.next_attempt_at)),
                                            (s, _) => s.to_owned(),
                                        };
                                        let can_resend = m.state != "queued";
                                        view! {
                                            <tr data-state=m.state.clone() data-kind=m.kind.clone()>
                                                <td class="nowrap"><small><crate::ui::Time ts={m.created_at} /></small></td>
                                                <td>{m.recipient.clone()}</td>
                                                // The text opens in place (no JavaScript needed); secret
                                                // links are never part of it.
                                                <td class="mail-text">
                                                    <details>
                                                        <summary>{m.subject.clone()}</summary>
                                                        <pre class="details">{m.body.clone()}</pre>
                                                    </details>
                                                    <small>{m.kind.clone()} " · " {m.link.clone()}</small>
                                                </td>
                                                <td><span class=format!("badge mail-{}", m.state)>{state_text}</span></td>
                                                <td>{m.attempts}</td>
                                                <td><small>{m.last_error.clone()}</small></td>
                                                <td>{can_resend.then(|| view! {
                                                    <ActionForm action=resend attr:class="inline">
                                                        <input type="hidden" name="id" value=id.to_string() />
                                                        <button type="submit">"Resend"</button>
                                                    </ActionForm>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }
                }})}
            </Transition>
        </section>
    }
}

/// Mail preferences, on the account page.
#[component]
pub fn MailPreferences() -> impl IntoView {
    let save = ServerAction::<SubmitMailPreferences>::new();
    let prefs = Resource::new(move || save.version().get(), |_| mail_preferences());
    // Saved without JavaScript: the page was loaded again to say so.
    let saved_before = crate::ui::done(MAIL_SAVED);
    view! {
        <h2>"Mail"</h2>
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match prefs.await {
                Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                Ok(p) => {
                    let on = p.kinds.iter().filter(|k| k.on).count();
                    let total = p.kinds.len();
                    let saved = move || match save.value().get() {
                        Some(Ok(msg)) => Some(msg),
                        None if saved_before => Some(mail_saved(on, total)),
                        _ => None,
                    };
                    view! {
                    <p>{match p.email {
                        Some(e) => format!("Mail goes to {e}."),
                        None => "Your account has no mail address, so you get no mail: ask an administrator to add one.".to_owned(),
                    }}</p>
                    <ActionForm action=save attr:class="stack" attr:id="mail-preferences">
                        {p.kinds.into_iter().map(|k| view! {
                            <label class="check">
                                <input type="checkbox" name="on[]" value=k.kind checked=k.on />
                                {k.label}
                            </label>
                        }).collect_view()}
                        <FormError action=save />
                        {move || saved().map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
                        <button type="submit" class="primary">"Save mail preferences"</button>
                    </ActionForm>
                    }.into_any()
                }
            }})}
        </Transition>
    }
}

/// `/forgot`: ask for a password reset link.
#[component]
pub fn ForgotPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    view! {
        <section class="card narrow">
            <h1>"Forgot your password?"</h1>
            <p>"Enter your user name or mail address; we mail you a link to choose a new password."</p>
            <ActionForm action=request attr:class="stack">
                <label>"User name or mail address" <input type="text" name="who" required autofocus autocomplete="username" /></label>
                <FormError action=request />
                {move || request.value().get().and_then(Result::ok).map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
                <button type="submit" class="primary">"Send the link"</button>
            </ActionForm>
            <p><a href="/login">"Back to sign in"</a></p>
        </section>
    }
}

/// `/reset/:token` and `/invite/:token`: choose a password through a
/// one-time link.
#[component]
pub fn AccountLinkPage(purpose: &'static str) -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let set = ServerAction::<UseAccountLink>::new();
    let link = Resource::new(token, move |t| account_link(purpose.to_owned(), t));
    let title = if purpose == "invite" {
        "Welcome to Patchport"
    } else {
        "Choose a new password"
    };
    view! {
        <section class="card narrow">
            <h1>{title}</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match link.await {
                    Err(e) => view! { <p class="error" id="link-invalid">{e.to_string()}</p><p><a href="/forgot">"Ask for a new link"</a></p> }.into_any(),
                    Ok(username) => view! {
                        <p>"Choose the password for " <strong>{username}</strong> "."</p>
                        <ActionForm action=set attr:class="stack">
                            <input type="hidden" name="purpose" value=purpose />
                            <input type="hidden" name="token" value=token />
                            <label>"Password" <input type="password" name="password" required minlength="10" autocomplete="new-password" /></label>
                            <label>"Repeat password" <input type="password" name="password_repeat" required autocomplete="new-password" /></label>
                            <FormError action=set />
                            <button type="submit" class="primary">"Set password"</button>
                        </ActionForm>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

//! User management (admins only): list, create, disable and re-enable,
//! change role, reset password.

use crate::errors::AppError;
use crate::ui::{CancelStep, FormError, Pager, StepButton};
use leptos::prelude::*;
use patchport_core::Role;
use serde::{Deserialize, Serialize};

/// One account, for the users list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    /// Account id.
    pub id: i64,
    /// User name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Email address, if known.
    pub email: Option<String>,
    /// Admin or owner.
    pub role: Role,
    /// Whether sign-in is refused.
    pub disabled: bool,
    /// When created (seconds since the epoch).
    pub created_at: i64,
    /// Invited by mail and no password chosen yet.
    pub invited: bool,
}

#[cfg(feature = "ssr")]
impl From<patchport_db::accounts::Account> for UserRow {
    fn from(a: patchport_db::accounts::Account) -> Self {
        Self {
            id: a.id,
            username: a.username,
            display_name: a.display_name,
            email: a.email,
            role: a.role,
            disabled: a.disabled,
            created_at: a.created_at,
            invited: a.invited,
        }
    }
}

/// A page of accounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    /// Accounts on this page, by user name.
    pub items: Vec<UserRow>,
    /// Accounts matching in all.
    pub total: i64,
}

/// Rows per page on the users page.
pub const PER_PAGE: i64 = 25;

/// What the users list shows: search text, filters, sort and page.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserFilter {
    /// Substring of user name, display name or email.
    pub search: String,
    /// `""`, `"admin"` or `"owner"`.
    pub role: String,
    /// `""`, `"active"` or `"disabled"`.
    pub status: String,
    /// `"username"`, `"role"` or `"created"`.
    pub sort: String,
    /// Reverse order.
    pub descending: bool,
}

/// Lists accounts matching the filter, one page at a time.
#[server(endpoint = "admin/users/list", input = server_fn::codec::Json)]
pub async fn list_users(filter: UserFilter, page: i64) -> Result<UserPage, AppError> {
    use crate::ssr;
    use patchport_db::accounts::{AccountQuery, AccountSort};
    ssr::run(async move {
        ssr::require_admin()?;
        let q = AccountQuery {
            search: filter.search,
            role: match filter.role.as_str() {
                "" => None,
                r => Some(Role::parse(r)?),
            },
            disabled: match filter.status.as_str() {
                "" => None,
                "active" => Some(false),
                "disabled" => Some(true),
                _ => {
                    return Err(AppError::invalid(
                        "status",
                        "status must be active or disabled",
                    ));
                }
            },
            sort: match filter.sort.as_str() {
                "" | "username" => AccountSort::Username,
                "role" => AccountSort::Role,
                "created" => AccountSort::Created,
                _ => return Err(AppError::invalid("sort", "unknown sort column")),
            },
            descending: filter.descending,
        };
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let found = patchport_db::accounts::list(&mut conn, &q, page, PER_PAGE).await?;
        Ok(UserPage {
            total: found.total,
            items: found.items.into_iter().map(UserRow::from).collect(),
        })
    })
    .await
}

/// Creates an account with an initial password, or, with the password
/// left empty, with none and an invitation mailed to its address (a
/// one-time link to choose the password, valid for 7 days).
#[server(endpoint = "admin/users/create")]
pub async fn create_user(
    username: String,
    display_name: String,
    email: String,
    role: String,
    password: String,
) -> Result<UserRow, AppError> {
    use crate::ssr::{self, passwords};
    use patchport_db::accounts;
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let name = patchport_core::Username::parse(&username)?;
        let role = Role::parse(&role)?;
        let email = match email.trim() {
            "" => None,
            e => Some(patchport_core::Email::parse(e)?),
        };
        let display_name = display_name.trim();
        if display_name.chars().count() > 100 {
            return Err(AppError::invalid(
                "display_name",
                "display name must be at most 100 characters",
            ));
        }
        let invite = password.is_empty();
        let hash = if invite {
            if email.is_none() {
                return Err(AppError::invalid(
                    "password",
                    "Give an initial password, or a mail address to send an invitation to.",
                ));
            }
            // No password works until the invitation is accepted.
            NO_PASSWORD.to_owned()
        } else {
            passwords::hash(&passwords::new_password(&password)?).await?
        };
        // Not before: the hash takes a while, the transaction holds the write lock.
        let mut w = ssr::AdminWrite::begin_as(me).await?;
        let new = accounts::NewAccount {
            username: name.as_str(),
            display_name,
            email: email.as_ref().map(|e| e.as_str()),
            role,
            password_hash: &hash,
        };
        let created = accounts::create(&mut w.tx, &new, w.now).await?;
        w.audit(
            "user.created",
            &created.username,
            &format!(
                "role {role}{}",
                if invite { ", invited by mail" } else { "" }
            ),
        )
        .await?;
        if invite {
            let purpose = accounts::TokenPurpose::Invite;
            crate::mail::send_account_link(&mut w.tx, &created, purpose, w.now).await?;
        }
        w.commit_unaudited().await?;
        Ok(UserRow::from(created))
    })
    .await
}

#[cfg(feature = "ssr")]
use patchport_db::accounts::NO_PASSWORD;

/// Loads the target account for a change, refusing changes to oneself and
/// changes that would leave no enabled admin.
#[cfg(feature = "ssr")]
async fn target_for_change(
    tx: &mut patchport_db::Conn,
    me: &crate::accounts::UserView,
    id: i64,
    removes_admin: bool,
) -> Result<patchport_db::accounts::Account, AppError> {
    use patchport_db::accounts;
    let target = accounts::get(tx, id).await?.ok_or(AppError::NotFound)?;
    if target.id == me.id {
        return Err(AppError::Conflict(
            "You cannot disable yourself or change your own role; ask another admin.".into(),
        ));
    }
    if removes_admin
        && target.role == Role::Admin
        && !target.disabled
        && accounts::count_enabled_admins(tx).await? <= 1
    {
        return Err(AppError::Conflict(
            "This is the last enabled admin; make another admin first.".into(),
        ));
    }
    Ok(target)
}

/// Disables an account (ending its sessions) or re-enables it.
#[server(endpoint = "admin/users/set_disabled")]
pub async fn set_user_disabled(id: i64, disabled: bool) -> Result<(), AppError> {
    use crate::ssr;
    use patchport_db::{accounts, sessions};
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let target = target_for_change(&mut w.tx, &w.me, id, disabled).await?;
        if target.disabled == disabled {
            crate::ui::back_to_page(None);
            return Ok(());
        }
        accounts::set_disabled(&mut w.tx, id, disabled, w.now).await?;
        let (action, detail) = if disabled {
            let ended = sessions::delete_for_account(&mut w.tx, id, None).await?;
            ("user.disabled", format!("{ended} sessions ended"))
        } else {
            ("user.enabled", String::new())
        };
        w.commit(action, &target.username, &detail).await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
}

/// Changes an account's role.
#[server(endpoint = "admin/users/set_role")]
pub async fn set_user_role(id: i64, role: String) -> Result<(), AppError> {
    use crate::ssr;
    use patchport_db::accounts;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let role = Role::parse(&role)?;
        let target = target_for_change(&mut w.tx, &w.me, id, role != Role::Admin).await?;
        if target.role == role {
            crate::ui::back_to_page(None);
            return Ok(());
        }
        accounts::set_role(&mut w.tx, id, role, w.now).await?;
        w.commit(
            "user.role_changed",
            &target.username,
            &format!("{} → {role}", target.role),
        )
        .await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
}

/// Sets a new password for an account and ends all its sessions.
#[server(endpoint = "admin/users/reset_password")]
pub async fn reset_password(id: i64, password: String) -> Result<(), AppError> {
    use crate::ssr::{self, passwords};
    use patchport_db::{accounts, sessions};
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let pw = passwords::new_password(&password)?;
        let hash = passwords::hash(&pw).await?;
        // Not before: the hash takes a while, the transaction holds the write lock.
        let mut w = ssr::AdminWrite::begin_as(me).await?;
        let target = accounts::get(&mut w.tx, id)
            .await?
            .ok_or(AppError::NotFound)?;
        accounts::set_password_hash(&mut w.tx, id, &hash, w.now).await?;
        let ended = sessions::delete_for_account(&mut w.tx, id, None).await?;
        passwords::tell_changed(
            &mut w.tx,
            &crate::accounts::UserView::from(target.clone()),
            patchport_core::notice::PasswordChange::Administrator,
            w.now,
        )
        .await?;
        w.commit(
            "user.password_reset",
            &target.username,
            &format!("{ended} sessions ended"),
        )
        .await?;
        crate::ui::back_to_page(Some(PASSWORD_RESET));
        Ok(())
    })
    .await
}

/// The users page was reloaded after a password reset without JavaScript
/// (`?done=…`).
const PASSWORD_RESET: &str = "password-reset";

/// The users page.
#[component]
pub fn UsersPage() -> impl IntoView {
    let create = ServerAction::<CreateUser>::new();
    // Created: the form is emptied for the next user.
    let create_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_)))
            && let Some(form) = create_form.get()
        {
            form.reset();
        }
    });
    let set_disabled = ServerAction::<SetUserDisabled>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let reset = ServerAction::<ResetPassword>::new();
    let filter = RwSignal::new(UserFilter::default());
    let page = RwSignal::new(1_i64);
    let users = Resource::new(
        move || {
            (
                filter.get(),
                page.get(),
                create.version().get(),
                set_disabled.version().get(),
                set_role.version().get(),
            )
        },
        |(f, p, ..)| list_users(f, p),
    );
    // Any change of filter or sort starts again at page 1.
    let refine = move |change: &dyn Fn(&mut UserFilter)| {
        filter.update(|f| change(f));
        page.set(1);
    };
    let sort_by = move |column: &'static str| {
        refine(&|f| {
            f.descending = f.sort == column && !f.descending;
            f.sort = column.to_owned();
        })
    };
    let arrow = move |column: &'static str| {
        filter.with(|f| {
            match (
                f.sort == column || (f.sort.is_empty() && column == "username"),
                f.descending,
            ) {
                (true, false) => " ▲",
                (true, true) => " ▼",
                _ => "",
            }
        })
    };
    let my_id = use_context::<crate::accounts::UserView>().map(|u| u.id);

    view! {
        <section class="card">
            <h1>"Users"</h1>
            <div class="toolbar">
                <input
                    type="search"
                    placeholder="Search user name, name or email"
                    aria-label="Search users"
                    prop:value=move || filter.with(|f| f.search.clone())
                    on:input=move |ev| { let v = event_target_value(&ev); refine(&|f| f.search = v.clone()); }
                />
                <select aria-label="Role" on:change=move |ev| { let v = event_target_value(&ev); refine(&|f| f.role = v.clone()); }>
                    <option value="">"All roles"</option>
                    <option value="admin">"Admins"</option>
                    <option value="owner">"Owners"</option>
                </select>
                <select aria-label="Status" on:change=move |ev| { let v = event_target_value(&ev); refine(&|f| f.status = v.clone()); }>
                    <option value="">"Any status"</option>
                    <option value="active">"Active"</option>
                    <option value="disabled">"Disabled"</option>
                </select>
            </div>
            <ActionFeedback set_disabled set_role reset />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match users.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <p class="empty">"No users match. Clear the search or create one below."</p>
                    }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="users">
                            <thead><tr>
                                <th><button type="button" class="sort" on:click=move |_| sort_by("username")>"User name" {arrow("username")}</button></th>
                                <th>"Name"</th><th>"Email"</th>
                                <th><button type="button" class="sort" on:click=move |_| sort_by("role")>"Role" {arrow("role")}</button></th>
                                <th>"Status"</th>
                                <th><button type="button" class="sort" on:click=move |_| sort_by("created")>"Created" {arrow("created")}</button></th>
                                <th>"Actions"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|u| {
                                    let is_me = my_id == Some(u.id);
                                    view! { <UserRowView user=u is_me set_disabled set_role reset /> }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
        <section class="card">
            <h2>"Create a user"</h2>
            <ActionForm action=create node_ref=create_form attr:class="grid-form" attr:id="create-user">
                <label>"User name" <input type="text" name="username" required autocomplete="off" /></label>
                <label>"Display name" <input type="text" name="display_name" /></label>
                <label>"Email" <input type="email" name="email" /></label>
                <label>
                    "Role"
                    <select name="role">
                        <option value="owner" selected>"Owner (sees own servers)"</option>
                        <option value="admin">"Admin (runs the portal)"</option>
                    </select>
                </label>
                <label>"Initial password" <input type="password" name="password" minlength="10" autocomplete="new-password" />
                    <small>"Leave empty to mail an invitation instead: the new user chooses their own password."</small></label>
                <button type="submit" class="primary">"Create user"</button>
            </ActionForm>
            <FormError action=create />
            {move || create.value().get().and_then(Result::ok).map(|u| view! {
                <p class="ok" role="status">{created_text(&u)}</p>
            })}
        </section>
    }
}

/// What creating a user answers: who was created and, for an invitation,
/// where it was mailed.
fn created_text(u: &UserRow) -> String {
    match (&u.email, u.invited) {
        (Some(to), true) => format!(
            "Created {} ({}) and mailed an invitation to {to}: the link is valid for 7 days.",
            u.username, u.role
        ),
        _ => format!(
            "Created {} ({}) with the initial password you gave.",
            u.username, u.role
        ),
    }
}

#[component]
fn ActionFeedback(
    set_disabled: ServerAction<SetUserDisabled>,
    set_role: ServerAction<SetUserRole>,
    reset: ServerAction<ResetPassword>,
) -> impl IntoView {
    // Reset without JavaScript: the page was loaded again to say so.
    let reset_before = crate::ui::done(PASSWORD_RESET);
    view! {
        <FormError action=set_disabled />
        <FormError action=set_role />
        <FormError action=reset />
        {move || {
            let done = match reset.value().get() {
                Some(result) => result.is_ok(),
                None => reset_before,
            };
            done.then(|| view! {
                <p class="ok" role="status">"Password reset. The user's sessions were ended."</p>
            })
        }}
    }
}

#[component]
fn UserRowView(
    user: UserRow,
    is_me: bool,
    set_disabled: ServerAction<SetUserDisabled>,
    set_role: ServerAction<SetUserRole>,
    reset: ServerAction<ResetPassword>,
) -> impl IntoView {
    let id = user.id;
    // Which confirmation, if any, is open on this row: opened in place, or
    // without JavaScript by loading the page with `?confirm=<which>-<id>`.
    let step = move |which: &str| format!("{which}-{id}");
    let confirming = RwSignal::new(
        ["disable", "role", "reset"]
            .into_iter()
            .find(|which| crate::ui::step_open(&step(which))),
    );
    let open = move |which: &'static str| Callback::new(move |_| confirming.set(Some(which)));
    let close = Callback::new(move |_| confirming.set(None));
    let disabled = user.disabled;
    let other_role = if user.role == Role::Admin {
        Role::Owner
    } else {
        Role::Admin
    };
    let name = user.username.clone();
    view! {
        <tr class:disabled=disabled data-user=user.username.clone()>
            <td>{user.username.clone()} {is_me.then(|| view! { <span class="badge">"you"</span> })}</td>
            <td>{user.display_name.clone()}</td>
            <td>{user.email.clone().unwrap_or_default()}</td>
            <td><span class=format!("badge role-{}", user.role)>{user.role.as_str()}</span></td>
            <td>{if disabled { "disabled" } else if user.invited { "invited (no password yet)" } else { "active" }}</td>
            <td class="nowrap"><crate::ui::Time ts={user.created_at} /></td>
            <td class="actions">
                {move || match confirming.get() {
                    None => view! {
                        <StepButton step=step("disable") open=open("disable") disabled=is_me>
                            {if disabled { "Enable" } else { "Disable" }}
                        </StepButton>
                        <StepButton step=step("role") open=open("role") disabled=is_me>
                            {format!("Make {other_role}")}
                        </StepButton>
                        <StepButton step=step("reset") open=open("reset")>"Reset password"</StepButton>
                    }.into_any(),
                    // Sending the form closes it (its submit bubbles up here).
                    Some("reset") => view! {
                        <span class="inline" on:submit=move |_| confirming.set(None)>
                            <ActionForm action=reset attr:class="inline">
                                <input type="hidden" name="id" value=id.to_string() />
                                <input type="password" name="password" placeholder="New password (10+)" minlength="10" required
                                    autocomplete="new-password" aria-label="New password" />
                                <button type="submit" class="danger">"Set password"</button>
                            </ActionForm>
                            <CancelStep close />
                        </span>
                    }.into_any(),
                    Some(which) => {
                        let question = match which {
                            "disable" if disabled => format!("Enable {name}?"),
                            "disable" => format!("Disable {name}? Their sessions end now."),
                            _ => format!("Make {name} {other_role}?"),
                        };
                        let confirm = if which == "disable" {
                            view! {
                                <ActionForm action=set_disabled attr:class="inline">
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <input type="hidden" name="disabled" value=(!disabled).to_string() />
                                    <button type="submit" class="danger">"Confirm"</button>
                                </ActionForm>
                            }.into_any()
                        } else {
                            view! {
                                <ActionForm action=set_role attr:class="inline">
                                    <input type="hidden" name="id" value=id.to_string() />
                                    <input type="hidden" name="role" value=other_role.as_str() />
                                    <button type="submit" class="danger">"Confirm"</button>
                                </ActionForm>
                            }.into_any()
                        };
                        view! {
                            <span class="confirm" role="alertdialog" on:submit=move |_| confirming.set(None)>
                                {question}
                                {confirm}
                                <CancelStep close />
                            </span>
                        }.into_any()
                    }
                }}
            </td>
        </tr>
    }
}

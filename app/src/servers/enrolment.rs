//! Enrolment of new agents (admins): tokens are created, listed and
//! revoked on the servers page; a token is shown once, the portal keeps
//! only its hash.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// An enrolment token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Token id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// Creator.
    pub created_by: String,
    /// Expiry (seconds since the epoch).
    pub expires_at: i64,
    /// Uses so far / allowed.
    pub uses: i64,
    /// Allowed uses.
    pub max_uses: i64,
    /// usable, expired, used up or revoked.
    pub status: String,
}

/// Creates an enrolment token and returns it: the only time it is shown.
#[server(endpoint = "admin/enrollment/create")]
pub async fn create_enrollment_token(
    label: String,
    valid_hours: i64,
    max_uses: i64,
) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(AppError::invalid(
                "label",
                "label must be at most 100 characters",
            ));
        }
        if !(1..=720).contains(&valid_hours) {
            return Err(AppError::invalid(
                "valid_hours",
                "validity must be 1 to 720 hours",
            ));
        }
        if !(1..=1000).contains(&max_uses) {
            return Err(AppError::invalid("max_uses", "uses must be 1 to 1000"));
        }
        let (token, id) = ssr::issue_enrollment_token(
            &mut w.tx,
            label,
            Some(w.me.id),
            valid_hours,
            max_uses,
            w.now,
        )
        .await?;
        let detail = format!("token {id}, {max_uses} uses, valid {valid_hours} h");
        w.commit("agent.token_created", label, &detail).await?;
        Ok(token)
    })
    .await
}

/// Lists enrolment tokens, newest first.
#[server(endpoint = "admin/enrollment/list")]
pub async fn list_enrollment_tokens() -> Result<Vec<TokenRow>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        let tokens = patchport_db::agents::list_tokens(&mut conn).await?;
        Ok(tokens
            .into_iter()
            .map(|t| TokenRow {
                status: if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else if t.uses >= t.max_uses {
                    "used up"
                } else {
                    "usable"
                }
                .to_owned(),
                id: t.id,
                label: t.label,
                created_by: t.created_by,
                expires_at: t.expires_at,
                uses: t.uses,
                max_uses: t.max_uses,
            })
            .collect())
    })
    .await
}

/// Revokes an enrolment token.
#[server(endpoint = "admin/enrollment/revoke")]
pub async fn revoke_enrollment_token(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !patchport_db::agents::revoke_token(&mut w.tx, id, w.now).await? {
            return Err(AppError::NotFound);
        }
        w.commit("agent.token_revoked", &format!("token {id}"), "")
            .await?;
        Ok(())
    })
    .await
}

/// The agent's packages as `scripts/agent-packages.sh` names them: the
/// agent has the portal's version, package revision 1, built for x86_64.
const AGENT_DEB: &str = concat!(
    "patchport-agent_",
    env!("CARGO_PKG_VERSION"),
    "-1_amd64.deb"
);
const AGENT_RPM: &str = concat!(
    "patchport-agent-",
    env!("CARGO_PKG_VERSION"),
    "-1.x86_64.rpm"
);

#[component]
pub(super) fn EnrollmentTokens() -> impl IntoView {
    let create = ServerAction::<CreateEnrollmentToken>::new();
    let revoke = ServerAction::<RevokeEnrollmentToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_enrollment_tokens(),
    );
    let portal = move || {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_else(|| "https://patchport.example".into())
    };
    view! {
        <section class="card">
            <h2>"Enrol a server"</h2>
            <p class="hint">
                "Create a token, then run the enroll command as root on the server. The token is shown once; "
                "the portal keeps only its hash."
            </p>
            <ActionForm action=create attr:class="grid-form" attr:id="create-token">
                <label>"Label" <input type="text" name="label" placeholder="e.g. web servers" /></label>
                <label>"Valid for (hours)" <input type="number" name="valid_hours" value="24" min="1" max="720" required /></label>
                <label>"Servers it may enrol" <input type="number" name="max_uses" value="1" min="1" max="1000" required /></label>
                <button type="submit" class="primary">"Create token"</button>
            </ActionForm>
            <FormError action=create />
            {move || create.value().get().and_then(Result::ok).map(|token| view! {
                <div class="token" role="status">
                    <p><strong>"Copy the enroll command now; it will not be shown again."</strong>" On the server, as root:"</p>
                    <ol>
                        <li>
                            "Install the agent from its package (copy it to the server first). Debian, Ubuntu:"
                            <pre class="install-deb">{format!("apt-get install ./{AGENT_DEB}")}</pre>
                            "RHEL, AlmaLinux, Rocky:"
                            <pre class="install-rpm">{format!("dnf install ./{AGENT_RPM}")}</pre>
                        </li>
                        <li>
                            "Enrol it:"
                            <pre class="enroll">{format!("patchport-agent enroll --url {} --token {token}", portal())}</pre>
                        </li>
                        <li>
                            "Start it:"
                            <pre>"systemctl enable --now patchport-agent"</pre>
                        </li>
                    </ol>
                </div>
            })}
            <FormError action=revoke />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { match tokens.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No enrolment tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-scroll"><table class="data" id="tokens">
                            <thead><tr><th>"Label"</th><th>"Created by"</th><th>"Expires"</th><th>"Used"</th><th>"Status"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id;
                                    let usable = t.status == "usable";
                                    view! {
                                        <tr>
                                            <td>{t.label}</td>
                                            <td>{t.created_by}</td>
                                            <td class="nowrap"><crate::ui::Time ts={t.expires_at} /></td>
                                            <td>{format!("{} of {}", t.uses, t.max_uses)}</td>
                                            <td>{t.status}</td>
                                            <td>{usable.then(|| view! {
                                                <button type="button" on:click=move |_| { revoke.dispatch(RevokeEnrollmentToken { id }); }>"Revoke"</button>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    /// The install commands name the files `scripts/agent-packages.sh`
    /// builds: that holds while the agent shares the portal's version and
    /// its package revisions stay 1.
    #[test]
    fn install_commands_name_the_agent_packages() {
        let agent = include_str!("../../../agent/Cargo.toml");
        for (line, why) in [
            (
                "version.workspace = true",
                "the agent has the portal's version",
            ),
            ("revision = \"1\"", "the .deb's revision is 1"),
            ("release = \"1\"", "the .rpm's release is 1"),
        ] {
            assert!(
                agent.lines().any(|l| l.trim() == line),
                "{why}: agent/Cargo.toml no longer says `{line}`; update AGENT_DEB and AGENT_RPM"
            );
        }
    }
}

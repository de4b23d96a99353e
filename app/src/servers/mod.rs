//! Servers and their agents: the list (admins see all, owners their own),
//! a server's page, and enrolment tokens for new agents (admins). The
//! parts:
//!
//! - `list`: the servers list, its filters and the admin's in-place edits;
//! - `detail`: one server's page, its patches and installed packages;
//! - `enrolment`: enrolment tokens.
//!
//! Each part keeps its server functions next to the views that use them;
//! their endpoints are explicit (`#[server(endpoint = …)]`), so they do
//! not depend on where the functions live. Everything public is
//! re-exported here, and the access rules the other modules share live in
//! this file.

mod detail;
mod enrolment;
mod list;

pub use detail::{
    PACKAGES_PER_PAGE, PackagePage, PatchView, RotateCredential, ServerDetail, ServerInfo,
    ServerPackages, ServerPage, rotate_credential, server_detail, server_packages,
};
pub use enrolment::{
    CreateEnrollmentToken, ListEnrollmentTokens, RevokeEnrollmentToken, TokenRow,
    create_enrollment_token, list_enrollment_tokens, revoke_enrollment_token,
};
pub use list::{
    AssignServer, ListServers, PER_PAGE, RevokeAgent, ServerFilter, ServerPage, ServerRow,
    ServersPage, assign_server, list_servers, revoke_agent,
};

#[cfg(feature = "ssr")]
use crate::errors::AppError;

/// A criticality filter as the pages send it: empty for any.
#[cfg(feature = "ssr")]
pub(crate) fn criticality_filter(value: &str) -> Result<Option<String>, AppError> {
    match value {
        "" => Ok(None),
        c @ ("critical" | "standard") => Ok(Some(c.to_owned())),
        _ => Err(AppError::invalid(
            "criticality",
            "criticality must be critical or standard",
        )),
    }
}

/// The id of the account named `name` (an owner typed into a form).
#[cfg(feature = "ssr")]
pub(crate) async fn account_named(
    conn: &mut patchport_db::Conn,
    name: &str,
) -> Result<i64, AppError> {
    let name = patchport_core::Username::parse(name)?;
    let found = patchport_db::accounts::find_for_login(conn, name.as_str()).await?;
    Ok(found
        .ok_or_else(|| AppError::invalid("owner", format!("no user named '{name}'")))?
        .0
        .id)
}

/// Loads a server the caller may see: any for admins, their own for
/// owners. Others get "not found", so owners cannot probe for ids.
#[cfg(feature = "ssr")]
pub async fn visible_server(
    conn: &mut patchport_db::Conn,
    me: &crate::accounts::UserView,
    id: i64,
) -> Result<patchport_db::servers::ServerDetail, AppError> {
    let server = patchport_db::servers::get(conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if me.role != patchport_core::Role::Admin && server.owner_id != Some(me.id) {
        return Err(AppError::NotFound);
    }
    Ok(server)
}

/// Checks with one small read that the caller may see server `id` (as
/// [`visible_server`] decides), for server functions that need no more
/// of it; its host name.
#[cfg(feature = "ssr")]
pub async fn check_visible(
    conn: &mut patchport_db::Conn,
    me: &crate::accounts::UserView,
    id: i64,
) -> Result<String, AppError> {
    let (host, owner) = match patchport_db::servers::host_and_owner(conn, id).await {
        Ok(found) => found,
        Err(patchport_db::StorageError::NotFound) => return Err(AppError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if me.role != patchport_core::Role::Admin && owner != Some(me.id) {
        return Err(AppError::NotFound);
    }
    Ok(host)
}

//! Accounts: people who sign in to the portal.

use crate::row::{Flag, flag};
use crate::{Conn, Page, Result, StorageError, limit_offset};
use patchport_core::{Role, Timestamp};

/// An account as stored, without its password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Row id.
    pub id: i64,
    /// Normalised user name.
    pub username: String,
    /// Name shown in the UI.
    pub display_name: String,
    /// Address for notifications, if known.
    pub email: Option<String>,
    /// Admin or owner.
    pub role: Role,
    /// Disabled accounts cannot sign in.
    pub disabled: bool,
    /// When the account was created.
    pub created_at: Timestamp,
    /// Invited by mail and no password chosen yet.
    pub invited: bool,
    /// The zone the account chose, if it chose one.
    pub time_zone: Option<String>,
    /// The zone its times are shown in: its own, else the portal's default,
    /// else UTC.
    pub zone: String,
}

/// What it takes to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    /// Normalised user name.
    pub username: &'a str,
    /// Name shown in the UI.
    pub display_name: &'a str,
    /// Address for notifications.
    pub email: Option<&'a str>,
    /// Admin or owner.
    pub role: Role,
    /// argon2id PHC string.
    pub password_hash: &'a str,
}

/// An account as [`columns`] selects it; the role is checked on the way
/// to an [`Account`].
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    username: String,
    display_name: String,
    email: Option<String>,
    role: String,
    #[sqlx(try_from = "Flag")]
    disabled: bool,
    created_at: Timestamp,
    #[sqlx(try_from = "Flag")]
    invited: bool,
    time_zone: Option<String>,
    zone: String,
}

/// The columns of [`Row`].
fn columns() -> String {
    format!(
        "id, username, display_name, email, role, {} as disabled, created_at, {} as invited, \
         time_zone, {} as zone",
        flag("disabled"),
        flag(&format!("password_hash = '{NO_PASSWORD}'")),
        zone_of("account"),
    )
}

fn from_row(r: Row) -> Result<Account> {
    Ok(Account {
        id: r.id,
        username: r.username,
        display_name: r.display_name,
        email: r.email,
        role: Role::parse(&r.role)
            .map_err(|e| StorageError::Database(sqlx::Error::Decode(e.into())))?,
        disabled: r.disabled,
        created_at: r.created_at,
        invited: r.invited,
        time_zone: r.time_zone,
        zone: r.zone,
    })
}

/// Creates an account; a taken user name is a [`StorageError::Duplicate`].
pub async fn create(conn: &mut Conn, new: &NewAccount<'_>, now: Timestamp) -> Result<Account> {
    let row: Row = sqlx::query_as(&format!(
        "insert into account (username, display_name, email, role, password_hash, disabled, created_at, updated_at) \
         values ($1, $2, $3, $4, $5, false, $6, $6) returning {}",
        columns()
    ))
    .bind(new.username)
    .bind(new.display_name)
    .bind(new.email)
    .bind(new.role.as_str())
    .bind(new.password_hash)
    .bind(now)
    .fetch_one(conn)
    .await?;
    from_row(row)
}

/// Looks an account up by id.
pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<Account>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("select {} from account where id = $1", columns()))
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(from_row).transpose()
}

/// An account with its password hash.
#[derive(sqlx::FromRow)]
struct LoginRow {
    #[sqlx(flatten)]
    account: Row,
    password_hash: String,
}

/// Looks an account up by normalised user name, with its password hash.
pub async fn find_for_login(conn: &mut Conn, username: &str) -> Result<Option<(Account, String)>> {
    let row: Option<LoginRow> = sqlx::query_as(&format!(
        "select {}, password_hash from account where username = $1",
        columns()
    ))
    .bind(username)
    .fetch_optional(conn)
    .await?;
    row.map(|r| Ok((from_row(r.account)?, r.password_hash)))
        .transpose()
}

/// The password hash of an account, for re-authentication.
pub async fn password_hash(conn: &mut Conn, id: i64) -> Result<String> {
    let (hash,): (String,) = sqlx::query_as("select password_hash from account where id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(hash)
}

/// Which accounts a list shows and in what order.
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// Substring of user name, display name or email (case-insensitive).
    pub search: String,
    /// Only this role.
    pub role: Option<Role>,
    /// Only disabled (`Some(true)`) or only enabled (`Some(false)`) accounts.
    pub disabled: Option<bool>,
    /// Sort column.
    pub sort: AccountSort,
    /// Newest / Z first.
    pub descending: bool,
}

/// Columns the account list sorts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccountSort {
    /// By user name.
    #[default]
    Username,
    /// By role, then user name.
    Role,
    /// By creation time.
    Created,
}

/// Lists accounts matching `q`, one page at a time.
pub async fn list(
    conn: &mut Conn,
    q: &AccountQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<Account>> {
    let (limit, offset) = limit_offset(page, per_page);
    let pattern = format!("%{}%", crate::like_escape(&q.search.trim().to_lowercase()));
    let filter = format!(
        "where (lower(username) like $1 escape '\\' or lower(display_name) like $1 escape '\\' \
         or lower(coalesce(email, '')) like $1 escape '\\') \
         and ($2 = '' or role = $2) \
         and ($3 < 0 or {} = $3)",
        flag("disabled")
    );
    let role = q.role.map(Role::as_str).unwrap_or("");
    let disabled: i64 = match q.disabled {
        None => -1,
        Some(d) => d.into(),
    };
    let dir = if q.descending { "desc" } else { "asc" };
    // Only fixed fragments reach the SQL text; user input is bound.
    let order = match q.sort {
        AccountSort::Username => format!("username {dir}"),
        AccountSort::Role => format!("role {dir}, username"),
        AccountSort::Created => format!("created_at {dir}, id {dir}"),
    };
    let (total,): (i64,) = sqlx::query_as(&format!("select count(*) from account {filter}"))
        .bind(&pattern)
        .bind(role)
        .bind(disabled)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {} from account {filter} order by {order} limit $4 offset $5",
        columns()
    ))
    .bind(&pattern)
    .bind(role)
    .bind(disabled)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Page {
        items: rows.into_iter().map(from_row).collect::<Result<_>>()?,
        total,
    })
}

/// How many enabled admins exist.
pub async fn count_enabled_admins(conn: &mut Conn) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("select count(*) from account where role = 'admin' and disabled = false")
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// Whether any admin exists at all (enabled or not): the first-run setup
/// page exists only while this is false.
pub async fn admin_exists(conn: &mut Conn) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from account where role = 'admin'")
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

async fn update_one(
    conn: &mut Conn,
    sql: &str,
    id: i64,
    value: impl ToString,
    now: Timestamp,
) -> Result<()> {
    let done = sqlx::query(sql)
        .bind(value.to_string())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(())
}

/// Disables or re-enables an account.
pub async fn set_disabled(conn: &mut Conn, id: i64, disabled: bool, now: Timestamp) -> Result<()> {
    let done = sqlx::query("update account set disabled = $1, updated_at = $2 where id = $3")
        .bind(disabled)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(())
}

/// Changes an account's role.
pub async fn set_role(conn: &mut Conn, id: i64, role: Role, now: Timestamp) -> Result<()> {
    update_one(
        conn,
        "update account set role = $1, updated_at = $2 where id = $3",
        id,
        role,
        now,
    )
    .await
}

/// Replaces an account's password hash.
pub async fn set_password_hash(conn: &mut Conn, id: i64, hash: &str, now: Timestamp) -> Result<()> {
    update_one(
        conn,
        "update account set password_hash = $1, updated_at = $2 where id = $3",
        id,
        hash,
        now,
    )
    .await
}

/// What a one-time account link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// A new account chooses its first password.
    Invite,
    /// A forgotten password is replaced.
    Reset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Invite => "invite",
            TokenPurpose::Reset => "reset",
        }
    }
}

/// Stores a one-time link's token by its digest (the token itself is only
/// ever in the mail). Earlier unused links of the same purpose for the
/// account stop working.
pub async fn create_token(
    conn: &mut Conn,
    account_id: i64,
    purpose: TokenPurpose,
    token_digest: &str,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "update account_token set used_at = $1 \
         where account_id = $2 and purpose = $3 and used_at is null",
    )
    .bind(now)
    .bind(account_id)
    .bind(purpose.as_str())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into account_token (account_id, purpose, token_hash, expires_at, created_at) \
         values ($1, $2, $3, $4, $5)",
    )
    .bind(account_id)
    .bind(purpose.as_str())
    .bind(token_digest)
    .bind(expires_at)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The enabled account a link is valid for (unused, unexpired), without
/// using it.
pub async fn token_account(
    conn: &mut Conn,
    purpose: TokenPurpose,
    token_digest: &str,
    now: Timestamp,
) -> Result<Option<Account>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "select t.account_id from account_token t join account a on a.id = t.account_id \
         where t.token_hash = $1 and t.purpose = $2 and t.used_at is null and t.expires_at > $3 \
         and not a.disabled",
    )
    .bind(token_digest)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some((id,)) => get(conn, id).await,
        None => Ok(None),
    }
}

/// Uses a link: marks it used and returns its account, or None when it is
/// unknown, used, expired or its account disabled. Only one caller can
/// win a link.
pub async fn use_token(
    conn: &mut Conn,
    purpose: TokenPurpose,
    token_digest: &str,
    now: Timestamp,
) -> Result<Option<Account>> {
    let Some(account) = token_account(conn, purpose, token_digest, now).await? else {
        return Ok(None);
    };
    let won = sqlx::query(
        "update account_token set used_at = $1 \
         where token_hash = $2 and purpose = $3 and used_at is null and expires_at > $1",
    )
    .bind(now)
    .bind(token_digest)
    .bind(purpose.as_str())
    .execute(conn)
    .await?
    .rows_affected()
        == 1;
    Ok(won.then_some(account))
}

/// The enabled account with this user name or address (address matched
/// without regard to case), for a password reset request.
pub async fn find_by_name_or_email(conn: &mut Conn, who: &str) -> Result<Option<Account>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {} from account where not disabled \
         and (username = lower($1) or lower(email) = lower($1)) order by id limit 1",
        columns()
    ))
    .bind(who.trim())
    .fetch_optional(conn)
    .await?;
    row.map(from_row).transpose()
}

/// Devices a person keeps at most per account; signing in from one more
/// forgets the least recently used.
pub const KNOWN_DEVICES: i64 = 10;

/// Remembers a browser that signed in to `account_id` (by the SHA-256 of
/// its cookie's token), or notes its use again.
pub async fn remember_device(
    conn: &mut Conn,
    account_id: i64,
    token_hash: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "insert into known_device (token_hash, account_id, created_at, last_used_at) values ($1, $2, $3, $3) \
         on conflict (token_hash) do update set last_used_at = excluded.last_used_at",
    )
    .bind(token_hash)
    .bind(account_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "delete from known_device where account_id = $1 and token_hash not in (select token_hash \
         from known_device where account_id = $1 order by last_used_at desc, token_hash limit $2)",
    )
    .bind(account_id)
    .bind(KNOWN_DEVICES)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account a device token belongs to, if it was seen since `since`.
pub async fn device_account(
    conn: &mut Conn,
    token_hash: &str,
    since: Timestamp,
) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "select account_id from known_device where token_hash = $1 and last_used_at >= $2",
    )
    .bind(token_hash)
    .bind(since)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// The password hash of an invited account until the invitation is
/// accepted: not a PHC string, so no password matches it.
pub const NO_PASSWORD: &str = "!invited";

/// SQL for the zone account `alias` reads times in: its own, else the
/// portal's default, else UTC.
pub(crate) fn zone_of(alias: &str) -> String {
    format!(
        "coalesce({alias}.time_zone, (select value from portal_setting where name = '{DEFAULT_ZONE_SETTING}'), '{}')",
        patchport_core::clock::DEFAULT_ZONE
    )
}

/// The name under which `portal_setting` keeps the portal's default zone.
const DEFAULT_ZONE_SETTING: &str = "time_zone";

/// Sets (or, with `None`, forgets) the zone the account reads times in.
/// The caller checks the name (`patchport_core::clock::zone`).
pub async fn set_time_zone(
    conn: &mut Conn,
    id: i64,
    zone: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    sqlx::query("update account set time_zone = $1, updated_at = $2 where id = $3")
        .bind(zone)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The portal's default zone, for accounts that chose none.
pub async fn default_zone(conn: &mut Conn) -> Result<String> {
    Ok(setting(conn, DEFAULT_ZONE_SETTING)
        .await?
        .unwrap_or_else(|| patchport_core::clock::DEFAULT_ZONE.to_owned()))
}

/// Sets the portal's default zone (admins). The caller checks the name.
pub async fn set_default_zone(conn: &mut Conn, zone: &str, now: Timestamp) -> Result<()> {
    set_setting(conn, DEFAULT_ZONE_SETTING, zone, now).await
}

/// A portal-wide setting (`portal_setting`), if set.
pub async fn setting(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("select value from portal_setting where name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(v,)| v))
}

/// Sets a portal-wide setting (admins); the caller checks the value.
pub async fn set_setting(conn: &mut Conn, name: &str, value: &str, now: Timestamp) -> Result<()> {
    sqlx::query(
        "insert into portal_setting (name, value, updated_at) values ($1, $2, $3) \
         on conflict (name) do update set value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(name)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

//! Rows that storage reads and pages show, defined once: `db` decodes them
//! (with this crate's `sqlx` feature, which derives `sqlx::FromRow`) and
//! `app` sends them to the browser as they are (serde), so no layer keeps
//! a copy of another's fields. The browser build has no `sqlx`.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
#[cfg(feature = "sqlx")]
use sqlx::{
    Any, Decode, Type, ValueRef,
    any::{AnyTypeInfo, AnyTypeInfoKind, AnyValueRef},
    error::BoxDynError,
};

pub mod home;
mod report;
pub mod rollouts;
mod servers;

pub use report::{PatchReportRow, ServerReportRow};
pub use servers::{ServerDetail, ServerPatch, ServerRow};

/// A page of rows plus the total, for paged lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows on this page.
    pub items: Vec<T>,
    /// How many rows match in all.
    pub total: i64,
}

/// A recorded audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct AuditEvent {
    /// Row id; increases with time.
    pub id: i64,
    /// When it happened.
    pub at: Timestamp,
    /// The account that acted, if any.
    pub actor_id: Option<i64>,
    /// The actor's name at the time (or what an anonymous client typed);
    /// `actor` in JSON, as the audit page's API always called it.
    #[serde(rename = "actor")]
    pub actor_name: String,
    /// What happened, e.g. `login.failed`.
    pub action: String,
    /// What it happened to, e.g. a user name.
    pub target: String,
    /// Free text that helps a reader.
    pub detail: String,
    /// Client address.
    pub source: String,
}

/// A boolean as either backend returns it through `sqlx::Any`: a
/// boolean, or an integer (0 is false); see `patchport_db::row`.
#[cfg(feature = "sqlx")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

#[cfg(feature = "sqlx")]
impl From<Flag> for bool {
    fn from(f: Flag) -> bool {
        f.0
    }
}

#[cfg(feature = "sqlx")]
impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <bool as Type<Any>>::type_info()
    }

    fn compatible(ty: &AnyTypeInfo) -> bool {
        ty.kind == AnyTypeInfoKind::Bool || ty.kind.is_integer()
    }
}

#[cfg(feature = "sqlx")]
impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
        if value.type_info().kind == AnyTypeInfoKind::Bool {
            <bool as Decode<Any>>::decode(value).map(Flag)
        } else {
            <i64 as Decode<Any>>::decode(value).map(|n| Flag(n != 0))
        }
    }
}

//! The one error type server functions return. It carries only text a user
//! may see; causes of internal errors go to the server log, never here.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// What went wrong, as far as the person in front of the browser needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Not signed in, or the session ended.
    #[error("Please sign in.")]
    Unauthorized,
    /// Signed in, but not allowed.
    #[error("You are not allowed to do that.")]
    Forbidden,
    /// Input was refused; nothing was changed.
    #[error("{message}")]
    Invalid {
        /// The form field at fault, if one is.
        field: Option<String>,
        /// What to fix.
        message: String,
    },
    /// The thing asked for does not exist (or is not yours).
    #[error("Not found.")]
    NotFound,
    /// The change clashes with existing data.
    #[error("{0}")]
    Conflict(String),
    /// Slow down; the text says for how long.
    #[error("{0}")]
    TooManyRequests(String),
    /// Our fault; details are in the server log.
    #[error("Something went wrong on the server. The error was logged.")]
    Internal,
    /// The database cannot be reached right now; trying again later may
    /// work.
    #[error("The portal cannot reach its database right now. Please try again in a moment.")]
    Unavailable,
    /// The request did not reach the server function or its answer could
    /// not be read (network trouble, malformed input).
    #[error("Request failed: {0}")]
    Request(String),
}

impl AppError {
    /// Checks a display name typed into a form (groups, policies,
    /// windows): trimmed, 1 to 64 characters, no control characters.
    pub fn named(field: &str, what: &str, name: &str) -> Result<String, AppError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(AppError::invalid(
                field,
                format!("{what} name is 1 to 64 characters"),
            ));
        }
        Ok(name.to_owned())
    }

    /// Input error on one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden => 403,
            AppError::Invalid { .. } => 422,
            AppError::NotFound => 404,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Internal => 500,
            AppError::Unavailable => 503,
            AppError::Request(_) => 400,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request(value.to_string())
    }
}

impl From<patchport_core::accounts::AccountError> for AppError {
    fn from(e: patchport_core::accounts::AccountError) -> Self {
        use patchport_core::accounts::AccountError as E;
        let field = match e {
            E::UsernameLength | E::UsernameCharacters => "username",
            E::PasswordTooShort | E::PasswordTooLong => "password",
            E::UnknownRole(_) => "role",
            E::Email => "email",
        };
        AppError::invalid(field, e.to_string())
    }
}

/// The words for each uniqueness rule a person can meet (naming the field
/// at fault): the one place that turns a constraint violation into a
/// message. A clash with existing data is a conflict (409).
#[cfg(feature = "ssr")]
fn duplicate(rule: patchport_db::Unique) -> AppError {
    use patchport_db::Unique as U;
    AppError::Conflict(
        match rule {
            U::Username => "That user name is taken.",
            U::GroupName => "A group with this name exists.",
            U::TestGroup => "Another group is already the test group.",
            U::PolicyName => "A policy with this name exists.",
            U::WindowName => "A maintenance window with this name exists.",
            U::Other => "That already exists.",
        }
        .into(),
    )
}

#[cfg(feature = "ssr")]
impl From<patchport_db::StorageError> for AppError {
    fn from(e: patchport_db::StorageError) -> Self {
        use patchport_db::StorageError as E;
        match e {
            E::NotFound => AppError::NotFound,
            E::Conflict(what) => AppError::Conflict(what),
            E::Duplicate(rule) => duplicate(rule),
            E::Dangling(e) => {
                tracing::warn!(error = %error_chain(&e), "change refers to a missing row");
                AppError::Conflict(
                    "Something this refers to was removed meanwhile. Reload and try again.".into(),
                )
            }
            other if other.is_unavailable() => {
                tracing::error!(error = %error_chain(&other), "database unavailable");
                AppError::Unavailable
            }
            other => {
                tracing::error!(error = ?other, chain = %error_chain(&other), "storage error");
                AppError::Internal
            }
        }
    }
}

/// Renders an error with all its causes, for logs.
#[cfg(feature = "ssr")]
pub use patchport_db::error_chain;

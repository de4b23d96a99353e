//! Patchport's domain: the types and rules that the portal, its UI and the
//! agent share. Nothing here does I/O, so it builds for the browser as well.

pub mod accounts;
pub mod advisory;
pub mod clock;
pub mod deadline;
pub mod demo;
pub mod deploy;
pub mod mail;
pub mod notice;
pub mod protocol;
pub mod reconcile;
pub mod refusal;
pub mod risk;
pub mod rollback;
pub mod rollout;
pub mod state;
pub mod version;
pub mod view;
pub mod window;
pub mod workflow;

pub use accounts::{Email, Password, Role, Username};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use state::{
    CheckInStatus, DeployKind, ImportState, JobKind, JobState, MailState, PatchState, RebootOption,
    TargetState,
};

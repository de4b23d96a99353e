//! Rollouts: policies, each patch's path through the workflow (see
//! `patchport_core::rollout`), deployments and the notifications they
//! record, in parts:
//!
//! - [`policies`]: the stored policies;
//! - [`scheduler`]: [`tick`], run every minute by every portal instance:
//!   its steps each run in their own transaction, and on PostgreSQL only
//!   the instance holding a step's transaction-level advisory lock runs
//!   that step, so two instances never act twice;
//! - [`workflow`]: a rollout's path: discovery, test installs,
//!   observation, approval, decline;
//! - [`deployments`]: publishing and deploying patches, and following
//!   the installs they queued;
//! - [`rollback`]: rolling a deployment back on its servers;
//! - [`reads`]: rollouts, deployments and notifications as pages show
//!   them.

pub mod deployments;
pub mod policies;
pub mod reads;
pub mod rollback;
pub mod scheduler;
pub mod workflow;

pub use deployments::*;
pub use policies::*;
pub use reads::*;
pub use rollback::*;
pub use scheduler::*;
pub use workflow::*;

/// How long a deployment's install job may wait before it expires.
pub use patchport_core::deploy::INSTALL_WINDOW;

/// The first of the advisory locks (one per [`Step`], numbered from this)
/// that let one portal instance at a time run each step of [`tick`].
const TICK_LOCK: i64 = 0x7061_7463_6872_6f6c; // "patchrol"

/// Who decided.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The policy, by itself.
    Policy,
    /// An admin.
    Person {
        /// Account id.
        id: i64,
        /// User name, kept with the event.
        name: &'a str,
    },
}

impl Actor<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            Actor::Policy => None,
            Actor::Person { id, .. } => Some(*id),
        }
    }

    fn name(&self) -> &str {
        match self {
            Actor::Policy => "policy",
            Actor::Person { name, .. } => name,
        }
    }
}

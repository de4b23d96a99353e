//! The Patchport agent: runs on a managed Linux server, collects what the
//! portal needs to know (installed packages, pending updates, reboot state)
//! and sends it to the portal. The binary is a thin CLI over this library so that
//! tests can reach every parser.

#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod fleet;
pub mod jobs;
pub mod runner;
pub mod scan;

//! The Patchport portal server: web UI (Leptos SSR + hydration), workers and
//! the admin command line. `main` only parses arguments and calls in here.

// The agent API's OpenAPI description is one large `json!` literal.
#![recursion_limit = "256"]

pub mod advisories;
pub mod agent_api;
pub mod calendar;
pub mod cli;
pub mod config;
pub mod export;
pub mod mail;
pub mod middleware;
pub mod startup;

pub use config::Settings;
pub use startup::Application;

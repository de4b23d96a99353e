//! Patchport's web UI: Leptos components and the server functions next to
//! them. Built twice: with `ssr` into the portal server, with `hydrate` into
//! the WASM bundle that makes the server-rendered pages interactive.
// The pages' view types nest deeply: the release build for the browser
// needs more than the default 128 (as the server crate does).
#![recursion_limit = "256"]

pub mod accounts;
pub mod advisories;
pub mod app;
pub mod audit;
pub mod booking;
pub mod deployments;
pub mod errors;
pub mod groups;
pub mod home;
pub mod jobs;
pub mod mail;
pub mod patches;
pub mod report;
pub mod rollouts;
pub mod servers;
pub mod ui;
pub mod users;
pub mod windows;
pub mod zones;

#[cfg(feature = "ssr")]
pub mod ssr;

/// Server functions anybody may call without signing in. Every other
/// server function is refused to anonymous callers by the portal's
/// authentication middleware; a test walks all registered ones.
pub const PUBLIC_SERVER_FNS: &[&str] = &[
    "/api/whoami",
    "/api/login",
    "/api/logout",
    "/api/setup_open",
    "/api/setup_admin",
    "/api/request_password_reset",
    "/api/account_link",
    "/api/use_account_link",
];

/// Entry point of the WASM bundle: attaches to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

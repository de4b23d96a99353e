//! `sqlx::migrate!` embeds the migrations at compile time but does not tell
//! Cargo about them on stable Rust: without this, a new or changed
//! migration is not picked up until something else rebuilds this crate.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}

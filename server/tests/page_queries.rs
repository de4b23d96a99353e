//! Every server-rendered page runs each of its statements once (issue 17):
//! the statements sqlx logs while a page renders are recorded, and a text
//! seen twice fails the test, naming the page and the statement. Before
//! the pages were gated outside `Suspense`, the server built each page
//! three times per render and ran every query of it three times.
//!
//! Its own test binary: the recorder is the process's global subscriber.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::{ADMIN, OWNER, PASSWORD, for_each_backend};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the text of every statement sqlx logs.
#[derive(Clone, Default)]
struct Statements(Arc<Mutex<Vec<String>>>);

impl Statements {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Reads a statement event's `db.statement` (the whole text of a long
/// statement) or else its `summary` (the whole text of a short one).
#[derive(Default)]
struct Text {
    statement: String,
    summary: String,
}

impl tracing::field::Visit for Text {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "db.statement" => self.statement = value.trim().to_owned(),
            "summary" => self.summary = value.trim().to_owned(),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let text = if text.statement.is_empty() {
            text.summary
        } else {
            text.statement
        };
        self.0.lock().unwrap().push(text);
    }
}

#[tokio::test]
async fn every_page_runs_each_of_its_statements_once() {
    let statements = Statements::default();
    tracing_subscriber::registry()
        .with(
            statements.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sqlx::query", tracing::Level::DEBUG),
            ),
        )
        .init();
    for_each_backend(move |app| {
        let statements = statements.clone();
        async move {
            let (web, _agent) = app
                .server("web-1", &[("openssl", "3.0.2-1"), ("curl", "8.5-1")], false)
                .await;
            let admin = app.login(ADMIN, PASSWORD).await.unwrap();
            let owner = app.login(OWNER, PASSWORD).await.unwrap();
            let server_page = format!("/servers/{web}");
            let pages: Vec<(&str, &str)> = vec![
                (&admin, "/"),
                (&admin, "/report"),
                (&admin, "/report?view=server&security_only=true"),
                (&admin, "/servers"),
                (&admin, &server_page),
                (&admin, "/rollouts"),
                (&admin, "/deployments"),
                (&admin, "/windows"),
                (&admin, "/policies"),
                (&admin, "/admin/users"),
                (&owner, "/"),
                (&owner, "/servers"),
                (&owner, &server_page),
            ];
            let mut repeated = Vec::new();
            for (cookie, path) in pages {
                statements.take();
                let resp = app.get(path, Some(cookie)).await;
                assert_eq!(resp.status(), 200, "{path}");
                let body = resp.text().await.unwrap();
                assert!(body.contains("</html>"), "{path}: the whole page was read");
                let ran = statements.take();
                // Every page reads the database (the session at least).
                assert!(!ran.is_empty(), "{path}: no statement recorded");
                let mut counts: BTreeMap<String, usize> = BTreeMap::new();
                // A connection the pool opens sets itself up (SQLite's
                // pragmas): once per connection, not per query.
                // And each server function checks on its own that the caller
                // may see the server it is asked about (one primary-key
                // read): a server's page calls three (packages, reboot
                // card, jobs), each also an endpoint of its own.
                let own_check = "select hostname, owner_id from server where id = $1";
                for s in ran
                    .into_iter()
                    .filter(|s| !s.to_lowercase().starts_with("pragma") && s != own_check)
                {
                    *counts.entry(s).or_default() += 1;
                }
                for (s, n) in counts.into_iter().filter(|(_, n)| *n > 1) {
                    repeated.push(format!(
                        "{path} ({}): {n}× {s}",
                        if cookie == admin { "admin" } else { "owner" }
                    ));
                }
            }
            assert!(
                repeated.is_empty(),
                "statements run more than once in one page:\n{}",
                repeated.join("\n")
            );
        }
    })
    .await;
}

//! Several portals in one process (as the tests start them): a page renders
//! completely while other portals start. Starting a portal walks the app's
//! routes, and leptos suppresses resource loading for the whole process
//! while it does; a page rendered meanwhile used to keep a resource pending
//! for ever (4 of 100 pages hung here before the route list was walked once
//! per process).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::*;

#[tokio::test]
async fn pages_render_while_other_portals_start() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let done = Arc::new(AtomicBool::new(false));
        // Another thread keeps starting (SQLite) portals, as parallel tests do.
        let starter = std::thread::spawn({
            let done = done.clone();
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let mut started = 0;
                while !done.load(Ordering::Relaxed) {
                    drop(runtime.block_on(spawn_fetching(vec![], None)));
                    started += 1;
                }
                started
            }
        });
        let mut hung = 0;
        for _ in 0..100 {
            let page = tokio::time::timeout(Duration::from_secs(10), async {
                let resp = app.get("/servers", Some(&admin)).await;
                assert_eq!(resp.status(), 200);
                resp.text().await.unwrap()
            })
            .await;
            match page {
                Ok(html) => assert!(html.contains("</html>"), "a whole page"),
                Err(_) => hung += 1,
            }
        }
        done.store(true, Ordering::Relaxed);
        let started = starter.join().unwrap();
        assert!(started > 0, "no portal started meanwhile");
        assert_eq!(
            hung, 0,
            "{hung} of 100 pages hung while {started} portals started"
        );
    })
    .await;
}

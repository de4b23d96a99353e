//! Faults that need real processes: the portal binary killed with SIGKILL
//! at the two moments the mail outbox has to survive (issue 14), against
//! a real SMTP server. A mail is never lost; it is sent at most twice, and
//! twice only when the portal died after the SMTP server took the mail but
//! before the portal recorded it as sent (then the same mail, with the
//! same Message-ID, goes again once its claim has run out).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::sink::Sink;

const ADMIN: &str = "fault-admin";
const ADMIN_PASSWORD: &str = "carbon-kettle-91";

/// A `patchport serve` process on a database that outlives it.
struct Portal {
    database_url: String,
    data: PathBuf,
    port: u16,
    smtp_port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Portal {
    /// Migrates the database and creates the admin, with the real binary.
    fn prepare(database_url: String, data: &Path, smtp_port: u16) -> Self {
        let portal = Self {
            database_url,
            data: data.to_owned(),
            port: free_port(),
            smtp_port,
            child: None,
        };
        let status = portal.command(&["migrate"]).status().unwrap();
        assert!(status.success());
        let mut add = portal
            .command(&[
                "user",
                "add",
                "--admin",
                "--username",
                ADMIN,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        add.stdin
            .take()
            .unwrap()
            .write_all(ADMIN_PASSWORD.as_bytes())
            .unwrap();
        assert!(add.wait().unwrap().success());
        portal
    }

    /// A prepared portal on `url` (a SQLite one moves into a fresh
    /// directory) with its own SMTP sink; the directory holds both and
    /// must outlive them.
    fn with_sink(url: String) -> (tempfile::TempDir, Sink, Self) {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::new(&dir.path().join("sink"));
        let url = if url.starts_with("sqlite:") {
            patchport_db::testing::sqlite_url(dir.path())
        } else {
            url
        };
        let portal = Self::prepare(url, &dir.path().join("data"), sink.port);
        (dir, sink, portal)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchport"));
        cmd.args(args)
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .env("DATABASE_URL", &self.database_url)
            .env("PATCHPORT_DATA_DIR", &self.data)
            .env("PATCHPORT_BIND", format!("127.0.0.1:{}", self.port))
            .env("PATCHPORT_PUBLIC_URL", support::sink::PUBLIC)
            .env("SMTP_URL", format!("smtp://127.0.0.1:{}", self.smtp_port))
            .env("SMTP_TIMEOUT_SECONDS", "10")
            .env("PATCHPORT_LOG", "warn");
        cmd
    }

    /// Starts serving, with the mail worker passing every `mail_seconds`,
    /// and waits until it answers.
    async fn start(&mut self, mail_seconds: u64) {
        let child = self
            .command(&["serve"])
            .env("PATCHPORT_MAIL_SECONDS", mail_seconds.to_string())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(resp) = reqwest::get(self.url("/healthz")).await
                && resp.status() == 200
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the portal did not start");
    }

    /// SIGKILL: no shutdown, no cleanup.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Signs in as the admin and creates an account with `email` and no
    /// password, which queues its invitation mail in the same transaction.
    async fn invite(&self, username: &str, email: &str) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = client
            .post(self.url("/api/login"))
            .form(&[
                ("username", ADMIN),
                ("password", ADMIN_PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        let cookie = support::session_cookie(&login).expect("signed in");
        let created = client
            .post(self.url("/api/admin/users/create"))
            // The public URL is https: the cookie is a `__Host-` one.
            .header("cookie", format!("__Host-patchport_session={cookie}"))
            .form(&[
                ("username", username),
                ("display_name", ""),
                ("email", email),
                ("role", "owner"),
                ("password", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 200, "{}", created.text().await.unwrap());
    }
}

impl Drop for Portal {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits up to `within` for `sink` to hold `n` messages to `address`.
async fn wait_for(sink: &Sink, address: &str, n: usize, within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let got = sink.to(address).len();
        if got >= n || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every database to run on: SQLite always, PostgreSQL when configured.
async fn databases(dir: &Path) -> Vec<String> {
    let mut urls = vec![patchport_db::testing::sqlite_url(dir)];
    urls.extend(patchport_db::testing::postgres_url().await);
    urls
}

#[tokio::test]
async fn a_portal_killed_after_queueing_a_mail_sends_it_once_after_the_restart() {
    for (i, url) in databases(tempfile::tempdir().unwrap().path())
        .await
        .into_iter()
        .enumerate()
    {
        let (_dir, sink, mut portal) = Portal::with_sink(url);
        // The worker's first pass runs at start; the next only in an hour,
        // so the invitation stays queued until the kill.
        portal.start(3600).await;
        let address = format!("ivy{i}@example.test");
        portal.invite(&format!("ivy{i}"), &address).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(sink.to(&address).is_empty(), "not sent before the kill");
        portal.kill();
        // Restarted, the worker finds the mail and sends it, once.
        portal.start(1).await;
        assert_eq!(
            wait_for(&sink, &address, 1, Duration::from_secs(20)).await,
            1
        );
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(sink.to(&address).len(), 1, "sent once");
        portal.kill();
    }
}

#[tokio::test]
async fn a_portal_killed_between_the_smtp_answer_and_marking_it_sent_sends_it_at_most_twice() {
    for (i, url) in databases(tempfile::tempdir().unwrap().path())
        .await
        .into_iter()
        .enumerate()
    {
        let (_dir, sink, mut portal) = Portal::with_sink(url);
        portal.start(1).await;
        // The sink stores mail to "slow…" at once and answers 3 s later:
        // the portal is killed in between.
        let address = format!("slow-jo{i}@example.test");
        portal.invite(&format!("jo{i}"), &address).await;
        assert_eq!(
            wait_for(&sink, &address, 1, Duration::from_secs(20)).await,
            1
        );
        portal.kill();
        // After the restart the mail is still claimed (for the SMTP timeout
        // plus a minute), then sent again: a second copy with the same
        // Message-ID, and no third.
        portal.start(1).await;
        assert_eq!(
            wait_for(&sink, &address, 2, Duration::from_secs(100)).await,
            2,
            "sent again once its claim ran out"
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        let copies = sink.to(&address);
        assert_eq!(copies.len(), 2, "at most twice");
        assert_eq!(copies[0].message_id(), copies[1].message_id());
        portal.kill();
    }
}

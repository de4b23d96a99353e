//! Mail over a real SMTP server on loopback (aiosmtpd, see
//! `fixtures/smtp_sink.py`), on both backends: the right mails reach the
//! right people with working links built from the configured public URL;
//! an SMTP outage delays mail but loses and doubles none; a permanent
//! refusal is a dead letter; queued mail survives a restart; one-time
//! links work once and expire; reboot bookings bring reminders and the
//! outcome.

mod support;

use patchport_core::notice::Notice;
use support::sink::{PUBLIC, Received, Sink};
use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend_with};

/// Runs `test` once per backend with a fresh SMTP sink the portal sends to.
async fn with_smtp<F, Fut>(test: F)
where
    F: Fn(TestApp, Sink) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let n = std::sync::atomic::AtomicU32::new(0);
    let sinks = std::sync::Mutex::new(Vec::new());
    for_each_backend_with(
        |settings| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let sink = Sink::new(&dir.path().join(i.to_string()));
            settings.public_url = PUBLIC.parse().unwrap();
            settings.mail.transport = patchport::config::MailTransport::Smtp(sink.url());
            settings.mail.timeout = 5;
            sinks.lock().unwrap().push(sink);
        },
        |app| {
            let sink = sinks.lock().unwrap().pop().expect("a sink per portal");
            test(app, sink)
        },
    )
    .await;
}

impl TestApp {
    /// An account with a mail address (owner unless `admin`).
    async fn person(&self, name: &str, admin: bool) -> (i64, String) {
        let address = format!("{name}@example.test");
        let role = if admin {
            patchport_core::Role::Admin
        } else {
            patchport_core::Role::Owner
        };
        patchport::cli::add_user(
            &self.app_state.db,
            &self.clock,
            name,
            "",
            Some(&address),
            role,
            PASSWORD,
        )
        .await
        .unwrap();
        (self.find_user(name).await.unwrap(), address)
    }

    /// Queues a notification (and its mail) the way the scheduler does:
    /// `patches` patches published for the account's servers.
    async fn tell(&self, account: i64, patches: usize) {
        let mut tx = self.app_state.db.begin().await.unwrap();
        patchport_db::mail::notify(
            &mut tx,
            account,
            &Notice::Published {
                items: (1..=patches)
                    .map(|n| format!("pkg{n} 1.0 on web-1"))
                    .collect(),
            },
            self.clock_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }

    /// Gives the seeded owner the address `owner@example.test`.
    async fn owner_has_address(&self) {
        let owner_id = self.find_user(OWNER).await.unwrap();
        let mut conn = self.app_state.db.write().await.unwrap();
        sqlx::query("update account set email = 'owner@example.test' where id = $1")
            .bind(owner_id)
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    async fn outbox(&self, cookie: &str, state: &str) -> app::mail::OutboxPage {
        let resp = self
            .post_fn(
                "/api/admin/mail/list",
                Some(cookie),
                &[("state", state), ("page", "1")],
            )
            .await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }
}

#[tokio::test]
async fn mails_reach_their_recipients_with_links_from_the_public_url() {
    with_smtp(|app, sink| async move {
        let (ann, ann_at) = app.person("ann", false).await;
        let (bob, bob_at) = app.person("bob", false).await;
        let (_, carol_at) = app.person("carol", true).await;
        app.tell(ann, 2).await;
        app.tell(bob, 1).await;
        // An admin alert goes to every admin with an address.
        let mut tx = app.app_state.db.begin().await.unwrap();
        let told = patchport_db::mail::notify_admins(
            &mut tx,
            &Notice::TestFailed {
                rollout_id: 7,
                package: "xz".into(),
                version: "5.4".into(),
                failures: vec!["web-1: failed dpkg failed".into()],
            },
            app.clock_now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            told, 2,
            "both admins are notified; only carol has an address"
        );

        // Nothing is sent in the request: the worker sends.
        assert!(sink.received().is_empty());
        let done = app.deliver_mail().await;
        assert_eq!((done.sent, done.retried, done.dead), (3, 0, 0));
        assert_eq!(app.deliver_mail().await.sent, 0, "each mail once");

        let to_ann = sink.to(&ann_at);
        assert_eq!(to_ann.len(), 1);
        assert_eq!(
            to_ann[0].subject(),
            "2 patch(es) published for your servers"
        );
        assert_eq!(to_ann[0].link(), format!("{PUBLIC}servers"));
        assert!(
            to_ann[0].text().contains("Content-Type: text/html"),
            "an HTML part too"
        );
        assert!(
            to_ann[0].text().contains(&format!("{PUBLIC}account")),
            "preferences link"
        );
        assert_eq!(
            sink.to(&bob_at)[0].subject(),
            "1 patch(es) published for your servers"
        );
        let to_carol = sink.to(&carol_at);
        assert_eq!(to_carol.len(), 1);
        assert_eq!(to_carol[0].link(), format!("{PUBLIC}rollouts/7"));
        assert_eq!(sink.received().len(), 3);

        // Preferences: bob switches "published" off and gets no more.
        let cookie = app.login("bob", PASSWORD).await.unwrap();
        let resp = app
            .post_json(
                "/api/mail/preferences/save",
                Some(&cookie),
                serde_json::json!({"on": ["reboot_booked"]}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let resp = app
            .post_json(
                "/api/mail/preferences/save",
                Some(&cookie),
                serde_json::json!({"on": ["test_failed"]}),
            )
            .await;
        assert_eq!(resp.status(), 422, "owners cannot choose admin mail");
        app.tell(bob, 1).await;
        app.tell(ann, 1).await;
        assert_eq!(app.deliver_mail().await.sent, 1);
        assert_eq!(sink.to(&bob_at).len(), 1, "bob switched it off");
        assert_eq!(sink.to(&ann_at).len(), 2);
        let resp = app
            .post_fn("/api/mail/preferences", Some(&cookie), &[])
            .await;
        let prefs: app::mail::Preferences = resp.json().await.unwrap();
        assert_eq!(prefs.email.as_deref(), Some(bob_at.as_str()));
        assert!(
            prefs
                .kinds
                .iter()
                .all(|k| k.on == (k.kind == "reboot_booked"))
        );
        assert!(!prefs.kinds.iter().any(|k| k.kind == "test_failed"));

        // The outbox is for admins only and shows every mail as sent.
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let page = app.outbox(&admin, "").await;
        assert_eq!((page.queued, page.sent, page.dead), (0, 4, 0));
        assert!(
            page.items
                .iter()
                .all(|m| m.state == "sent" && m.attempts == 1)
        );
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let resp = app
            .post_fn(
                "/api/admin/mail/list",
                Some(&owner),
                &[("state", ""), ("page", "1")],
            )
            .await;
        assert_eq!(resp.status(), 403);
    })
    .await;
}

#[tokio::test]
async fn an_smtp_outage_delays_mail_but_loses_and_doubles_none() {
    with_smtp(|app, mut sink| async move {
        let mut people = Vec::new();
        for name in ["dee", "eve", "fay", "gus"] {
            people.push(app.person(name, false).await);
        }
        sink.stop();
        for (id, _) in &people {
            app.tell(*id, 1).await;
        }
        // Down: the first try fails and the pass stops; the rest wait
        // without spending tries.
        let done = app.deliver_mail().await;
        assert_eq!((done.sent, done.retried, done.dead), (0, 1, 0));
        app.clock.advance(31);
        let done = app.deliver_mail().await;
        assert_eq!((done.sent, done.retried), (0, 1));
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let page = app.outbox(&admin, "queued").await;
        assert_eq!(page.queued, 4);
        assert!(
            page.items
                .iter()
                .any(|m| m.attempts > 0 && !m.last_error.is_empty())
        );
        assert_eq!(page.items.iter().map(|m| m.attempts).sum::<i64>(), 2);

        // Back: everything arrives, each once, once the backoff passed.
        sink.start();
        app.clock.advance(3600);
        let done = app.deliver_mail().await;
        assert_eq!((done.sent, done.retried, done.dead), (4, 0, 0));
        app.clock.advance(3600);
        assert_eq!(app.deliver_mail().await, Default::default());
        for (_, address) in &people {
            assert_eq!(sink.to(address).len(), 1, "{address}");
        }
        assert_eq!(sink.received().len(), 4);
        // Every mail carries its own Message-ID, under the portal's host.
        let mut ids: Vec<String> = sink.received().iter().map(Received::message_id).collect();
        assert!(
            ids.iter()
                .all(|id| id.starts_with("<patchport-mail-")
                    && id.ends_with("@patchport.example.test>")),
            "{ids:?}"
        );
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "no duplicate Message-ID");
    })
    .await;
}

#[tokio::test]
async fn a_permanent_refusal_is_a_dead_letter_that_admins_can_resend() {
    with_smtp(|app, sink| async move {
        let (bounce, _) = app.person("bounce", false).await;
        let (hal, hal_at) = app.person("hal", false).await;
        app.tell(bounce, 1).await;
        app.tell(hal, 1).await;
        let done = app.deliver_mail().await;
        assert_eq!((done.sent, done.dead), (1, 1));
        assert_eq!(sink.to(&hal_at).len(), 1, "the good one still goes");
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let dead = app.outbox(&admin, "dead").await;
        assert_eq!(dead.items.len(), 1);
        assert_eq!(dead.items[0].recipient, "bounce@example.test");
        assert!(
            dead.items[0].last_error.contains("550"),
            "{}",
            dead.items[0].last_error
        );
        // Never tried again by itself.
        app.clock.advance(86_400);
        assert_eq!(app.deliver_mail().await, Default::default());
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();

        // Resend: queued again (an owner may not), refused again by the server.
        let id = dead.items[0].id.to_string();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        assert_eq!(
            app.post_fn("/api/admin/mail/resend", Some(&owner), &[("id", &id)])
                .await
                .status(),
            403
        );
        assert_eq!(
            app.post_fn("/api/admin/mail/resend", Some(&admin), &[("id", &id)])
                .await
                .status(),
            200
        );
        assert_eq!(
            app.post_fn("/api/admin/mail/resend", Some(&admin), &[("id", &id)])
                .await
                .status(),
            409,
            "already queued"
        );
        assert_eq!(app.deliver_mail().await.dead, 1);
        assert_eq!(app.audit_count("mail.resent").await, 1);
    })
    .await;
}

#[tokio::test]
async fn queued_mail_survives_a_restart_of_the_portal() {
    with_smtp(|app, mut sink| async move {
        let (ivy, ivy_at) = app.person("ivy", false).await;
        let (jon, jon_at) = app.person("jon", false).await;
        sink.stop();
        app.tell(ivy, 1).await;
        app.tell(jon, 1).await;
        assert_eq!(app.deliver_mail().await.retried, 1);
        let app = app.restart().await;
        sink.start();
        app.clock.advance(3600);
        assert_eq!(app.deliver_mail().await.sent, 2);
        assert_eq!(sink.to(&ivy_at).len(), 1);
        assert_eq!(sink.to(&jon_at).len(), 1);
    })
    .await;
}

#[tokio::test]
async fn reset_and_invitation_links_work_once_and_expire() {
    with_smtp(|app, sink| async move {
        let (kim, kim_at) = app.person("kim", false).await;
        let old_session = app.login("kim", PASSWORD).await.unwrap();
        // A forged Host header changes nothing: links come from the settings.
        let ask = |who: &'static str| {
            let app = &app;
            async move {
                app.client
                    .post(app.url("/api/request_password_reset"))
                    .header("host", "evil.example")
                    .form(&[("who", who)])
                    .send()
                    .await
                    .unwrap()
            }
        };
        let resp = ask("kim@EXAMPLE.test").await;
        assert_eq!(resp.status(), 200);
        let answer = resp.text().await.unwrap();
        // Unknown accounts get the same answer and no mail.
        let resp = ask("nobody").await;
        assert_eq!(resp.text().await.unwrap(), answer);
        assert_eq!(app.deliver_mail().await.sent, 1);
        let mail = &sink.to(&kim_at)[0];
        assert_eq!(mail.subject(), "Choose a new Patchport password");
        let link = mail.link();
        let path = link
            .strip_prefix(PUBLIC.trim_end_matches('/'))
            .unwrap()
            .to_owned();
        assert!(path.starts_with("/reset/"), "{link}");
        let token = path.trim_start_matches("/reset/").to_owned();

        // The token is stored only as a digest, and the sent mail forgets it.
        let mut conn = app.app_state.db.read().await.unwrap();
        let stored: Vec<(String,)> = sqlx::query_as("select token_hash from account_token")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        let kept: Vec<(String,)> = sqlx::query_as("select link from mail")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert!(stored.iter().all(|(h,)| h != &token && h.len() == 64));
        assert!(
            kept.iter().all(|(l,)| !l.contains(&token)),
            "the outbox keeps no usable link"
        );

        // The page opens without signing in and names the account.
        let resp = app.get(&path, None).await;
        assert_eq!(resp.status(), 200);
        let resp = app
            .post_fn(
                "/api/account_link",
                None,
                &[("purpose", "reset"), ("token", &token)],
            )
            .await;
        assert_eq!(resp.json::<String>().await.unwrap(), "kim");
        let set = |password: &'static str, token: String| {
            let app = &app;
            async move {
                app.post_fn(
                    "/api/use_account_link",
                    None,
                    &[
                        ("purpose", "reset"),
                        ("token", &token),
                        ("password", password),
                        ("password_repeat", password),
                    ],
                )
                .await
            }
        };
        assert_eq!(
            set("short", token.clone()).await.status(),
            422,
            "the password rules apply"
        );
        let resp = set("a-new-password-9", token.clone()).await;
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "{}",
            resp.status()
        );
        assert_eq!(
            set("another-password-9", token.clone()).await.status(),
            409,
            "single use"
        );
        assert!(app.login("kim", PASSWORD).await.is_none());
        assert!(app.login("kim", "a-new-password-9").await.is_some());
        assert_eq!(
            app.whoami(Some(&old_session)).await,
            None,
            "old sessions ended"
        );
        assert_eq!(app.audit_count("password.reset").await, 1);

        // A link an hour old no longer works.
        ask("kim").await;
        app.deliver_mail().await;
        let late = sink.to(&kim_at)[1].link();
        let late_token = late.rsplit('/').next().unwrap().to_owned();
        app.clock.advance(3601);
        assert_eq!(
            set("late-password-99", late_token).await.status(),
            409,
            "expired"
        );
        let _ = kim;

        // Invitation: created without a password, the mail brings the link.
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let resp = app
            .post_fn(
                "/api/admin/users/create",
                Some(&admin),
                &[
                    ("username", "lee"),
                    ("display_name", "Lee"),
                    ("email", ""),
                    ("role", "owner"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(resp.status(), 422, "no password and no address");
        let resp = app
            .post_fn(
                "/api/admin/users/create",
                Some(&admin),
                &[
                    ("username", "lee"),
                    ("display_name", "Lee"),
                    ("email", "lee@example.test"),
                    ("role", "owner"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let lee = app.find_user("lee").await.unwrap();
        let invited = || async {
            let mut conn = app.app_state.db.read().await.unwrap();
            patchport_db::accounts::get(&mut conn, lee)
                .await
                .unwrap()
                .unwrap()
                .invited
        };
        assert!(invited().await, "invited, no password yet");
        assert!(app.login("lee", "").await.is_none());
        assert_eq!(app.deliver_mail().await.sent, 1);
        let invite = &sink.to("lee@example.test")[0];
        assert_eq!(invite.subject(), "You are invited to Patchport");
        let token = invite.link().rsplit('/').next().unwrap().to_owned();
        let secret = token.clone();
        let accept = |token: String| {
            let app = &app;
            async move {
                app.post_fn(
                    "/api/use_account_link",
                    None,
                    &[
                        ("purpose", "invite"),
                        ("token", &token),
                        ("password", "lees-password-1"),
                        ("password_repeat", "lees-password-1"),
                    ],
                )
                .await
            }
        };
        // A reset token does not work as an invitation.
        assert_eq!(
            app.post_fn(
                "/api/use_account_link",
                None,
                &[
                    ("purpose", "reset"),
                    ("token", &token),
                    ("password", "lees-password-1"),
                    ("password_repeat", "lees-password-1")
                ]
            )
            .await
            .status(),
            409
        );
        let resp = accept(token.clone()).await;
        assert!(resp.status().is_success() || resp.status().is_redirection());
        assert!(app.login("lee", "lees-password-1").await.is_some());
        assert!(!invited().await, "the invitation was accepted");
        assert_eq!(accept(token).await.status(), 409);
        // A secret link cannot be resent from the outbox once sent.
        let page = app.outbox(&admin, "sent").await;
        let invite_mail = page.items.iter().find(|m| m.kind == "invitation").unwrap();
        assert_eq!(invite_mail.link, "(one-time link)");
        // The outbox page shows the mail's text, never the secret link.
        let html = app.get("/outbox", Some(&admin)).await.text().await.unwrap();
        assert!(
            html.contains("<summary>You are invited to Patchport</summary>"),
            "the text opens from its subject"
        );
        assert!(
            html.contains("Choose your password to sign in; the link works once, for 7 days."),
            "the mail's text is on the page"
        );
        assert!(!html.contains(&secret), "the invitation's token is not");
        let id = invite_mail.id.to_string();
        assert_eq!(
            app.post_fn("/api/admin/mail/resend", Some(&admin), &[("id", &id)])
                .await
                .status(),
            409
        );

        // Invitations expire after 7 days.
        let resp = app
            .post_fn(
                "/api/admin/users/create",
                Some(&admin),
                &[
                    ("username", "max"),
                    ("display_name", ""),
                    ("email", "max@example.test"),
                    ("role", "owner"),
                    ("password", ""),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200);
        app.deliver_mail().await;
        let token = sink.to("max@example.test")[0]
            .link()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        app.clock.advance(7 * 86_400 + 1);
        let resp = app
            .post_fn(
                "/api/account_link",
                None,
                &[("purpose", "invite"), ("token", &token)],
            )
            .await;
        assert_eq!(resp.status(), 409);
    })
    .await;
}

#[tokio::test]
async fn a_booked_reboot_brings_reminders_and_its_outcome_by_mail() {
    with_smtp(|app, sink| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let (server, mut agent) = app.server("db-1", &[], false).await;
        app.owner_has_address().await;
        // A daily UTC window two days ahead, for two hours.
        let now = app.clock_now();
        let opens = (now / 3600 + 50) * 3600;
        let window = serde_json::json!({"days": [1, 2, 3, 4, 5, 6, 7], "start_minute": (opens % 86_400) / 60,
            "duration_minutes": 120, "time_zone": "UTC"});
        let resp = app
            .post_json("/api/admin/windows/create", Some(&admin),
                serde_json::json!({"name": "daily", "window": window, "hostnames": ["db-1"], "group_ids": []}))
            .await;
        assert_eq!(resp.status(), 200);
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let at = opens + 1800;
        let local = patchport_core::clock::format_utc(at)[..16].replace(' ', "T");
        let resp = app
            .post_fn("/api/servers/book_reboot", Some(&owner), &[("server_id", &server.to_string()), ("at", &local)])
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        app.tick().await;
        app.deliver_mail().await;
        let subjects = || {
            sink.to("owner@example.test").iter().map(|m| m.subject()).collect::<Vec<_>>()
        };
        assert_eq!(subjects().len(), 1);
        assert!(subjects()[0].starts_with("Reboot of db-1 booked for "), "{:?}", subjects());

        // 24 hours before, then 1 hour before: one reminder each.
        app.clock.advance(at - 86_400 + 60 - app.clock_now());
        app.tick().await;
        app.tick().await;
        app.deliver_mail().await;
        assert_eq!(subjects()[1..], ["db-1 reboots tomorrow".to_owned()]);
        app.clock.advance(at - 3600 + 60 - app.clock_now());
        app.tick().await;
        app.tick().await;
        app.deliver_mail().await;
        assert_eq!(subjects()[2..], ["db-1 reboots in an hour".to_owned()]);

        // The agent reboots it and comes back with a new boot id.
        app.clock.advance(at + 30 - app.clock_now());
        assert_eq!(app.agent_runs(&mut agent, true).await, Some("reboot"));
        app.tick().await;
        app.tick().await;
        app.deliver_mail().await;
        assert_eq!(subjects()[3..], ["db-1 rebooted".to_owned()]);
        assert_eq!(sink.received().len(), 4, "nothing else, nothing twice");
    })
    .await;
}

#[tokio::test]
async fn an_owner_hears_once_when_a_server_goes_silent_and_again_after_it_came_back() {
    with_smtp(|app, sink| async move {
        let (server, agent) = app.server("quiet-1", &[], false).await;
        app.owner_has_address().await;
        let notice = || async {
            let mut tx = app.app_state.db.begin().await.unwrap();
            let n = patchport_db::servers::notice_silent(&mut tx, app.clock_now())
                .await
                .unwrap();
            tx.commit().await.unwrap();
            n
        };
        // Silent for less than a day: not yet.
        app.clock.advance(86_400 - 60);
        assert_eq!(notice().await, 0);
        // Past a day: one notice, and only one however often the step runs.
        app.clock.advance(120);
        assert_eq!(notice().await, 1);
        assert_eq!(notice().await, 0);
        app.clock.advance(3 * 86_400);
        assert_eq!(notice().await, 0, "told once per silence");
        app.deliver_mail().await;
        let to_owner = sink.to("owner@example.test");
        assert_eq!(to_owner.len(), 1);
        assert!(
            to_owner[0]
                .subject()
                .starts_with("quiet-1 has not checked in since "),
            "{}",
            to_owner[0].subject()
        );
        assert_eq!(to_owner[0].link(), format!("{PUBLIC}servers/{server}"));
        // Back, then silent again: told again.
        let resp = app
            .check_in(&agent.credential, &support::full(&agent.report))
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(notice().await, 0, "checked in: not silent");
        app.clock.advance(86_400 + 60);
        assert_eq!(notice().await, 1);
    })
    .await;
}

#[tokio::test]
async fn an_smtp_server_that_never_answers_delays_mail_without_losing_it() {
    // A listener that accepts connections and never says a word (no
    // greeting): the portal gives up after its SMTP timeout, keeps the
    // mail queued with the reason, and the pass ends.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    let acceptor = tokio::spawn(async move {
        while let Ok((stream, _)) = silent.accept().await {
            keep.lock().await.push(stream);
        }
    });
    for_each_backend_with(
        |settings| {
            settings.public_url = PUBLIC.parse().unwrap();
            settings.mail.transport =
                patchport::config::MailTransport::Smtp(format!("smtp://127.0.0.1:{port}"));
            settings.mail.timeout = 1;
        },
        |app| async move {
            let (hal, _) = app.person("hal", false).await;
            app.tell(hal, 1).await;
            let started = std::time::Instant::now();
            let done = app.deliver_mail().await;
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the pass ended on the timeout, {:?}",
                started.elapsed()
            );
            assert_eq!((done.sent, done.retried, done.dead), (0, 1, 0));
            let admin = app.login(ADMIN, PASSWORD).await.unwrap();
            let page = app.outbox(&admin, "queued").await;
            assert_eq!(page.queued, 1, "kept for the next try");
            assert_eq!(page.items[0].attempts, 1);
            let error = page.items[0].last_error.to_lowercase();
            assert!(
                error.contains("no answer") || error.contains("timed out"),
                "{error}"
            );
        },
    )
    .await;
    acceptor.abort();
}

//! Mail over a real SMTP server on loopback (aiosmtpd, see
//! `fixtures/smtp_sink.py`), on both backends: the right mails reach the
//! right people with working links built from the configured public URL;
//! an SMTP outage delays mail but loses and doubles none; a permanent
//! refusal is a dead letter; queued mail survives a restart; one-time
//! links work once and expire; reboot bookings bring reminders and the
//! outcome; booking changes become one mail with the calendar entry.

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
        app.daily_window(&admin, "daily", opens, &["db-1"]).await;
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let at = opens + 1800;
        let local = patchport_core::clock::format_utc(at)[..16].replace(' ', "T");
        let resp = app
            .post_fn(
                "/api/servers/book_reboot",
                Some(&owner),
                &[("server_id", &server.to_string()), ("at", &local)],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        app.tick().await;
        app.deliver_mail().await;
        assert!(
            sink.received().is_empty(),
            "the booking mail waits for the quiet period"
        );
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        let subjects = || {
            sink.to("owner@example.test")
                .iter()
                .map(|m| m.subject())
                .collect::<Vec<_>>()
        };
        assert_eq!(subjects().len(), 1);
        assert!(
            subjects()[0].starts_with("Reboot of db-1 booked for "),
            "{:?}",
            subjects()
        );
        assert!(
            calendar_of(&sink.to("owner@example.test")[0]).is_some(),
            "with its calendar entry"
        );

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
        let mails = sink.to("owner@example.test");
        assert!(
            mails[1..].iter().all(|m| calendar_of(m).is_none()),
            "reminders and the outcome carry no calendar entry"
        );
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

/// The default quiet period of booking mails (the tests' settings keep it).
const QUIET: i64 = patchport::config::BOOKING_QUIET_SECONDS as i64;

/// The `.ics` attachment of a mail, unfolded into its content lines
/// (RFC 5545 3.1), each checked to be `NAME[;PARAM…]:VALUE` and the
/// components to nest: None without one. Also checks the part's headers.
fn calendar_of(mail: &Received) -> Option<Vec<(String, String)>> {
    let lines: Vec<&str> = mail
        .data
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .collect();
    let typed = lines
        .iter()
        .position(|l| l.starts_with("Content-Type: text/calendar"))?;
    // The part's headers run from its boundary to the first empty line.
    let at = lines[..typed]
        .iter()
        .rposition(|l| l.starts_with("--"))
        .unwrap()
        + 1;
    let headers: Vec<&str> = lines[at..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect();
    let headers = headers.join("\n");
    assert!(headers.contains("charset=utf-8"), "{headers}");
    assert!(
        headers.contains("Content-Disposition: attachment; filename=\"reboot-"),
        "{headers}"
    );
    let body: Vec<&str> = lines[at + headers.lines().count() + 1..]
        .iter()
        .take_while(|l| !l.starts_with("--"))
        .copied()
        .collect();
    let body = if headers.contains("Content-Transfer-Encoding: quoted-printable") {
        unquote(&body.join("\r\n"))
    } else {
        assert!(
            headers.contains("Content-Transfer-Encoding: 7bit"),
            "{headers}"
        );
        body.join("\r\n")
    };
    let mut unfolded: Vec<String> = Vec::new();
    for line in body.split("\r\n").filter(|l| !l.is_empty()) {
        match line.strip_prefix(' ') {
            Some(more) => unfolded
                .last_mut()
                .expect("a folded line continues one")
                .push_str(more),
            None => unfolded.push(line.to_owned()),
        }
    }
    let mut open = Vec::new();
    let mut props = Vec::new();
    for line in unfolded {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("not a content line: {line}"));
        let name = name.split(';').next().unwrap().to_owned();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{line}"
        );
        match name.as_str() {
            "BEGIN" => open.push(value.to_owned()),
            "END" => assert_eq!(open.pop().as_deref(), Some(value), "components nest"),
            _ => assert!(!open.is_empty(), "{line} inside a component"),
        }
        props.push((name, value.to_owned()));
    }
    assert!(open.is_empty(), "every component ends: {open:?}");
    Some(props)
}

/// A quoted-printable body decoded (RFC 2045 6.7): soft line breaks
/// removed, `=XX` turned back into the byte.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let mut bytes = Vec::new();
    let mut rest = joined.as_bytes();
    while let Some((&b, more)) = rest.split_first() {
        if b == b'=' && more.len() >= 2 {
            let hex = std::str::from_utf8(&more[..2]).unwrap();
            bytes.push(u8::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad escape ={hex}")));
            rest = &more[2..];
        } else {
            bytes.push(b);
            rest = more;
        }
    }
    String::from_utf8(bytes).expect("utf-8")
}

/// The value of the first property `name`.
fn prop<'a>(props: &'a [(String, String)], name: &str) -> &'a str {
    props
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} in {props:?}"))
}

/// A time as iCalendar writes it in UTC.
fn ical_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap()
        .format("%Y%m%dT%H%M%SZ")
        .to_string()
}

impl TestApp {
    /// Books (or moves) `server`'s reboot for `at`, as its owner.
    async fn book(&self, owner: &str, server: i64, at: i64) {
        let local = patchport_core::clock::format_utc(at)[..16].replace(' ', "T");
        let resp = self
            .post_fn(
                "/api/servers/book_reboot",
                Some(owner),
                &[("server_id", &server.to_string()), ("at", &local)],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    async fn cancel_booking(&self, owner: &str, server: i64) {
        let resp = self
            .post_fn(
                "/api/servers/cancel_reboot",
                Some(owner),
                &[("server_id", &server.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    }

    /// The in-app notifications of `kind`.
    async fn notified(&self, kind: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("select count(*) from notification where kind = $1")
            .bind(kind)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        n
    }
}

#[tokio::test]
async fn booking_changes_in_a_quiet_period_become_one_mail_with_the_calendar_entry() {
    with_smtp(|app, sink| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let (server, _agent) = app.server("db-1", &[], false).await;
        app.owner_has_address().await;
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let opens = (app.clock_now() / 3600 + 50) * 3600;
        app.daily_window(&admin, "daily", opens, &["db-1"]).await;
        let to_owner = || sink.to("owner@example.test");

        // Three times in a row, 20 s apart: nothing while they change.
        for minutes in [10, 20, 30] {
            app.book(&owner, server, opens + minutes * 60).await;
            assert_eq!(app.deliver_mail().await.bookings_told, 0);
            app.clock.advance(20);
        }
        let last_change = app.clock_now() - 20;
        // A quiet period after the first change, but not after the last.
        app.clock.advance(last_change + QUIET - 1 - app.clock_now());
        assert_eq!(app.deliver_mail().await, Default::default());
        assert!(to_owner().is_empty());
        app.clock.advance(1);
        let done = app.deliver_mail().await;
        assert_eq!((done.bookings_told, done.sent), (1, 1));
        let final_at = opens + 30 * 60;
        let mails = to_owner();
        assert_eq!(mails.len(), 1, "one mail for three changes");
        assert_eq!(
            mails[0].subject(),
            format!(
                "Reboot of db-1 booked for {}",
                &patchport_core::clock::format_utc(final_at)[..16]
            ) + " UTC"
        );
        let ics = calendar_of(&mails[0]).expect("the calendar entry is attached");
        assert_eq!(prop(&ics, "METHOD"), "PUBLISH");
        assert_eq!(prop(&ics, "VERSION"), "2.0");
        assert_eq!(prop(&ics, "DTSTART"), ical_time(final_at));
        assert_eq!(prop(&ics, "STATUS"), "CONFIRMED");
        let uid = prop(&ics, "UID").to_owned();
        assert_eq!(
            uid,
            format!("reboot-server-{server}@patchport.example.test")
        );
        assert_eq!(prop(&ics, "SEQUENCE"), "1");
        assert!(prop(&ics, "URL").starts_with(&format!("{PUBLIC}servers/")));
        assert_eq!(
            app.notified("reboot_booked").await,
            1,
            "one notification too"
        );
        // The download is the same entry, at the same revision.
        let download = app
            .get(&format!("/servers/{server}/reboot.ics"), Some(&owner))
            .await;
        let download = download.text().await.unwrap();
        assert!(download.contains(&format!("UID:{uid}")), "{download}");
        assert!(download.contains("SEQUENCE:1"), "{download}");
        assert_eq!(app.deliver_mail().await, Default::default(), "told once");

        // Moved, then cancelled, inside one quiet period: one cancellation
        // of the time the owner was told, which removes the entry.
        app.book(&owner, server, opens + 40 * 60).await;
        app.clock.advance(30);
        app.cancel_booking(&owner, server).await;
        app.clock.advance(QUIET);
        assert_eq!(app.deliver_mail().await.sent, 1);
        let mails = to_owner();
        assert_eq!(
            mails[1].subject(),
            format!(
                "Reboot of db-1 on {} UTC cancelled",
                &patchport_core::clock::format_utc(final_at)[..16]
            )
        );
        assert!(
            mails[1]
                .text()
                .contains("was cancelled. If it still needs one, book a new time")
        );
        let ics = calendar_of(&mails[1]).expect("the cancellation carries the entry");
        assert_eq!(prop(&ics, "METHOD"), "CANCEL");
        assert_eq!(prop(&ics, "STATUS"), "CANCELLED");
        assert_eq!(prop(&ics, "UID"), uid);
        assert_eq!(prop(&ics, "SEQUENCE"), "2");
        assert!(mails[1].text().contains("method=CANCEL"));

        // Booked and cancelled again before anything was told: no mail.
        app.book(&owner, server, opens + 50 * 60).await;
        app.cancel_booking(&owner, server).await;
        app.clock.advance(QUIET);
        assert_eq!(app.deliver_mail().await, Default::default());
        assert_eq!(to_owner().len(), 2);

        // Changes that never stop are told five quiet periods after the
        // first, with the time they had then.
        let first = app.clock_now();
        let mut at = opens;
        while app.clock_now() < first + 5 * QUIET {
            at += 60;
            app.book(&owner, server, at).await;
            app.clock.advance(QUIET / 2);
            if app.clock_now() < first + 5 * QUIET {
                assert_eq!(app.deliver_mail().await.sent, 0);
            }
        }
        assert_eq!(app.deliver_mail().await.sent, 1);
        let mails = to_owner();
        assert!(
            mails[2]
                .subject()
                .contains(&patchport_core::clock::format_utc(at)[..16]),
            "{}",
            mails[2].subject()
        );
        assert_eq!(
            prop(&calendar_of(&mails[2]).unwrap(), "SEQUENCE"),
            "4",
            "one revision per settled change"
        );
        assert_eq!(app.notified("reboot_booked").await, 2);
        assert_eq!(app.notified("reboot_cancelled").await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_reboot_booked_less_than_a_quiet_period_ahead_is_mailed_at_once() {
    with_smtp(|app, sink| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let (server, _agent) = app.server("db-1", &[], false).await;
        app.owner_has_address().await;
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        // A window open now: it opened ten minutes ago, on the minute.
        let opens = (app.clock_now() / 60 - 10) * 60;
        app.daily_window(&admin, "now", opens, &["db-1"]).await;
        app.book(&owner, server, opens + 11 * 60).await;
        let done = app.deliver_mail().await;
        assert_eq!(
            (done.bookings_told, done.sent),
            (1, 1),
            "the reboot is before the quiet period ends"
        );
        let mails = sink.to("owner@example.test");
        assert!(mails[0].subject().starts_with("Reboot of db-1 booked for "));
        assert!(calendar_of(&mails[0]).is_some());
    })
    .await;
}

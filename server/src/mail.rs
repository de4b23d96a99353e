//! Sending the outbox. The worker first tells owners of the booking
//! changes that came to rest (`patchport_db::mail::settle_bookings`), then
//! claims due mail, renders it from the text and HTML templates with
//! links under the configured public URL (never the request's Host) and,
//! for a booking notice, its calendar entry as an `.ics` attachment
//! (`crate::calendar`), and hands it to SMTP or, without SMTP, to `.eml`
//! files. A try that fails
//! for a transient reason is retried with backoff; a permanent refusal
//! (5xx) or too many tries leaves the mail dead; an unreachable server
//! ends the pass so waiting mail keeps its tries for when it is back.

use crate::config::{MailSettings, MailTransport};
use askama::Template;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use patchport_core::Clock;
use patchport_core::mail::{MAX_ATTEMPTS, retry_delay};
use patchport_db::mail::Mail;
use patchport_db::{Db, StorageError};
use std::time::Duration;

/// Renders and sends mail; built once from the settings.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    public_url: url::Url,
    timeout: Duration,
    /// Seconds a booking must rest before its owner is mailed.
    booking_quiet: i64,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>, std::path::PathBuf),
}

/// What one worker pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Handed over.
    pub sent: u32,
    /// Failed for now; tried again later.
    pub retried: u32,
    /// Given up.
    pub dead: u32,
    /// Owners told where their booking changes ended (mails queued).
    pub bookings_told: u32,
}

/// Why a try failed.
#[derive(Debug)]
struct SendError {
    /// The server refused for good (5xx), or the mail cannot be sent.
    permanent: bool,
    /// The server could not be reached at all: stop this pass.
    unreachable: bool,
    message: String,
}

/// What both templates show.
struct Parts<'a> {
    subject: &'a str,
    body: &'a str,
    action: &'a str,
    url: &'a str,
    portal: &'a str,
    preferences: &'a str,
    optional: bool,
}

#[derive(Template)]
#[template(path = "mail.txt")]
struct TextMail<'a> {
    m: &'a Parts<'a>,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct HtmlMail<'a> {
    m: &'a Parts<'a>,
}

impl Mailer {
    /// Builds the transport the settings name.
    pub fn new(settings: &MailSettings, public_url: &url::Url) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(settings.timeout);
        let transport = match &settings.transport {
            MailTransport::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?
                    .timeout(Some(timeout))
                    .build(),
            ),
            MailTransport::Files(dir) => {
                std::fs::create_dir_all(dir)?;
                Transport::Files(AsyncFileTransport::new(dir), dir.clone())
            }
        };
        Ok(Self {
            transport,
            from: settings.from.parse()?,
            public_url: public_url.clone(),
            timeout,
            booking_quiet: settings.booking_quiet as i64,
        })
    }

    /// Where mail goes, for the outbox page and the log.
    pub fn describe(&self) -> String {
        match &self.transport {
            Transport::Smtp(_) => "an SMTP server".into(),
            Transport::Files(_, dir) => {
                format!("files in {} (no SMTP server is configured)", dir.display())
            }
        }
    }

    /// The absolute URL of a portal path.
    fn absolute(&self, path: &str) -> String {
        self.public_url
            .join(path.trim_start_matches('/'))
            .map(String::from)
            .unwrap_or_default()
    }

    /// The message for a queued mail.
    fn render(&self, mail: &Mail) -> Result<Message, SendError> {
        let permanent = |message: String| SendError {
            permanent: true,
            unreachable: false,
            message,
        };
        let kind = patchport_core::mail::kind(&mail.kind);
        let action = kind.map(|k| k.action).unwrap_or("Open Patchport");
        let optional = kind.is_none_or(|k| k.optional());
        let url = if mail.link.is_empty() {
            String::new()
        } else {
            self.absolute(&mail.link)
        };
        let portal = self.absolute("/");
        let preferences = self.absolute("/account");
        let parts = Parts {
            subject: &mail.subject,
            body: &mail.body,
            action,
            url: &url,
            portal: &portal,
            preferences: &preferences,
            optional,
        };
        let template = |e: askama::Error| permanent(format!("template: {e}"));
        let text = TextMail { m: &parts }.render().map_err(template)?;
        let html = HtmlMail { m: &parts }.render().map_err(template)?;
        let mut body = MultiPart::alternative_plain_html(text, html);
        if let Some(entry) = serde_json::from_str::<patchport_core::notice::Notice>(&mail.data)
            .ok()
            .and_then(|n| n.calendar())
        {
            // Made from the stored notice, so every try and a resend carry
            // the same entry; its stamp is when the mail was queued.
            let ics = crate::calendar::ics(
                &entry,
                &mail.zone,
                self.public_url.as_str(),
                mail.created_at,
            );
            let method = if entry.cancelled() {
                "CANCEL"
            } else {
                "PUBLISH"
            };
            let kind =
                ContentType::parse(&format!("text/calendar; charset=utf-8; method={method}"))
                    .map_err(|e| permanent(format!("calendar content type: {e}")))?;
            body = MultiPart::mixed().multipart(body).singlepart(
                Attachment::new(crate::calendar::file_name(&entry.host)).body(ics, kind),
            );
        }
        let to: Mailbox = mail
            .recipient
            .parse()
            .map_err(|e| permanent(format!("'{}' is not a mail address: {e}", mail.recipient)))?;
        // One id per mail row, the same on every try and on a resend, so
        // a mail client can tell a second delivery for the same mail.
        let host = self.public_url.host_str().unwrap_or("patchport.invalid");
        Message::builder()
            .message_id(Some(format!(
                "<patchport-mail-{}-{}@{host}>",
                mail.id, mail.created_at
            )))
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(body)
            .map_err(|e| permanent(format!("building the message: {e}")))
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let message = self.render(mail)?;
        match &self.transport {
            Transport::Smtp(smtp) => {
                let sent = tokio::time::timeout(self.timeout, smtp.send(message)).await;
                match sent {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(SendError {
                        permanent: e.is_permanent(),
                        // No SMTP reply at all: connection refused, TLS,
                        // timeouts. Transient replies (4xx) are per mail.
                        unreachable: !e.is_permanent() && !e.is_transient(),
                        message: e.to_string(),
                    }),
                    Err(_) => Err(SendError {
                        permanent: false,
                        unreachable: true,
                        message: format!("no answer within {} s", self.timeout.as_secs()),
                    }),
                }
            }
            Transport::Files(files, _) => {
                files
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| SendError {
                        permanent: false,
                        unreachable: true,
                        message: app::errors::error_chain(&e),
                    })
            }
        }
    }
}

/// One worker pass: queues the booking mails whose quiet period ended,
/// then sends every due mail, one claim at a time, until none is due or
/// the server is unreachable. Mail is claimed for the length of
/// a try plus a minute, so a portal that dies mid-send leaves it to be
/// tried again, not lost.
pub async fn deliver_due(
    db: &Db,
    clock: &dyn Clock,
    mailer: &Mailer,
) -> Result<Delivery, StorageError> {
    let mut done = Delivery::default();
    let mut tx = db.begin().await?;
    done.bookings_told =
        patchport_db::mail::settle_bookings(&mut tx, clock.now(), mailer.booking_quiet).await?;
    patchport_db::commit(tx).await?;
    let lease = mailer.timeout.as_secs() as i64 + 60;
    loop {
        let claimed = {
            let mut tx = db.begin().await?;
            let claimed = patchport_db::mail::claim_due(&mut tx, clock.now(), lease, 1).await?;
            patchport_db::commit(tx).await?;
            claimed
        };
        let Some(mail) = claimed.into_iter().next() else {
            return Ok(done);
        };
        let outcome = mailer.send(&mail).await;
        let now = clock.now();
        let mut tx = db.begin().await?;
        let stop = match &outcome {
            Ok(()) => {
                patchport_db::mail::mark_sent(&mut tx, mail.id, now).await?;
                done.sent += 1;
                false
            }
            Err(e) => {
                let give_up = e.permanent || mail.attempts >= MAX_ATTEMPTS;
                let retry_at = (!give_up).then(|| now + retry_delay(mail.attempts));
                let why = if e.permanent || !give_up {
                    e.message.clone()
                } else {
                    format!("gave up after {} tries: {}", mail.attempts, e.message)
                };
                patchport_db::mail::mark_failed(&mut tx, mail.id, &why, retry_at).await?;
                if give_up {
                    done.dead += 1;
                    tracing::warn!(mail = mail.id, to = %mail.recipient, error = %why, "mail given up");
                } else {
                    done.retried += 1;
                    tracing::info!(mail = mail.id, error = %why, "mail will be tried again");
                }
                e.unreachable
            }
        };
        patchport_db::commit(tx).await?;
        if stop {
            return Ok(done);
        }
    }
}

/// Runs [`deliver_due`] every `every`, for as long as the portal runs.
pub async fn run_worker(
    db: Db,
    clock: std::sync::Arc<dyn Clock>,
    mailer: std::sync::Arc<Mailer>,
    every: Duration,
) {
    tracing::info!(to = %mailer.describe(), "mail worker started");
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match deliver_due(&db, clock.as_ref(), &mailer).await {
            Ok(d) if d != Delivery::default() => tracing::info!(?d, "mail worker pass"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %app::errors::error_chain(&e), "mail worker pass failed")
            }
        }
    }
}

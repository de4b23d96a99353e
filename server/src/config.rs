//! Typed configuration, read once at start: defaults, then environment.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything the portal can be configured with. See the README's table.
#[derive(Clone)]
pub struct Settings {
    /// `sqlite:…` or `postgres://…` (`DATABASE_URL`).
    pub database_url: String,
    /// Where the embedded database and other state live (`PATCHPORT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Address to listen on (`PATCHPORT_BIND`).
    pub bind: SocketAddr,
    /// The URL people use to reach the portal (`PATCHPORT_PUBLIC_URL`);
    /// `https://` turns on Secure cookies.
    pub public_url: url::Url,
    /// Built site: WASM, JS, CSS (`PATCHPORT_SITE_ROOT`).
    pub site_root: PathBuf,
    /// Idle session timeout in seconds (`PATCHPORT_SESSION_IDLE_MINUTES`).
    pub session_idle: i64,
    /// Absolute session timeout in seconds (`PATCHPORT_SESSION_MAX_HOURS`).
    pub session_max: i64,
    /// Largest request body in bytes (`PATCHPORT_BODY_LIMIT_KB`).
    pub body_limit: usize,
    /// OSV advisory sources fetched on a schedule: URLs of zips or JSON
    /// documents (`PATCHPORT_ADVISORY_URLS`, separated by spaces or commas).
    pub advisory_urls: Vec<String>,
    /// The KEV catalog's URL, fetched on the same schedule
    /// (`PATCHPORT_KEV_URL`).
    pub kev_url: Option<String>,
    /// Seconds between fetches (`PATCHPORT_ADVISORY_INTERVAL_HOURS`, 1–168,
    /// default 24); the first runs at start.
    pub advisory_interval: u64,
    /// Seconds between scheduler steps: job sweeps, rollouts, the
    /// dashboard snapshot (`PATCHPORT_SCHEDULER_SECONDS`, 5–3600, default
    /// 60); 0 (tests only) runs no scheduler: tests step it themselves.
    pub scheduler_interval: u64,
    /// Where mail goes and how often the outbox worker runs.
    pub mail: MailSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client
    /// (`PATCHPORT_TRUSTED_PROXIES`: addresses or networks, separated by
    /// spaces or commas); none by default, so the header is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Password hashes checked or made at once
    /// (`PATCHPORT_MAX_CONCURRENT_HASHES`, 1–64, default 4; 19 MiB each).
    pub max_hashes: usize,
    /// Seconds a client may take to send a request's headers before its
    /// connection is closed (`PATCHPORT_HEADER_TIMEOUT_SECONDS`, 1–300,
    /// default 10): slow clients cannot hold connections forever.
    pub header_timeout: u64,
    /// Seconds a request may take until its answer starts
    /// (`PATCHPORT_REQUEST_TIMEOUT_SECONDS`, 5–3600, default 120); later
    /// ones are answered 408.
    pub request_timeout: u64,
}

/// Mail delivery settings.
#[derive(Clone)]
pub struct MailSettings {
    /// How mail leaves the portal.
    pub transport: MailTransport,
    /// The sender, `Name <address>` (`PATCHPORT_MAIL_FROM`).
    pub from: String,
    /// Seconds between outbox worker passes (`PATCHPORT_MAIL_SECONDS`,
    /// 1–3600, default 10); 0 (tests only) runs no worker.
    pub interval: u64,
    /// Seconds one SMTP conversation may take (`SMTP_TIMEOUT_SECONDS`,
    /// 1–300, default 30).
    pub timeout: u64,
    /// Seconds a booked reboot must stay unchanged before its owner is
    /// mailed where it ended (`PATCHPORT_BOOKING_MAIL_QUIET_SECONDS`,
    /// 0–3600, default 120): an owner trying times gets one mail.
    pub booking_quiet: u64,
}

/// The default of [`MailSettings::booking_quiet`].
pub const BOOKING_QUIET_SECONDS: u64 = 120;

/// How mail leaves the portal.
#[derive(Clone, PartialEq, Eq)]
pub enum MailTransport {
    /// An SMTP server, as a lettre URL: `smtp://host:587?tls=required`,
    /// `smtps://host:465`, or plain `smtp://host:25`; credentials in the
    /// user part.
    Smtp(String),
    /// No SMTP configured: each mail is written to a `.eml` file here (and
    /// stays visible in the outbox).
    Files(PathBuf),
}

impl std::fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let transport = match &self.transport {
            MailTransport::Smtp(url) => format!("smtp {}", redact_url(url)),
            MailTransport::Files(dir) => format!("files in {}", dir.display()),
        };
        f.debug_struct("MailSettings")
            .field("transport", &transport)
            .field("from", &self.from)
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("booking_quiet", &self.booking_quiet)
            .finish()
    }
}

impl MailSettings {
    /// Mail written to files in `dir`, no worker: what tests start from.
    pub fn files(dir: PathBuf) -> Self {
        Self {
            transport: MailTransport::Files(dir),
            from: "Patchport <patchport@localhost>".into(),
            interval: 0,
            timeout: 30,
            booking_quiet: BOOKING_QUIET_SECONDS,
        }
    }

    fn from_env(data_dir: &std::path::Path, public_url: &url::Url) -> Result<Self, ConfigError> {
        let transport = if let Some(raw) = var("SMTP_URL") {
            let url = smtp_url("SMTP_URL", raw.trim())?;
            let accepted = var("SMTP_TLS").is_some_and(|t| t.trim() == "none");
            if let Some(problem) = smtp_insecurity(&url) {
                if !accepted && !smtp_host_is_local(&url) {
                    return Err(ConfigError {
                        var: "SMTP_URL",
                        problem: format!(
                            "'{}' {problem}; use '?tls=required' or 'smtps://', \
                             or set SMTP_TLS=none to accept it",
                            redact_url(&url)
                        ),
                    });
                }
                tracing::warn!(url = %redact_url(&url), "mail {problem}");
            }
            MailTransport::Smtp(url)
        } else if let Some(host) = var("SMTP_HOST") {
            let tls = var("SMTP_TLS").unwrap_or_else(|| "required".into());
            let (scheme, query, port) = match tls.trim() {
                "required" | "starttls" => ("smtp", "?tls=required", 587),
                "wrapped" | "smtps" => ("smtps", "", 465),
                "none" => ("smtp", "", 25),
                other => {
                    return Err(ConfigError {
                        var: "SMTP_TLS",
                        problem: format!("'{other}' is not one of required, wrapped, none"),
                    });
                }
            };
            let port = number("SMTP_PORT", port, 1, 65535)?;
            let mut url = url::Url::parse(&format!("{scheme}://{}:{port}{query}", host.trim()))
                .map_err(|e| ConfigError {
                    var: "SMTP_HOST",
                    problem: format!("'{host}': {e}"),
                })?;
            if let Some(user) = var("SMTP_USERNAME") {
                let _ = url.set_username(&user);
                let _ = url.set_password(var("SMTP_PASSWORD").as_deref());
            }
            let url = smtp_url("SMTP_HOST", url.as_str())?;
            if let Some(problem) = smtp_insecurity(&url) {
                tracing::warn!(url = %redact_url(&url), "mail {problem} (SMTP_TLS=none)");
            }
            MailTransport::Smtp(url)
        } else {
            MailTransport::Files(
                var("PATCHPORT_MAIL_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| data_dir.join("mail")),
            )
        };
        let from = var("PATCHPORT_MAIL_FROM").unwrap_or_else(|| {
            let host = match public_url.host() {
                Some(url::Host::Domain(d)) if d.contains('.') => d.to_owned(),
                _ => "localhost".into(),
            };
            format!("Patchport <patchport@{host}>")
        });
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError {
                var: "PATCHPORT_MAIL_FROM",
                problem: format!(
                    "'{from}' is not an address like 'Patchport <patchport@example.org>'"
                ),
            });
        }
        Ok(Self {
            transport,
            from,
            interval: number("PATCHPORT_MAIL_SECONDS", 10, 1, 3600)? as u64,
            timeout: number("SMTP_TIMEOUT_SECONDS", 30, 1, 300)? as u64,
            booking_quiet: booking_quiet()?,
        })
    }
}

/// `PATCHPORT_BOOKING_MAIL_QUIET_SECONDS`: see [`MailSettings::booking_quiet`].
fn booking_quiet() -> Result<u64, ConfigError> {
    let quiet = number(
        "PATCHPORT_BOOKING_MAIL_QUIET_SECONDS",
        BOOKING_QUIET_SECONDS as i64,
        0,
        3600,
    )?;
    Ok(quiet as u64)
}

/// What is unsafe about an SMTP URL, if anything: lettre sends in plain
/// text unless the URL asks for TLS (`smtps://` or `tls=required`), and
/// `tls=opportunistic` falls back to plain text whenever a man in the
/// middle strips the STARTTLS offer.
pub fn smtp_insecurity(raw: &str) -> Option<&'static str> {
    let url = url::Url::parse(raw).ok()?;
    if url.scheme() == "smtps" {
        return None;
    }
    let tls = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    match tls.as_deref() {
        Some("required") => None,
        Some("opportunistic") => {
            Some("falls back to plain text when STARTTLS is not offered (opportunistic TLS)")
        }
        _ => Some("sends mail and any SMTP password in plain text (no TLS)"),
    }
}

/// A relay on this machine: plain text never leaves it.
fn smtp_host_is_local(raw: &str) -> bool {
    match url::Url::parse(raw)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()))
    {
        // `smtp:` is not a special scheme to the URL standard, so an IP
        // address may come back as an opaque host name.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An SMTP URL lettre understands.
fn smtp_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    use lettre::AsyncSmtpTransport;
    use lettre::Tokio1Executor;
    AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
        .map(|_| raw.to_owned())
        .map_err(|e| ConfigError {
            var,
            problem: format!("'{}': {e}", redact_url(raw)),
        })
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("bind", &self.bind)
            .field("public_url", &self.public_url.as_str())
            .field("site_root", &self.site_root)
            .field("session_idle", &self.session_idle)
            .field("session_max", &self.session_max)
            .field("body_limit", &self.body_limit)
            .field("advisory_urls", &self.advisory_urls)
            .field("kev_url", &self.kev_url)
            .field("advisory_interval", &self.advisory_interval)
            .field("scheduler_interval", &self.scheduler_interval)
            .field("mail", &self.mail)
            .finish()
    }
}

/// Hides the password in a database URL.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// A setting had a value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {problem}")]
pub struct ConfigError {
    var: &'static str,
    problem: String,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &'static str, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    let Some(raw) = var(name) else {
        return Ok(default);
    };
    let n: i64 = raw.trim().parse().map_err(|_| ConfigError {
        var: name,
        problem: format!("'{raw}' is not a whole number"),
    })?;
    if !(min..=max).contains(&n) {
        return Err(ConfigError {
            var: name,
            problem: format!("{n} is outside {min}..={max}"),
        });
    }
    Ok(n)
}

/// An http(s) URL to fetch advisories from.
fn source_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(raw.to_owned()),
        Ok(_) => Err(ConfigError {
            var,
            problem: format!("'{raw}' is not an http or https URL"),
        }),
        Err(e) => Err(ConfigError {
            var,
            problem: format!("'{raw}': {e}"),
        }),
    }
}

impl Settings {
    /// Reads the environment over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        let data_dir = PathBuf::from(var("PATCHPORT_DATA_DIR").unwrap_or_else(|| "data".into()));
        let bind: SocketAddr = var("PATCHPORT_BIND")
            .unwrap_or_else(|| "127.0.0.1:3000".into())
            .parse()
            .map_err(|e| ConfigError {
                var: "PATCHPORT_BIND",
                problem: format!("{e}"),
            })?;
        let public_url = var("PATCHPORT_PUBLIC_URL").unwrap_or_else(|| format!("http://{bind}"));
        let public_url = url::Url::parse(&public_url).map_err(|e| ConfigError {
            var: "PATCHPORT_PUBLIC_URL",
            problem: e.to_string(),
        })?;
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite:{}", data_dir.join("patchport.db").display()));
        let mail = MailSettings::from_env(&data_dir, &public_url)?;
        let trusted_proxies = var("PATCHPORT_TRUSTED_PROXIES")
            .map(|v| {
                v.split([',', ' ', '\n'])
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        p.parse::<ipnet::IpNet>()
                            .or_else(|_| p.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                            .map_err(|_| ConfigError {
                                var: "PATCHPORT_TRUSTED_PROXIES",
                                problem: format!(
                                    "{p:?} is not an IP address or network (e.g. 10.0.0.0/8)"
                                ),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            database_url,
            data_dir,
            bind,
            public_url,
            site_root: PathBuf::from(
                var("PATCHPORT_SITE_ROOT").unwrap_or_else(|| "target/site".into()),
            ),
            session_idle: number("PATCHPORT_SESSION_IDLE_MINUTES", 30, 1, 24 * 60)? * 60,
            session_max: number("PATCHPORT_SESSION_MAX_HOURS", 12, 1, 24 * 30)? * 3600,
            body_limit: number("PATCHPORT_BODY_LIMIT_KB", 64, 1, 64 * 1024)? as usize * 1024,
            trusted_proxies,
            max_hashes: number("PATCHPORT_MAX_CONCURRENT_HASHES", 4, 1, 64)? as usize,
            header_timeout: number("PATCHPORT_HEADER_TIMEOUT_SECONDS", 10, 1, 300)? as u64,
            request_timeout: number("PATCHPORT_REQUEST_TIMEOUT_SECONDS", 120, 5, 3600)? as u64,
            advisory_urls: var("PATCHPORT_ADVISORY_URLS")
                .map(|v| {
                    v.split([',', ' ', '\n'])
                        .filter(|u| !u.is_empty())
                        .map(|u| source_url("PATCHPORT_ADVISORY_URLS", u))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?
                .unwrap_or_default(),
            kev_url: var("PATCHPORT_KEV_URL")
                .map(|u| source_url("PATCHPORT_KEV_URL", u.trim()))
                .transpose()?,
            advisory_interval: number("PATCHPORT_ADVISORY_INTERVAL_HOURS", 24, 1, 168)? as u64
                * 3600,
            scheduler_interval: number("PATCHPORT_SCHEDULER_SECONDS", 60, 5, 3600)? as u64,
            mail,
        })
    }

    /// Whether cookies get the Secure flag.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/pp"),
            "postgres://app:***@db:5432/pp"
        );
        assert_eq!(
            redact_url("sqlite:data/patchport.db"),
            "sqlite:data/patchport.db"
        );
    }

    #[test]
    fn smtp_urls_without_enforced_tls_are_named_unsafe() {
        for (url, safe) in [
            ("smtps://u:p@mail.example.org:465", true),
            ("smtp://u:p@mail.example.org:587?tls=required", true),
            ("smtp://mail.example.org:25", false),
            ("smtp://u:p@mail.example.org:587?tls=opportunistic", false),
            ("smtp://mail.example.org:587?tls=none", false),
        ] {
            assert_eq!(smtp_insecurity(url).is_none(), safe, "{url}");
        }
        assert!(smtp_host_is_local("smtp://127.0.0.1:2525"));
        assert!(smtp_host_is_local("smtp://[::1]:25"));
        assert!(smtp_host_is_local("smtp://localhost:25"));
        assert!(!smtp_host_is_local("smtp://mail.example.org:25"));
    }
}

//! The agent's configuration file: where the portal is and the credential
//! enrolment gave us. Written with mode 0600 because the credential lets
//! anyone report (false) state for this server.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/patchport/agent.json";
/// Default directory for spooled reports and state.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/patchport-agent";

/// What `enroll` writes and `run` reads.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// The portal's base URL, e.g. `https://patchport.example.org`.
    pub url: String,
    /// This server's id in the portal.
    pub server_id: i64,
    /// `<server id>.<secret>`, sent as a bearer token.
    pub credential: String,
    /// PEM file with the CA that signs the portal's certificate, when it is
    /// not in the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP to a non-loopback portal (only for labs).
    #[serde(default)]
    pub allow_http: bool,
    /// Where spooled reports and state live.
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
}

fn default_state_dir() -> PathBuf {
    PathBuf::from(DEFAULT_STATE_DIR)
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("server_id", &self.server_id)
            .field("credential", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field("allow_http", &self.allow_http)
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not valid configuration.
    #[error("{path}: not a valid agent configuration: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: serde_json::Error,
    },
    /// The portal URL is not acceptable.
    #[error("{0}")]
    Url(String),
}

/// Checks that `url` is https, or http to a loopback address, or http
/// with `allow_http`. Returns it without a trailing slash.
pub fn check_url(url: &str, allow_http: bool) -> Result<String, ConfigError> {
    let raw = url.trim();
    let (scheme, rest) = raw.split_once("://").ok_or_else(|| {
        ConfigError::Url(format!(
            "'{raw}' is not a URL (expected https://host[:port])"
        ))
    })?;
    let rest = rest.trim_end_matches('/');
    let url = format!("{scheme}://{rest}");
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let hostname = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    if hostname.is_empty() {
        return Err(ConfigError::Url(format!("'{url}' has no host")));
    }
    let loopback = hostname == "localhost"
        || hostname
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match scheme {
        "https" => Ok(url),
        "http" if loopback || allow_http => Ok(url),
        "http" => Err(ConfigError::Url(format!(
            "refusing plain HTTP to {hostname}: use https://, or --allow-http for a lab"
        ))),
        other => Err(ConfigError::Url(format!(
            "unsupported scheme '{other}' (expected https)"
        ))),
    }
}

impl Config {
    /// Reads the configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.into(),
            source,
        })?;
        let config: Config = serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.into(),
            source,
        })?;
        check_url(&config.url, config.allow_http)?;
        Ok(config)
    }

    /// Writes the configuration atomically with mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |source| ConfigError::Io {
            path: path.into(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("json.tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(&json)
            .and_then(|_| file.sync_all())
            .map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_unless_loopback_or_allowed() {
        let cases: &[(&str, bool, Result<&str, &str>)] = &[
            (
                "https://pp.example.org/",
                false,
                Ok("https://pp.example.org"),
            ),
            ("http://127.0.0.1:3000", false, Ok("http://127.0.0.1:3000")),
            ("http://localhost:3000/", false, Ok("http://localhost:3000")),
            ("http://[::1]:3000", false, Ok("http://[::1]:3000")),
            ("http://pp.example.org", false, Err("refusing plain HTTP")),
            ("http://pp.example.org", true, Ok("http://pp.example.org")),
            ("ftp://pp.example.org", true, Err("unsupported scheme")),
            ("pp.example.org", false, Err("is not a URL")),
            ("https://", false, Err("has no host")),
        ];
        for (url, allow, want) in cases {
            match (check_url(url, *allow), want) {
                (Ok(got), Ok(w)) => assert_eq!(got, *w, "{url}"),
                (Err(e), Err(w)) => assert!(e.to_string().contains(w), "{url}: {e}"),
                (got, w) => panic!("{url}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn saved_config_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/agent.json");
        let config = Config {
            url: "https://pp.example.org".into(),
            server_id: 7,
            credential: "7.secret".into(),
            ca_file: None,
            allow_http: false,
            state_dir: dir.path().join("state"),
        };
        config.save(&path).unwrap();
        assert_eq!(Config::load(&path).unwrap(), config);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert!(
            !format!("{config:?}").contains("secret"),
            "credential redacted in Debug"
        );
    }
}

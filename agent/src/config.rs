//! The agent's configuration file: where the portal is, the credential
//! enrolment gave us, and (rarely) which package manager to drive on which
//! root. Written with mode 0600 because the credential lets anyone report
//! (false) state for this server.

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
    /// The package manager and install root; absent from files written
    /// before they existed, and meaning "this machine's own" when unset.
    #[serde(flatten)]
    pub packages: PackageSettings,
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
            .field("packages", &self.packages)
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
    /// The package manager or install root is not acceptable.
    #[error("{0}")]
    Packages(String),
}

/// A package manager the agent can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageManager {
    /// dpkg and apt (Debian, Ubuntu).
    Apt,
    /// rpm and dnf (RHEL and its rebuilds, Fedora).
    Dnf,
}

impl std::str::FromStr for PackageManager {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "apt" => Ok(Self::Apt),
            "dnf" => Ok(Self::Dnf),
            other => Err(ConfigError::Packages(format!(
                "unknown package manager '{other}' (expected apt or dnf)"
            ))),
        }
    }
}

/// A directory used as the root of the package database instead of `/`
/// (`rpm --root`, `dnf --installroot`): an absolute path to an existing
/// directory, in UTF-8 and without whitespace or commas, because dnf
/// splits list options such as `reposdir` on those.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PathBuf", into = "PathBuf")]
pub struct InstallRoot(PathBuf);

impl InstallRoot {
    /// Checks `path`; the error says what is wrong with it.
    pub fn parse(path: impl Into<PathBuf>) -> Result<Self, ConfigError> {
        let path = path.into();
        let shown = path.display();
        let invalid = |why: &str| ConfigError::Packages(format!("install root '{shown}' {why}"));
        let Some(text) = path.to_str() else {
            return Err(invalid("is not valid UTF-8"));
        };
        if !path.is_absolute() {
            return Err(invalid("is not an absolute path"));
        }
        if text.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(invalid(
                "contains whitespace or a comma, which dnf would split it on",
            ));
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => Ok(Self(path)),
            Ok(_) => Err(invalid("is not a directory")),
            Err(e) => Err(invalid(&format!("cannot be used: {e}"))),
        }
    }

    /// [`InstallRoot::parse`] for a command-line value.
    pub fn parse_arg(value: &str) -> Result<Self, ConfigError> {
        Self::parse(value)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The directory as text (checked to be UTF-8 by [`InstallRoot::parse`]).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl TryFrom<PathBuf> for InstallRoot {
    type Error = ConfigError;

    fn try_from(path: PathBuf) -> Result<Self, Self::Error> {
        Self::parse(path)
    }
}

impl From<InstallRoot> for PathBuf {
    fn from(root: InstallRoot) -> Self {
        root.0
    }
}

/// Which package manager the agent scans and installs with, and on which
/// root. The default, nothing set, is what the agent has always done: the
/// package manager found on the machine, on `/`. Setting them is for
/// testing the agent against a separate root, or for a machine that
/// carries both dpkg and rpm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawPackageSettings", into = "RawPackageSettings")]
pub struct PackageSettings {
    manager: Option<PackageManager>,
    root: Option<InstallRoot>,
}

/// [`PackageSettings`] as written in the file, before the pair is checked.
#[derive(Clone, Serialize, Deserialize)]
struct RawPackageSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    package_manager: Option<PackageManager>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    install_root: Option<InstallRoot>,
}

impl PackageSettings {
    /// Checks the pair: an install root needs dnf, because only rpm and
    /// dnf are driven on a separate root.
    pub fn new(
        manager: Option<PackageManager>,
        root: Option<InstallRoot>,
    ) -> Result<Self, ConfigError> {
        if let Some(root) = &root
            && manager != Some(PackageManager::Dnf)
        {
            return Err(ConfigError::Packages(format!(
                "install root '{}' needs package manager dnf: only rpm and dnf are run on a separate root",
                root.path().display()
            )));
        }
        Ok(Self { manager, root })
    }

    /// The package manager to use; `None`: the one found on the machine.
    pub fn manager(&self) -> Option<PackageManager> {
        self.manager
    }

    /// The install root; `None`: `/`.
    pub fn root(&self) -> Option<&InstallRoot> {
        self.root.as_ref()
    }
}

impl TryFrom<RawPackageSettings> for PackageSettings {
    type Error = ConfigError;

    fn try_from(raw: RawPackageSettings) -> Result<Self, Self::Error> {
        Self::new(raw.package_manager, raw.install_root)
    }
}

impl From<PackageSettings> for RawPackageSettings {
    fn from(settings: PackageSettings) -> Self {
        Self {
            package_manager: settings.manager,
            install_root: settings.root,
        }
    }
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
            packages: PackageSettings::default(),
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

    /// A configuration file as enrolment writes it, plus `extra` fields.
    fn config_json(extra: &str) -> String {
        format!(
            r#"{{"url": "https://pp.example.org", "server_id": 7, "credential": "7.secret",
                "state_dir": "/var/lib/patchport-agent"{extra}}}"#
        )
    }

    #[test]
    fn files_without_package_settings_load_and_stay_without_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.json");
        std::fs::write(&path, config_json("")).unwrap();
        let config = Config::load(&path).expect("a file from before the settings loads");
        assert_eq!(config.packages, PackageSettings::default());
        assert_eq!(config.packages.manager(), None, "found on the machine");
        assert_eq!(config.packages.root(), None, "the machine's own root");
        config.save(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            !written.contains("package_manager") && !written.contains("install_root"),
            "unset settings are not written: {written}"
        );
    }

    #[test]
    fn package_manager_and_install_root_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let path = dir.path().join("agent.json");
        let packages = PackageSettings::new(
            Some(PackageManager::Dnf),
            Some(InstallRoot::parse(&root).unwrap()),
        )
        .unwrap();
        let config = Config {
            url: "https://pp.example.org".into(),
            server_id: 7,
            credential: "7.secret".into(),
            ca_file: None,
            allow_http: false,
            state_dir: dir.path().join("state"),
            packages,
        };
        config.save(&path).unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(written["package_manager"], "dnf");
        assert_eq!(written["install_root"], root.to_str().unwrap());
        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded, config);
        assert_eq!(loaded.packages.root().unwrap().path(), root);
        let apt_only = config_json(r#", "package_manager": "apt""#);
        std::fs::write(&path, apt_only).unwrap();
        assert_eq!(
            Config::load(&path).unwrap().packages.manager(),
            Some(PackageManager::Apt),
            "a manager without a root"
        );
    }

    #[test]
    fn bad_package_settings_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        let spaced = dir.path().join("a root");
        std::fs::create_dir(&spaced).unwrap();
        let root = root.display();
        let cases: Vec<(&str, String, String)> = vec![
            (
                "unknown manager",
                r#", "package_manager": "zypper""#.into(),
                "unknown variant `zypper`".into(),
            ),
            (
                "relative root",
                r#", "package_manager": "dnf", "install_root": "srv/root""#.into(),
                "install root 'srv/root' is not an absolute path".into(),
            ),
            (
                "missing root",
                format!(r#", "package_manager": "dnf", "install_root": "{root}/gone""#),
                format!("install root '{root}/gone' cannot be used: No such file"),
            ),
            (
                "root is a file",
                format!(
                    r#", "package_manager": "dnf", "install_root": "{}""#,
                    file.display()
                ),
                format!("install root '{}' is not a directory", file.display()),
            ),
            (
                "whitespace in root",
                format!(
                    r#", "package_manager": "dnf", "install_root": "{}""#,
                    spaced.display()
                ),
                "contains whitespace or a comma".into(),
            ),
            (
                "root with apt",
                format!(r#", "package_manager": "apt", "install_root": "{root}""#),
                format!("install root '{root}' needs package manager dnf"),
            ),
            (
                "root without a manager",
                format!(r#", "install_root": "{root}""#),
                format!("install root '{root}' needs package manager dnf"),
            ),
        ];
        let path = dir.path().join("agent.json");
        for (name, extra, expected) in cases {
            std::fs::write(&path, config_json(&extra)).unwrap();
            match Config::load(&path) {
                Ok(config) => panic!("case {name:?}: expected an error, got {config:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.contains("not a valid agent configuration")
                            && message.contains(&expected),
                        "case {name:?}: got {message:?}"
                    );
                }
            }
        }
        assert!(
            "yum"
                .parse::<PackageManager>()
                .unwrap_err()
                .to_string()
                .contains("expected apt or dnf"),
            "the command line's parse names the choices"
        );
    }
}

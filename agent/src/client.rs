//! Talking to the portal's agent API (v1) over HTTPS with the system's
//! trust store or a configured CA file.

use crate::config::{Config, check_url};
use patchport_core::protocol::{
    API_PREFIX, CheckInRequest, CheckInResponse, EnrollRequest, EnrollResponse, JobResult,
};
use std::path::Path;
use std::time::Duration;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

/// Why a call to the portal failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The portal could not be reached or the connection broke: worth
    /// retrying later.
    #[error("portal unreachable: {0}")]
    Unreachable(String),
    /// The portal refused our credential or token: retrying will not help.
    #[error("the portal refused the credential (revoked, expired or wrong): enrol again")]
    Unauthorized,
    /// The portal refused the request; the text is the portal's reason.
    #[error("the portal refused the request ({status}): {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The portal's `error` text.
        message: String,
    },
    /// Setting up the client failed (CA file, URL).
    #[error("{0}")]
    Setup(String),
}

impl ClientError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Unreachable(_) => true,
            ClientError::Refused { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// An HTTP client for one portal.
pub struct Client {
    base: String,
    http: ureq::Agent,
}

impl Client {
    /// A client for `url`, trusting the system's roots or only `ca_file`.
    pub fn new(url: &str, ca_file: Option<&Path>, allow_http: bool) -> Result<Self, ClientError> {
        let base = check_url(url, allow_http).map_err(|e| ClientError::Setup(e.to_string()))?;
        let roots = match ca_file {
            None => RootCerts::PlatformVerifier,
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| ClientError::Setup(format!("{}: {e}", path.display())))?;
                let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(ClientError::Setup(format!(
                        "{}: no PEM certificate found",
                        path.display()
                    )));
                }
                RootCerts::new_with_certs(&certs)
            }
        };
        let http = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .http_status_as_error(false)
            .user_agent(concat!("patchport-agent/", env!("CARGO_PKG_VERSION")))
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .into();
        Ok(Self { base, http })
    }

    /// A client for the portal in `config`.
    pub fn from_config(config: &Config) -> Result<Self, ClientError> {
        Self::new(&config.url, config.ca_file.as_deref(), config.allow_http)
    }

    fn post<Req: serde::Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &Req,
    ) -> Result<Resp, ClientError> {
        let json = serde_json::to_vec(body)
            .map_err(|e| ClientError::Setup(format!("cannot encode the request: {e}")))?;
        self.post_json(path, bearer, &json)
    }

    fn post_json<Resp: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        bearer: Option<&str>,
        json: &[u8],
    ) -> Result<Resp, ClientError> {
        let mut req = self
            .http
            .post(format!("{}{API_PREFIX}{path}", self.base))
            .header("Content-Type", "application/json");
        if let Some(token) = bearer {
            req = req.header("Authorization", format!("Bearer {token}"));
        }
        let mut resp = req
            .send(json)
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 401 {
            return Err(ClientError::Unauthorized);
        }
        if !(200..300).contains(&status) {
            let message = resp
                .body_mut()
                .read_json::<serde_json::Value>()
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_else(|| "no reason given".into());
            return Err(ClientError::Refused { status, message });
        }
        resp.body_mut()
            .read_json()
            .map_err(|e| ClientError::Unreachable(format!("unreadable answer: {e}")))
    }

    /// Trades an enrolment token for a credential.
    pub fn enroll(&self, token: &str, hostname: &str) -> Result<EnrollResponse, ClientError> {
        self.post(
            "/enroll",
            None,
            &EnrollRequest {
                token: token.to_owned(),
                hostname: hostname.to_owned(),
            },
        )
    }

    /// Sends a check-in.
    pub fn check_in(
        &self,
        credential: &str,
        req: &CheckInRequest,
    ) -> Result<CheckInResponse, ClientError> {
        self.post("/check-in", Some(credential), req)
    }

    /// Sends a check-in already encoded as JSON (the fleet simulator
    /// encodes once and sends many times).
    pub fn check_in_encoded(
        &self,
        credential: &str,
        json: &[u8],
    ) -> Result<CheckInResponse, ClientError> {
        self.post_json("/check-in", Some(credential), json)
    }

    /// Reports how an attempt at a job ended.
    pub fn job_result(
        &self,
        credential: &str,
        job_id: i64,
        result: &JobResult,
    ) -> Result<(), ClientError> {
        self.post::<_, serde_json::Value>(
            &format!("/jobs/{job_id}/result"),
            Some(credential),
            result,
        )
        .map(|_| ())
    }
}

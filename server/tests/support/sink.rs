//! A real SMTP server on loopback (aiosmtpd, `fixtures/smtp_sink.py`) and
//! the messages it accepted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The public URL the mail tests configure.
pub const PUBLIC: &str = "https://patchport.example.test/";

/// The SMTP sink process; stops when dropped.
pub struct Sink {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
}

/// One message the sink accepted.
#[derive(Debug, serde::Deserialize)]
pub struct Received {
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    pub fn subject(&self) -> String {
        let header = self
            .data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default();
        // lettre encodes non-ASCII subjects; ours are ASCII.
        header.trim().to_owned()
    }

    /// The Message-ID header.
    pub fn message_id(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    /// The text part, with quoted-printable soft breaks undone.
    pub fn text(&self) -> String {
        self.data
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=")
    }

    /// The first link under the public URL.
    pub fn link(&self) -> String {
        let text = self.text();
        let start = text.find(PUBLIC).expect("a link to the portal");
        text[start..]
            .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
            .next()
            .unwrap()
            .to_owned()
    }
}

fn python() -> String {
    std::env::var("PATCHPORT_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into())
}

impl Sink {
    pub fn new(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut sink = Self {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        sink.start();
        sink
    }

    pub fn start(&mut self) {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect(
                "start the SMTP sink: python3 with aiosmtpd (scripts/setup.sh --test installs it)",
            );
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP sink did not start: is aiosmtpd installed (python3-aiosmtpd)?"
        );
        self.child = Some(child);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    pub fn to(&self, address: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t == address))
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop();
    }
}

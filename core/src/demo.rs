//! The demo fleet: simulated servers that the `patchport demo` command
//! creates (with credentials, owners, groups) and `patchport-fleet
//! --simulate` brings to life by checking in through the agent's client.

use serde::{Deserialize, Serialize};

/// One simulated server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoAgent {
    /// Its host name.
    pub hostname: String,
    /// Its agent credential (`<server id>.<secret>`).
    pub credential: String,
    /// Which generated inventory it has.
    pub index: usize,
    /// Reports once, then stays silent (shows how an unreachable server
    /// looks).
    #[serde(default)]
    pub silent: bool,
}

/// The file `patchport demo` writes for the fleet (mode 0600: it holds
/// credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemoFleet {
    /// The portal the agents talk to.
    pub url: String,
    /// The simulated servers.
    pub agents: Vec<DemoAgent>,
}

/// The demo servers: host name, group, criticality, owned by the demo
/// owner, silent.
pub const DEMO_SERVERS: &[(&str, &str, &str, bool, bool)] = &[
    ("canary-01", "canary", "standard", false, false),
    ("canary-02", "canary", "standard", false, false),
    ("web-01", "web", "standard", true, false),
    ("web-02", "web", "standard", true, false),
    ("web-03", "web", "standard", false, false),
    ("web-04", "web", "standard", false, false),
    ("db-01", "database", "critical", true, false),
    ("db-02", "database", "critical", true, false),
    ("db-03", "database", "critical", false, false),
    ("app-01", "app", "critical", true, false),
    ("app-02", "app", "standard", false, false),
    ("app-03", "app", "standard", false, false),
    ("app-04", "app", "standard", false, true),
    ("build-01", "", "standard", false, false),
    ("backup-01", "", "critical", false, true),
    ("mail-01", "", "critical", true, false),
];

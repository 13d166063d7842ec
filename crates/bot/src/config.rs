//! What a bot is configured with ([`BotConfig`]) and what one record
//! operation asks for ([`RecordPlan`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::webhook::DEFAULT_CALLBACK_PATH;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::{ClientCredentialsConfig, Secret};

/// How the bot gets its Graph app token.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// A bearer token obtained elsewhere.
    Static(Secret),
    /// OAuth2 client credentials, cached and refreshed.
    ClientCredentials(ClientCredentialsConfig),
}

/// How notifications are authenticated.
#[derive(Debug, Clone)]
pub enum NotificationAuthMode {
    /// Verify each notification's JWT: audience = the bot's app id, keys from
    /// `openid_config` (Graph's calling platform when `None`).
    Jwt {
        /// Expected `aud`.
        audience: String,
        /// OpenID configuration URL.
        openid_config: Option<String>,
    },
    /// No verification; only loopback peers are accepted (local testing).
    InsecureLoopbackOnly,
}

/// Settings of a [`Bot`].
#[derive(Debug, Clone)]
pub struct BotConfig {
    /// Graph base URL, e.g. `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    /// The app token source.
    pub token: TokenSource,
    /// Where the webhook listens (port 0 picks a free port).
    pub listen: SocketAddr,
    /// The webhook path, e.g. `/api/calls`.
    pub callback_path: String,
    /// Notification authentication.
    pub auth: NotificationAuthMode,
    /// Added to prompt + initial silence + max record to form the deadline.
    pub deadline_margin: Duration,
    /// Where pending operations live: this process, or Redis for a fleet.
    pub store: StoreChoice,
}

/// Where a bot keeps its pending operations.
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// In this process (one instance receives all its notifications).
    #[default]
    InMemory,
    /// In Redis, shared by a fleet of instances behind one callback URL.
    Redis(RedisStoreConfig),
}

impl BotConfig {
    /// A config with the default callback path and deadline margin.
    pub fn new(graph_url: impl Into<String>, token: TokenSource, listen: SocketAddr) -> Self {
        BotConfig {
            graph_url: graph_url.into(),
            token,
            listen,
            callback_path: DEFAULT_CALLBACK_PATH.to_string(),
            auth: NotificationAuthMode::InsecureLoopbackOnly,
            deadline_margin: Duration::from_secs(15),
            store: StoreChoice::InMemory,
        }
    }
}

/// Which Graph action starts the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiKind {
    /// `recordResponse` (v1.0, or beta when the Graph URL ends in `/beta`).
    #[default]
    RecordResponse,
    /// The legacy beta `record` action.
    LegacyRecord,
}

/// What one record operation asks for and where its files go.
#[derive(Debug, Clone)]
pub struct RecordPlan {
    /// Which action to call.
    pub api: ApiKind,
    /// The request body (prompt, timers, stop tones, client context).
    pub request: RecordResponseRequest,
    /// Call `updateRecordingStatus` and persist; when false nothing is
    /// downloaded or written, since persisting media without a successful
    /// `updateRecordingStatus(recording)` breaks Graph's terms.
    pub recording_status: bool,
    /// Expected prompt length (extends the deadline).
    pub prompt_duration: Duration,
    /// Output directory.
    pub out_dir: PathBuf,
}

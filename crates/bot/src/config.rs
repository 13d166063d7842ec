//! What a bot is configured with ([`BotConfig`]) and what one record
//! operation asks for ([`RecordPlan`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use voxcap_capture::download_policy::DEFAULT_RECORDING_HOSTS;
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::webhook::{WebhookLimits, WebhookTap, DEFAULT_CALLBACK_PATH};
use voxcap_capture::wire::{MediaPrompt, RecordResponseRequest};
use voxcap_capture::{ClientCredentialsConfig, DownloadPolicy, EarlyBufferLimits, Secret};

use crate::live::LiveEvents;
use crate::stewardship::Stewardship;

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

/// Settings of a [`Bot`](crate::Bot).
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
    /// Which recording locations are downloaded, and how much of them.
    /// Default: https only, the Graph recording hosts, a cap derived from
    /// each operation's `maxRecordDurationInSeconds`.
    pub downloads: RecordingDownloads,
    /// Tenants whose notifications are accepted (the JWT's `tid`, compared
    /// case-insensitively). Default empty: any tenant. Needs
    /// [`NotificationAuthMode::Jwt`]: without verification there is no
    /// `tid` to check, so [`crate::Bot::start`] refuses a list then.
    pub allowed_tenants: Vec<String>,
    /// The webhook's connection limits. Default [`WebhookLimits::default`]:
    /// header-read 10 s, request 30 s (`408`), idle 60 s, 512 connections.
    pub webhook_limits: WebhookLimits,
    /// Caps of the early-completion buffer (a completion that beats the
    /// POST answer): the in-memory one and, in a fleet, the Redis one
    /// (this replaces [`RedisStoreConfig::early_buffer`]). Default
    /// [`EarlyBufferLimits::default`]: 10,000 completions and 8 MiB.
    pub early_buffer: EarlyBufferLimits,
    /// Encryption at rest, deleting audio after analysis, retention.
    /// Default: plaintext, kept, no retention limit.
    pub stewardship: Stewardship,
    /// Told of every notification the webhook accepts or refuses (a relay,
    /// metrics). Default `None`.
    pub webhook_tap: Option<Arc<dyn WebhookTap>>,
    /// Silero VAD fused into the speech detector of every recording this
    /// bot analyses (its own and those it takes over: a fleet's instances
    /// are started alike). Default `None`: the classical detector.
    #[cfg(feature = "neural")]
    pub speech_model: Option<voxcap_dsp::vad::neural::NeuralVad>,
}

/// Which recording locations a bot downloads from, and how large a
/// recording may be (see `SECURITY.md`): a notification's JWT is not bound
/// to its body, so its `recordingLocation` is not trusted as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingDownloads {
    /// Allow `http://` locations (on an allowed host). Default `false`:
    /// https only. For emulators and local tests only: over http the
    /// recording token travels in the clear. The origin of
    /// [`BotConfig::graph_url`] is trusted as it is (its app token already
    /// goes there), http included, so an emulator serving its recordings
    /// from its own address needs no opt-in.
    pub allow_http: bool,
    /// Host patterns a location may name (`host`, `host:port`,
    /// `*.domain`; see [`DownloadPolicy::allowed_hosts`]). Default
    /// [`DEFAULT_RECORDING_HOSTS`]; push to extend.
    pub allowed_hosts: Vec<String>,
    /// Overrides the size cap, in bytes. Default `None`: each operation's
    /// own cap, `2 × 32,000 B/s × maxRecordDurationInSeconds + 64 KiB`
    /// (385,536 bytes for 5 s, 7.4 MiB for 120 s).
    pub max_bytes: Option<u64>,
}

impl Default for RecordingDownloads {
    fn default() -> Self {
        RecordingDownloads {
            allow_http: false,
            allowed_hosts: DEFAULT_RECORDING_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            max_bytes: None,
        }
    }
}

impl RecordingDownloads {
    /// The download policy for an operation of at most
    /// `max_record_seconds` (its `maxRecordDurationInSeconds`).
    pub fn policy(&self, max_record_seconds: u32) -> DownloadPolicy {
        DownloadPolicy {
            allow_http: self.allow_http,
            allowed_hosts: self.allowed_hosts.clone(),
            max_record_seconds,
            max_bytes: self.max_bytes,
            ..DownloadPolicy::default()
        }
    }
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
            downloads: RecordingDownloads::default(),
            allowed_tenants: Vec::new(),
            webhook_limits: WebhookLimits::default(),
            early_buffer: EarlyBufferLimits::default(),
            stewardship: Stewardship::default(),
            webhook_tap: None,
            #[cfg(feature = "neural")]
            speech_model: None,
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
    /// Ask for `streamWhileRecording` (the legacy `record` action only;
    /// `recordResponse` has no such field, so it is not sent there): the
    /// download starts as soon as Graph announces the location, and the
    /// analysis runs while the caller speaks (see [`crate::live`]). Needs
    /// a recording status (nothing is streamed without one). Without an
    /// announcement the recording is downloaded after the completion, as
    /// usual.
    pub stream_while_recording: bool,
    /// Where the live events of a streamed recording go.
    pub live_events: Option<LiveEvents>,
    /// Trim pads for this recording; `None`: the analysis defaults. Kept
    /// in the shared store with the request, so an instance that takes
    /// the operation over trims it the same way.
    pub trim: Option<TrimPads>,
}

/// How much audio the trimmed copy keeps around the speech.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrimPads {
    /// Kept before the first speech, in ms.
    pub pad_start_ms: u32,
    /// Kept after the last speech, in ms (shortened by a decay the trim
    /// followed, to half at least).
    pub pad_end_ms: u32,
}

impl Default for TrimPads {
    /// The analysis's own pads.
    fn default() -> Self {
        let d = voxcap_dsp::trim::TrimConfig::default();
        TrimPads {
            pad_start_ms: d.pad_start_ms,
            pad_end_ms: d.pad_end_ms,
        }
    }
}

/// What the caller is asked for, in plain settings (no Graph wire types);
/// [`RecordPlan::new`] builds the `recordResponse` request from it. The
/// defaults are Graph's: no prompt, a beep, 5 s timers, no stop tones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSpec {
    /// A prompt played before the beep (a WAV URI).
    pub prompt_uri: Option<String>,
    /// Play a beep before recording.
    pub play_beep: bool,
    /// Let this operation barge into queued or running ones.
    pub barge_in: bool,
    /// DTMF keys that stop the recording, e.g. `"#*"`; spaces and commas
    /// are ignored, a key repeated in a row is kept once.
    pub stop_tones: String,
    /// `initialSilenceTimeoutInSeconds`.
    pub initial_silence_s: u32,
    /// `maxSilenceTimeoutInSeconds`.
    pub max_silence_s: u32,
    /// `maxRecordDurationInSeconds`.
    pub max_record_s: u32,
    /// `clientContext` (generated when absent).
    pub client_context: Option<String>,
}

impl Default for RecordSpec {
    fn default() -> Self {
        let graph = RecordResponseRequest::default();
        RecordSpec {
            prompt_uri: None,
            play_beep: graph.play_beep,
            barge_in: graph.barge_in_allowed,
            stop_tones: String::new(),
            initial_silence_s: graph.initial_silence_timeout_in_seconds,
            max_silence_s: graph.max_silence_timeout_in_seconds,
            max_record_s: graph.max_record_duration_in_seconds,
            client_context: None,
        }
    }
}

impl RecordSpec {
    /// The `recordResponse` request body these settings describe.
    pub fn request(&self) -> RecordResponseRequest {
        let mut stop_tones: Vec<String> = self
            .stop_tones
            .chars()
            .filter(|c| !c.is_whitespace() && *c != ',')
            .map(String::from)
            .collect();
        stop_tones.dedup();
        RecordResponseRequest {
            prompts: self.prompt_uri.iter().map(MediaPrompt::new).collect(),
            barge_in_allowed: self.barge_in,
            initial_silence_timeout_in_seconds: self.initial_silence_s,
            max_silence_timeout_in_seconds: self.max_silence_s,
            max_record_duration_in_seconds: self.max_record_s,
            play_beep: self.play_beep,
            stop_tones,
            client_context: self.client_context.clone(),
            ..RecordResponseRequest::default()
        }
    }
}

impl RecordPlan {
    /// A plan for `spec` with `api`, persisting (with a recording status)
    /// into `out_dir`, no prompt length to add to the deadline.
    pub fn new(api: ApiKind, spec: &RecordSpec, out_dir: impl Into<PathBuf>) -> RecordPlan {
        RecordPlan {
            api,
            request: spec.request(),
            recording_status: true,
            prompt_duration: Duration::ZERO,
            out_dir: out_dir.into(),
            stream_while_recording: false,
            live_events: None,
            trim: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_is_graphs_default_request() {
        assert_eq!(
            RecordSpec::default().request(),
            RecordResponseRequest::default()
        );
    }

    #[test]
    fn the_size_cap_follows_each_operations_max_record_unless_overridden() {
        let d = RecordingDownloads::default();
        assert_eq!(d.policy(5).size_cap(), 385_536);
        assert_eq!(d.policy(120).size_cap(), 7_745_536);
        assert!(!d.policy(5).allow_http);
        assert_eq!(
            d.policy(5).allowed_hosts.len(),
            DEFAULT_RECORDING_HOSTS.len()
        );
        let fixed = RecordingDownloads {
            max_bytes: Some(1000),
            ..RecordingDownloads::default()
        };
        assert_eq!(fixed.policy(120).size_cap(), 1000);
    }

    #[test]
    fn stop_tones_are_single_keys_without_separators_or_repeats() {
        let spec = RecordSpec {
            stop_tones: "##, *".into(),
            ..RecordSpec::default()
        };
        assert_eq!(spec.request().stop_tones, vec!["#", "*"]);
    }
}

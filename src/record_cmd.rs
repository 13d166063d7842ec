//! `voxcap record`: the command-line face of [`voxcap_bot`]. Parses the
//! exact flag set scripts rely on, builds a [`Bot`], records once, prints
//! the report and maps the outcome to the exit code (0 recorded, 3 Graph
//! reported a failure, 4 lost, 1 other errors, 2 usage). [`BotArgs`] and
//! [`bot_error`] are shared with `voxcap serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{ArgGroup, Args, ValueEnum};
use voxcap_bot::stewardship::start_retention;
use voxcap_bot::{
    ApiKind, Bot, BotConfig, BotError, LiveEvents, NotificationAuthMode, Outcome, OutcomeKind,
    RecordPlan, RecordSpec, RecordingDownloads, Stewardship, StoreChoice, TokenSource,
};
use voxcap_capture::redis_conn::read_ca_pem;
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_capture::{ClientCredentialsConfig, Secret};
use voxcap_records::crypt::Recipients;

/// Which Graph action starts the recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ApiArg {
    /// `recordResponse`.
    RecordResponse,
    /// The legacy beta `record` action.
    LegacyRecord,
}

/// Arguments of `voxcap record`.
#[derive(Debug, Args)]
pub(crate) struct RecordArgs {
    /// The call to record on (it must already exist and post its notifications to --listen).
    #[arg(long, value_name = "ID")]
    pub call_id: String,
    /// Which Graph action starts the recording.
    #[arg(long, value_enum, default_value_t = ApiArg::RecordResponse)]
    pub api: ApiArg,
    /// Graph, token, webhook and fleet settings.
    #[command(flatten)]
    pub bot: BotArgs,
    /// Prompt played before the beep (a WAV URI).
    #[arg(long, value_name = "URI")]
    pub prompt: Option<String>,
    /// Do not play a beep before recording.
    #[arg(long)]
    pub no_beep: bool,
    /// Let this operation barge into queued or running ones.
    #[arg(long)]
    pub barge_in: bool,
    /// DTMF keys that stop the recording, e.g. "#*".
    #[arg(long, value_name = "KEYS", default_value = "")]
    pub stop_tones: String,
    /// initialSilenceTimeoutInSeconds (1..=120).
    #[arg(long, value_name = "S", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub initial_silence: u32,
    /// maxSilenceTimeoutInSeconds (1..=120).
    #[arg(long, value_name = "S", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub max_silence: u32,
    /// maxRecordDurationInSeconds (1..=120).
    #[arg(long, value_name = "S", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=120))]
    pub max_record: u32,
    /// clientContext (at most 256 characters; generated when absent).
    #[arg(long, value_name = "TEXT")]
    pub client_context: Option<String>,
    /// Skip updateRecordingStatus; then nothing may be persisted, so only the outcome is printed.
    #[arg(long)]
    pub no_recording_status: bool,
    /// With --api legacy-record: analyse while the caller speaks (streamWhileRecording); live events print as NDJSON on stderr.
    #[arg(long)]
    pub stream_while_recording: bool,
    /// Output directory for <operationId>.wav, .trimmed.wav and .json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The settings `record` and `serve` share: Graph, app token, notification
/// webhook and its authentication, deadline margin, and the fleet store.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("token").required(true).args(["token_env", "tenant"])))]
#[command(group(ArgGroup::new("notification_auth").required(true).args(["notification_audience", "no_notification_auth"])))]
pub(crate) struct BotArgs {
    /// Graph base URL (national clouds: change the host; a /beta URL uses the beta API).
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://graph.microsoft.com/v1.0"
    )]
    pub graph_url: String,
    /// Environment variable holding a Graph app token.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Tenant for client credentials.
    #[arg(long, value_name = "T", requires_all = ["client_id", "client_secret_env"])]
    pub tenant: Option<String>,
    /// Application (client) id for client credentials.
    #[arg(long, value_name = "C", requires = "tenant")]
    pub client_id: Option<String>,
    /// Environment variable holding the client secret.
    #[arg(long, value_name = "VAR", requires = "tenant")]
    pub client_secret_env: Option<String>,
    /// OAuth2 authority for client credentials.
    #[arg(long, value_name = "URL", requires = "tenant")]
    pub authority: Option<String>,
    /// Address the notification webhook binds (also serves /healthz and /readyz).
    #[arg(long, value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Path of the notification webhook.
    #[arg(long, value_name = "PATH", default_value = "/api/calls")]
    pub callback_path: String,
    /// Verify notification JWTs with this audience (the bot's app id).
    #[arg(long, value_name = "APPID")]
    pub notification_audience: Option<String>,
    /// OpenID configuration URL for the notification signing keys.
    #[arg(long, value_name = "URL", requires = "notification_audience")]
    pub openid_config: Option<String>,
    /// Accept notifications without verification (only with a loopback --listen; a request carrying X-Forwarded-For or Forwarded is refused).
    #[arg(long)]
    pub no_notification_auth: bool,
    /// Accept notifications only for this tenant (the JWT's tid); repeatable (default: any tenant).
    #[arg(long = "tenant-id", value_name = "ID")]
    pub tenant_ids: Vec<String>,
    /// Also download recordings from this host (host, host:port or *.domain); repeatable; extends the default list (SECURITY.md).
    #[arg(long = "recording-host", value_name = "PATTERN")]
    pub recording_hosts: Vec<String>,
    /// Allow http:// recording locations: for emulators and local tests only (the recording token travels in the clear).
    #[arg(long)]
    pub allow_http_recordings: bool,
    /// Refuse recordings larger than N bytes (default per operation: 2 x 32,000 B/s x maxRecordDurationInSeconds + 64 KiB).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_recording_bytes: Option<u64>,
    /// Seconds added to prompt + initial silence + max record before the operation counts as lost.
    #[arg(long, value_name = "S", default_value_t = 15.0, value_parser = crate::seconds_in(0.0, 3600.0))]
    pub deadline_margin: f64,
    /// Share pending operations through Redis (a fleet behind one callback URL), e.g. redis://:PASSWORD@10.0.0.5:6379/ or rediss:// for TLS; default $VOXCAP_REDIS_URL, which keeps a password off the command line.
    #[arg(
        long,
        value_name = "URL",
        env = "VOXCAP_REDIS_URL",
        hide_env_values = true
    )]
    pub redis: Option<String>,
    /// CA certificate(s), PEM, for a rediss:// server with a private CA (default: the public roots).
    #[arg(long, value_name = "FILE", requires = "redis")]
    pub redis_ca: Option<PathBuf>,
    /// Prefix of the fleet's Redis keys (fleets sharing a server use different ones).
    #[arg(long, value_name = "P", default_value = "voxcap", requires = "redis")]
    pub redis_prefix: String,
    /// This instance's id in the fleet (default: host-pid-random).
    #[arg(long, value_name = "ID", requires = "redis")]
    pub instance_id: Option<String>,
    /// Seconds without a heartbeat after which the fleet takes over this instance's operations.
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = crate::seconds_in(0.3, 3600.0), requires = "redis")]
    pub heartbeat_ttl: f64,
    /// Store audio encrypted to this age X25519 recipient (age1...; repeatable): .wav.age, never plaintext on disk.
    #[arg(long = "encrypt-to", value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Delete recordings (all their files) older than N days; checked at start-up and hourly.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub retain_days: Option<u32>,
    /// Keep the report, delete the audio once the report is written.
    #[arg(long)]
    pub delete_audio_after_analysis: bool,
    /// Silero VAD's ONNX file, fused into the speech detector (docs/speech.md).
    #[arg(long, value_name = "FILE", env = "VOXCAP_SPEECH_MODEL")]
    pub speech_model: Option<std::path::PathBuf>,
}

/// Reads `--redis-ca FILE`: PEM with at least one certificate.
pub(crate) fn read_redis_ca(path: Option<&std::path::Path>) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = path else { return Ok(None) };
    let pem = read_ca_pem(path).with_context(|| format!("--redis-ca {}", path.display()))?;
    Ok(Some(pem))
}

/// A bot error with the flag that sets what it is about.
pub(crate) fn bot_error(e: BotError) -> anyhow::Error {
    match e.setting() {
        Some(s) => anyhow::Error::new(e).context(s.cli_flag()),
        None => anyhow::Error::new(e),
    }
}

impl BotArgs {
    /// Refuses `--no-notification-auth` with a non-loopback `--listen` or
    /// with `--tenant-id` (an unverified notification has no `tid`).
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.no_notification_auth && !self.tenant_ids.is_empty() {
            return Err(
                "--tenant-id needs --notification-audience (only a verified tid can be checked)"
                    .into(),
            );
        }
        if self.no_notification_auth && !self.listen.ip().is_loopback() {
            return Err(format!(
                "--no-notification-auth is only allowed with a loopback --listen (got {})",
                self.listen
            ));
        }
        Ok(())
    }

    /// The bot settings these flags describe (reads the secret variables).
    pub(crate) fn bot_config(&self) -> anyhow::Result<BotConfig> {
        let token = match (&self.token_env, &self.tenant) {
            (Some(var), _) => TokenSource::Static(Secret::from_env(var).context("--token-env")?),
            (None, Some(tenant)) => {
                let (Some(client_id), Some(var)) = (&self.client_id, &self.client_secret_env)
                else {
                    anyhow::bail!("--tenant needs --client-id and --client-secret-env");
                };
                let mut c = ClientCredentialsConfig::new(
                    tenant,
                    client_id,
                    Secret::from_env(var).context("--client-secret-env")?,
                );
                if let Some(a) = &self.authority {
                    c.authority = a.trim_end_matches('/').to_string();
                }
                TokenSource::ClientCredentials(c)
            }
            (None, None) => {
                anyhow::bail!("give --token-env or --tenant/--client-id/--client-secret-env")
            }
        };
        let auth = match &self.notification_audience {
            Some(aud) => NotificationAuthMode::Jwt {
                audience: aud.clone(),
                openid_config: self.openid_config.clone(),
            },
            None => NotificationAuthMode::InsecureLoopbackOnly,
        };
        let mut downloads = RecordingDownloads {
            allow_http: self.allow_http_recordings,
            max_bytes: self.max_recording_bytes,
            ..RecordingDownloads::default()
        };
        downloads.allowed_hosts.extend(self.recording_hosts.clone());
        let encrypt_to = (!self.encrypt_to.is_empty()).then(|| Recipients::parse(&self.encrypt_to));
        let stewardship = Stewardship {
            encrypt_to: encrypt_to.transpose().context("--encrypt-to")?,
            delete_audio_after_analysis: self.delete_audio_after_analysis,
            retain: (self.retain_days).map(|d| Duration::from_secs(u64::from(d) * 86_400)),
            ..Stewardship::default()
        };
        Ok(BotConfig {
            stewardship,
            callback_path: self.callback_path.clone(),
            auth,
            deadline_margin: Duration::from_secs_f64(self.deadline_margin),
            downloads,
            allowed_tenants: self.tenant_ids.clone(),
            store: match &self.redis {
                None => StoreChoice::InMemory,
                Some(url) => {
                    let mut c = RedisStoreConfig::new(url.clone());
                    c.prefix = self.redis_prefix.clone();
                    if let Some(id) = &self.instance_id {
                        c.instance_id = id.clone();
                    }
                    c.heartbeat_ttl = Duration::from_secs_f64(self.heartbeat_ttl);
                    c.ca_pem = read_redis_ca(self.redis_ca.as_deref())?;
                    StoreChoice::Redis(c)
                }
            },
            speech_model: voxcap_bot::file_analysis::speech_model_at(self.speech_model.as_deref())?,
            ..BotConfig::new(self.graph_url.clone(), token, self.listen)
        })
    }
}

impl RecordArgs {
    /// The operation these flags describe.
    pub(crate) fn plan(&self) -> RecordPlan {
        let spec = RecordSpec {
            prompt_uri: self.prompt.clone(),
            play_beep: !self.no_beep,
            barge_in: self.barge_in,
            stop_tones: self.stop_tones.clone(),
            initial_silence_s: self.initial_silence,
            max_silence_s: self.max_silence,
            max_record_s: self.max_record,
            client_context: self.client_context.clone(),
        };
        let api = match self.api {
            ApiArg::RecordResponse => ApiKind::RecordResponse,
            ApiArg::LegacyRecord => ApiKind::LegacyRecord,
        };
        RecordPlan {
            recording_status: !self.no_recording_status,
            stream_while_recording: self.stream_while_recording,
            live_events: Some(LiveEvents::new(|e| eprintln!("{}", serde_json::json!(e)))),
            ..RecordPlan::new(api, &spec, &self.out)
        }
    }
}

/// The exit code of an outcome.
pub(crate) fn exit_code(o: &Outcome) -> ExitCode {
    ExitCode::from(match o.kind {
        OutcomeKind::Recorded => 0,
        OutcomeKind::Failed => 3,
        OutcomeKind::Lost => 4,
    })
}

/// Runs `voxcap record`.
pub(crate) fn run(args: &RecordArgs) -> anyhow::Result<ExitCode> {
    if let Err(e) = args.bot.check() {
        eprintln!("voxcap: {e}");
        return Ok(ExitCode::from(2));
    }
    init_tracing();
    let config = args.bot.bot_config()?;
    let plan = args.plan();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let bot = Bot::start(config).await.map_err(bot_error)?;
        let sweeper = (start_retention(&args.out, bot.stewardship()).await)
            .context("--retain-days: the start-up sweep")?;
        let outcome = bot.record(&args.call_id, &plan).await;
        sweeper.inspect(|s| s.abort());
        bot.stop().await;
        let outcome = outcome.map_err(bot_error)?;
        println!("{}", serde_json::to_string_pretty(&outcome.json)?);
        let op = &outcome.operation;
        let (what, why) = match outcome.kind {
            OutcomeKind::Failed => ("Graph reported a failure", op.completion_reason.as_deref()),
            OutcomeKind::Lost => ("lost", op.result_info.message.as_deref()),
            OutcomeKind::Recorded => return Ok(exit_code(&outcome)),
        };
        let why = why.unwrap_or("no reason");
        eprintln!(
            "voxcap: call {}, operation {}: {what} ({why})",
            args.call_id, op.id
        );
        Ok(exit_code(&outcome))
    })
}

/// Logs text to stderr, filtered by `RUST_LOG` (default: warnings).
pub(crate) fn init_tracing() {
    voxcap_service::logging::init(voxcap_service::logging::LogFormat::Text);
}

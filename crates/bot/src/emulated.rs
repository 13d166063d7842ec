//! A bot wired to an in-process `voxcap-emulator` (cargo feature
//! `emulator`): what `voxcap demo`, the example test and the end-to-end
//! tests start from. The bot is configured
//! exactly as against real Graph (client credentials, JWT-verified webhook
//! with the emulator's app id as audience and its OpenID configuration);
//! only the URLs point at the emulator.
//!
//! Downloads keep the production policy ([`RecordingDownloads::default`]:
//! https only, the Graph recording hosts): no http opt-in is made. The
//! emulator serves its recordings from its own address, the Graph base
//! URL's origin, which the Graph client trusts as it is (its app token
//! already goes there), so `http://127.0.0.1:PORT/recordings/...` is
//! downloaded while any other http or non-listed location is refused, as
//! in production. A test that points locations elsewhere opts in through
//! [`EmulatedSetup::with_bot_config`].

use std::time::Duration;

use voxcap_capture::client::{ClientCredentials, TokenProvider};
use voxcap_capture::{ClientCredentialsConfig, GraphClient, Secret};
use voxcap_emulator::{EmulatorConfig, RunningEmulator};

use crate::bot::Bot;
use crate::config::{BotConfig, NotificationAuthMode, RecordingDownloads, TokenSource};
use crate::error::BotError;

/// Why the emulated setup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatedError {
    /// The emulator did not start, or answered a request with an error.
    #[error("emulator: {0}")]
    Emulator(String),
    /// The bot did not start.
    #[error(transparent)]
    Bot(#[from] BotError),
}

/// What the emulated setup returns.
pub type Result<T> = std::result::Result<T, EmulatedError>;

fn emulator_error(what: impl std::fmt::Display) -> EmulatedError {
    EmulatedError::Emulator(what.to_string())
}

/// The client-credentials settings for the emulator's test tenant.
pub fn test_credentials(emulator: &RunningEmulator) -> ClientCredentialsConfig {
    let c = emulator.state.config();
    let mut cc = ClientCredentialsConfig::new(
        c.tenant_id.clone(),
        c.client_id.clone(),
        Secret::new(c.client_secret.clone()),
    );
    cc.authority = emulator.base_url.clone();
    cc
}

/// The bot settings for `emulator`: Graph v1.0 on it, client credentials of
/// its test app, JWT validation with its app id and OpenID configuration,
/// the webhook on a free loopback port.
pub fn bot_config(emulator: &RunningEmulator) -> BotConfig {
    let mut config = BotConfig::new(
        format!("{}/v1.0", emulator.base_url),
        TokenSource::ClientCredentials(test_credentials(emulator)),
        ([127, 0, 0, 1], 0).into(),
    );
    config.auth = NotificationAuthMode::Jwt {
        audience: emulator.state.config().client_id.clone(),
        openid_config: Some(emulator.state.openid_config_url()),
    };
    config.deadline_margin = Duration::from_secs(5);
    // Explicitly the production policy: the emulator's origin is trusted
    // as the Graph base URL's (see the module docs), nothing else over http.
    config.downloads = RecordingDownloads::default();
    config
}

/// An emulator and a bot pointed at it.
pub struct EmulatedSetup {
    /// The emulator, serving on loopback.
    pub emulator: RunningEmulator,
    /// The bot, its webhook on loopback.
    pub bot: Bot,
}

impl EmulatedSetup {
    /// Starts an emulator with `config` on `127.0.0.1:0` and a bot for it.
    pub async fn start(config: EmulatorConfig) -> Result<Self> {
        let emulator = RunningEmulator::start(([127, 0, 0, 1], 0).into(), config)
            .await
            .map_err(|e| emulator_error(format!("starting: {e}")))?;
        Self::with_bot_config(emulator, |_| {}).await
    }

    /// Like [`EmulatedSetup::start`] with an already running emulator and a
    /// hook to adjust the bot's settings.
    pub async fn with_bot_config(
        emulator: RunningEmulator,
        adjust: impl FnOnce(&mut BotConfig),
    ) -> Result<Self> {
        let mut config = bot_config(&emulator);
        adjust(&mut config);
        let bot = Bot::start(config).await?;
        Ok(EmulatedSetup { emulator, bot })
    }

    /// Creates a call on the emulator whose notifications go to the bot's
    /// webhook; `scenario` (a scenario object, or a registered name as a JSON
    /// string) scripts the caller. Returns the call id.
    pub async fn create_call(&self, scenario: Option<&serde_json::Value>) -> Result<String> {
        self.create_call_to(self.bot.callback_url(), scenario).await
    }

    /// Like [`EmulatedSetup::create_call`] with another `callbackUri` (e.g.
    /// a `voxcap record` process that is about to listen there).
    pub async fn create_call_to(
        &self,
        callback_uri: &str,
        scenario: Option<&serde_json::Value>,
    ) -> Result<String> {
        create_call(self.bot.client(), &self.emulator, callback_uri, scenario).await
    }

    /// Stops the bot and the emulator.
    pub async fn stop(self) {
        self.bot.stop().await;
        let _ = self.emulator.stop().await;
    }
}

/// Creates a call on `emulator` (through `client`'s HTTP pool, with a fresh
/// test-app token) whose notifications go to `callback_uri`; `scenario`
/// scripts the caller. Returns the call id.
pub async fn create_call(
    client: &GraphClient,
    emulator: &RunningEmulator,
    callback_uri: &str,
    scenario: Option<&serde_json::Value>,
) -> Result<String> {
    let http = client.http();
    let token = ClientCredentials::new(http.clone(), test_credentials(emulator))
        .token()
        .await
        .map_err(|e| emulator_error(format!("app token: {e}")))?;
    let mut body = serde_json::json!({
        "@odata.type": "#microsoft.graph.call",
        "callbackUri": callback_uri,
        "requestedModalities": ["audio"],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    });
    if let Some(s) = scenario {
        body["voxcapScenario"] = s.clone();
    }
    let url = format!("{}/v1.0/communications/calls", emulator.base_url);
    let resp = http
        .post(&url)
        .bearer_auth(token.expose())
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| emulator_error(format!("POST {url}: {}", e.without_url())))?;
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| emulator_error(format!("POST {url}: body: {}", e.without_url())))?;
    if !status.is_success() {
        return Err(emulator_error(format!(
            "POST {url}: {status}: {}",
            String::from_utf8_lossy(&bytes)
        )));
    }
    let call: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| emulator_error(format!("POST {url}: not JSON: {e}")))?;
    call.get("id")
        .and_then(|v| v.as_str())
        .map(str::to_string)
        .ok_or_else(|| emulator_error(format!("POST {url}: no call id in the answer")))
}

//! Shared harness for the capture integration tests: the Graph stand-in is
//! `voxcap-emulator` (its request and delivery logs show what the bot sent
//! and what its webhook answered), and a bot (client, tracker, webhook on
//! 127.0.0.1:0) is pointed at it.

use std::time::Duration;

use serde_json::json;
use voxcap_capture::client::RetryPolicy;
use voxcap_capture::webhook::{self, JwtConfig, NotificationAuth, WebhookState};
use voxcap_capture::{
    ClientCredentialsConfig, GraphClient, OperationTracker, Secret, TrackerConfig,
};
use voxcap_emulator::server::{TEST_CLIENT_ID, TEST_TENANT_ID};
use voxcap_emulator::{EmulatorConfig, Faults, LoggedRequest, RunningEmulator, Scenario, Step};

/// The app id notifications are addressed to.
pub(crate) const APP_ID: &str = TEST_CLIENT_ID;

/// A running emulator and an app token for the harness's own requests.
pub(crate) struct Graph {
    /// The emulator.
    pub emu: RunningEmulator,
    http: reqwest::Client,
    token: String,
}

impl Graph {
    /// Starts an emulator on 127.0.0.1:0 (time scaled by 0.01).
    pub(crate) async fn start() -> Graph {
        Self::start_with(EmulatorConfig::default()).await
    }

    /// Starts an emulator with `config`.
    pub(crate) async fn start_with(config: EmulatorConfig) -> Graph {
        let emu = RunningEmulator::start("127.0.0.1:0".parse().unwrap(), config)
            .await
            .expect("emulator starts");
        let http = reqwest::Client::new();
        let token = fetch_token(&http, &emu).await;
        Graph { emu, http, token }
    }

    /// Graph v1.0 base URL.
    pub(crate) fn graph_url(&self) -> String {
        format!("{}/v1.0", self.emu.base_url)
    }

    /// The OpenID configuration URL.
    pub(crate) fn openid_url(&self) -> String {
        self.emu.state.openid_config_url()
    }

    /// A fresh app token from the emulator's token endpoint.
    pub(crate) async fn app_token(&self) -> String {
        fetch_token(&self.http, &self.emu).await
    }

    /// Creates a call whose notifications go to `callback` and whose
    /// caller follows `scenario`; returns the call id.
    pub(crate) async fn call(&self, callback: &str, scenario: &Scenario) -> String {
        let r = self
            .http
            .post(format!("{}/communications/calls", self.graph_url()))
            .bearer_auth(&self.token)
            .json(&json!({
                "callbackUri": callback,
                "voxcapScenario": scenario,
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "create call");
        let v: serde_json::Value = r.json().await.unwrap();
        v["id"].as_str().unwrap().to_string()
    }

    /// Every logged request of `method` whose path contains `part`.
    pub(crate) fn seen(&self, method: &str, part: &str) -> Vec<LoggedRequest> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .collect()
    }

    /// The recordResponse (or legacy record) POSTs for `call`.
    pub(crate) fn record_posts(&self, call: &str) -> Vec<LoggedRequest> {
        self.emu
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path.contains(call)
                    && (r.path.ends_with("/recordResponse") || r.path.ends_with("/record"))
            })
            .collect()
    }

    /// The `status` of each updateRecordingStatus POST, in order.
    pub(crate) fn status_updates(&self) -> Vec<String> {
        self.seen("POST", "/updateRecordingStatus")
            .iter()
            .map(|r| {
                r.body.as_ref().unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    /// How the webhook answered each completion notification, in order.
    pub(crate) fn completion_answers(&self) -> Vec<Option<u16>> {
        self.emu
            .deliveries()
            .iter()
            .filter(|d| d.has_record_operation())
            .map(|d| d.status)
            .collect()
    }

    /// Token endpoint requests so far.
    pub(crate) fn token_requests(&self) -> usize {
        self.seen("POST", "/oauth2/v2.0/token").len()
    }

    /// The bytes the emulator serves for the recording of `operation_id`.
    pub(crate) fn recording(&self, operation_id: &str) -> Vec<u8> {
        let id = self
            .emu
            .state
            .recording_id_of(operation_id)
            .expect("the operation produced a recording");
        self.emu.state.recording_bytes(&id).unwrap().to_vec()
    }
}

async fn fetch_token(http: &reqwest::Client, emu: &RunningEmulator) -> String {
    let v = voxcap_testkit::emulated::token_response(http, emu).await;
    v["access_token"].as_str().unwrap().to_string()
}

/// A caller who speaks for `seconds` (a voice distinct per `seed`) and then
/// presses `#` for 200 ms.
pub(crate) fn speaker(seconds: f64, seed: u64) -> Scenario {
    Scenario {
        seed,
        steps: vec![
            Step::Voice {
                ms: (seconds * 1000.0) as u32,
                pitch_hz: 90.0 + (seed % 300) as f32,
                level_dbfs: -20.0,
            },
            Step::Press {
                digit: '#',
                ms: 200,
                level_dbfs: -10.0,
            },
            Step::Silence { ms: None },
        ],
        ..Scenario::default()
    }
}

/// A caller who never says anything.
pub(crate) fn silent() -> Scenario {
    Scenario {
        steps: vec![Step::Silence { ms: None }],
        ..Scenario::default()
    }
}

/// `scenario` with `faults` for its call.
pub(crate) fn with_faults(scenario: Scenario, set: impl FnOnce(&mut Faults)) -> Scenario {
    let mut f = Faults::default();
    set(&mut f);
    Scenario {
        faults: Some(f),
        ..scenario
    }
}

/// How the bot authenticates to Graph.
pub(crate) enum Credentials {
    /// A fixed bearer token.
    Static(String),
    /// The emulator's test app, by client credentials against its token
    /// endpoint; `secret` is the client secret sent.
    ClientCredentials { authority: String, secret: String },
}

/// How the bot authenticates notifications.
pub(crate) enum Auth {
    /// JWT against this OpenID configuration, audience = app id.
    Jwt {
        openid_url: String,
        audience: String,
    },
    /// Loopback only, no verification.
    InsecureLoopback,
}

/// A bot: Graph client, tracker, and the webhook on 127.0.0.1:0.
pub(crate) struct Bot {
    pub client: GraphClient,
    pub tracker: OperationTracker,
    pub webhook_url: String,
}

/// A fast retry policy so throttling tests finish quickly (Retry-After still
/// honoured as sent).
pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

/// The client-credentials config of the emulator's test app.
pub(crate) fn test_app(authority: &str, secret: &str) -> ClientCredentialsConfig {
    let mut c = ClientCredentialsConfig::new(TEST_TENANT_ID, TEST_CLIENT_ID, Secret::new(secret));
    c.authority = authority.to_string();
    c
}

/// Starts a bot against `graph_url`.
pub(crate) async fn start_bot(
    graph_url: &str,
    creds: Credentials,
    auth: Auth,
    config: TrackerConfig,
) -> Bot {
    let mut builder = GraphClient::builder()
        .base_url(graph_url)
        .retry_policy(fast_retry())
        .timeout(Duration::from_secs(20));
    builder = match creds {
        Credentials::Static(t) => builder.static_token(Secret::new(t)),
        Credentials::ClientCredentials { authority, secret } => {
            builder.client_credentials(test_app(&authority, &secret))
        }
    };
    let client = builder.build().expect("graph client");
    let tracker = OperationTracker::new(client.clone(), config);
    let auth = match auth {
        Auth::Jwt {
            openid_url,
            audience,
        } => {
            let mut cfg = JwtConfig::new(audience);
            cfg.openid_config_url = openid_url;
            cfg.min_refetch_interval = Duration::from_secs(1);
            NotificationAuth::jwt(client.http().clone(), cfg)
        }
        Auth::InsecureLoopback => NotificationAuth::InsecureLoopbackOnly,
    };
    let state = WebhookState::new(auth, tracker.notification_sink());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        webhook::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    Bot {
        client,
        tracker,
        webhook_url: format!("http://{addr}{}", webhook::DEFAULT_CALLBACK_PATH),
    }
}

/// An emulator and a bot with a static app token and JWT-verified
/// notifications against the emulator's keys.
pub(crate) async fn setup_with(config: TrackerConfig) -> (Graph, Bot) {
    let graph = Graph::start().await;
    let bot = start_bot(
        &graph.graph_url(),
        Credentials::Static(graph.app_token().await),
        Auth::Jwt {
            openid_url: graph.openid_url(),
            audience: APP_ID.into(),
        },
        config,
    )
    .await;
    (graph, bot)
}

//! What every test starts from: an emulator, a bot wired to it, the API
//! over the bot's recorder with two keys, and a client.

use std::time::Duration;

use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_service::{ApiKeys, RunningService, ServiceConfig};
use voxcap_testkit::emulated::emulator_config;

/// The two keys the API accepts at start (rotation: both active).
pub(crate) const KEY: &str = "test-key-current-0123456789";
pub(crate) const OLD_KEY: &str = "test-key-previous-0123456789";

pub(crate) struct Harness {
    pub(crate) setup: EmulatedSetup,
    pub(crate) service: RunningService,
    pub(crate) http: reqwest::Client,
    pub(crate) dir: tempfile::TempDir,
}

impl Harness {
    pub(crate) async fn start() -> Harness {
        Self::start_with_callbacks(None).await
    }

    /// [`Harness::start`] with callbacks signed and retried as `callbacks` says.
    pub(crate) async fn start_with_callbacks(
        callbacks: Option<voxcap_service::callbacks::CallbackConfig>,
    ) -> Harness {
        Self::start_configured(|_| {}, |c| c.callbacks = callbacks).await
    }

    /// [`Harness::start`] with the bot's settings changed by `bot` and the
    /// service's by `service`.
    pub(crate) async fn start_configured(
        bot: impl FnOnce(&mut voxcap_bot::BotConfig),
        service: impl FnOnce(&mut ServiceConfig),
    ) -> Harness {
        voxcap_testkit::emulated::log_from_env("SERVICE_LOG");
        let emulator =
            voxcap_emulator::RunningEmulator::start(([127, 0, 0, 1], 0).into(), emulator_config())
                .await
                .unwrap();
        let setup = EmulatedSetup::with_bot_config(emulator, bot).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keys = ApiKeys::from_list(&format!("{KEY},{OLD_KEY}")).unwrap();
        let mut config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), keys, dir.path());
        service(&mut config);
        let service = RunningService::start(config, setup.bot.recorder())
            .await
            .unwrap();
        Harness {
            setup,
            service,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// The harness with the webhook's notifications counted into the API's
    /// metrics and relayed as `relay` says; `adjust` changes the bot's
    /// settings first.
    pub(crate) async fn start_relayed(
        relay: voxcap_service::relay::RelayConfig,
        adjust: impl FnOnce(&mut voxcap_bot::BotConfig),
    ) -> Harness {
        voxcap_testkit::emulated::log_from_env("SERVICE_LOG");
        let metrics = std::sync::Arc::new(voxcap_service::metrics::Metrics::default());
        let relay = voxcap_service::relay::Relay::new(relay, metrics.clone());
        let tap = voxcap_service::relay::NotificationTap::new(metrics.clone(), Some(relay));
        let emulator =
            voxcap_emulator::RunningEmulator::start(([127, 0, 0, 1], 0).into(), emulator_config())
                .await
                .unwrap();
        let setup = EmulatedSetup::with_bot_config(emulator, |c| {
            adjust(c);
            c.webhook_tap = Some(std::sync::Arc::new(tap));
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keys = ApiKeys::from_list(KEY).unwrap();
        let mut config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), keys, dir.path());
        config.metrics = metrics;
        let service = RunningService::start(config, setup.bot.recorder())
            .await
            .unwrap();
        Harness {
            setup,
            service,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// A GET's status and body text, with the current key.
    pub(crate) async fn get_text(&self, path: &str) -> (u16, String) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.service.base_url())
    }

    /// A request with the current key.
    pub(crate) fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path)).bearer_auth(KEY)
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Waits until recording `id` has left `running`; returns it.
    pub(crate) async fn wait_final(&self, id: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (status, body) = self.get_json(&format!("/v1/recordings/{id}")).await;
            assert_eq!(status, 200, "{body}");
            if body["status"] != "running" {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn stop(self) {
        self.service.stop().await;
        self.setup.stop().await;
    }
}

/// The caller answers for 1.2 s, pauses, presses `#`: `stopToneDetected`.
pub(crate) fn stop_tone_caller() -> Value {
    json!({
        "name": "service_stop_tone",
        "seed": 17,
        "steps": [
            {"type": "pause", "ms": 600},
            {"type": "voice", "ms": 1200},
            {"type": "pause", "ms": 300},
            {"type": "press", "digit": "#", "ms": 120},
            {"type": "silence"}
        ]
    })
}

/// Every route of the API, as (method, path with ids filled in).
pub(crate) fn every_route(id: &str) -> Vec<(reqwest::Method, String)> {
    use reqwest::Method;
    vec![
        (Method::POST, "/v1/calls/call-1/recordResponse".to_string()),
        (Method::POST, "/v1/recordings".to_string()),
        (Method::GET, "/v1/recordings".to_string()),
        (Method::GET, format!("/v1/recordings/{id}")),
        (Method::DELETE, format!("/v1/recordings/{id}")),
        (Method::GET, format!("/v1/recordings/{id}/audio")),
        (Method::GET, format!("/v1/recordings/{id}/trimmed")),
        (Method::GET, "/openapi.json".to_string()),
        (Method::GET, "/metrics".to_string()),
        (Method::GET, "/no/such/route".to_string()),
    ]
}

//! An in-process Graph emulator for tests (feature `emulator`): its
//! configuration with the workspace's assets, a start on loopback, test
//! logging, and the client-credentials token fetch every harness sends.

use voxcap_emulator::{EmulatorConfig, RunningEmulator};

/// The emulator's default configuration, with the scenarios' assets in the
/// workspace root's `testdata/`.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        asset_root: crate::workspace_root(),
        ..EmulatorConfig::default()
    }
}

/// Turns on `tracing` output for this test when the environment variable
/// `var` holds a filter (`FLEET_LOG=voxcap_bot=debug`); a second call is a
/// no-op.
pub fn log_from_env(var: &str) {
    if let Ok(filter) = std::env::var(var) {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

/// An emulator on an ephemeral loopback port with [`emulator_config`] and
/// `time_scale` (1.0 runs callers in real time, the default 0.01 a hundred
/// times faster). Panics when it cannot start.
pub async fn start_emulator(time_scale: f64) -> RunningEmulator {
    let config = EmulatorConfig {
        time_scale,
        ..emulator_config()
    };
    RunningEmulator::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .unwrap_or_else(|e| panic!("the emulator does not start: {e}"))
}

/// The emulator's token endpoint's answer (JSON) to a client-credentials
/// request with the emulator's own client id and secret.
pub async fn token_response(http: &reqwest::Client, emu: &RunningEmulator) -> serde_json::Value {
    let c = emu.state.config().clone();
    let response = http
        .post(emu.state.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", "https://graph.microsoft.com/.default"),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("token request to the emulator: {e}"));
    let body = response
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("token response body: {e}"));
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("token response is not JSON: {e}"))
}

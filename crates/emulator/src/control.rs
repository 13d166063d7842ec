//! The `/_emulator` control surface: faults, named scenarios, call
//! inspection, key rotation, statistics and notification fallbacks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{call_not_found, internal, parse_json, ApiError};
use crate::faults::Faults;
use crate::scenario::Scenario;
use crate::state::{lock, norm, EmulatorState, Script};

pub(crate) async fn get_faults(State(st): State<EmulatorState>) -> Response {
    Json(lock(&st.inner.faults).faults.clone()).into_response()
}

pub(crate) async fn put_faults(
    State(st): State<EmulatorState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let f: Faults = parse_json(&body, "faults")?;
    f.validate().map_err(ApiError::bad_request)?;
    let mut sf = lock(&st.inner.faults);
    sf.throttle_left = f.throttle.as_ref().map_or(0, |t| t.count);
    sf.faults = f;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn put_scenario(
    State(st): State<EmulatorState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut scenario: Scenario = parse_json(&body, "scenario")?;
    scenario.name = Some(name.clone());
    let prepared = scenario
        .prepare(&st.inner.config.asset_root)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    lock(&st.inner.scenarios).insert(name, Arc::new(Script { scenario, prepared }));
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn inspect_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    let ops: Vec<Value> = c
        .operations
        .values()
        .map(|o| json!({"kind": o.kind, "running": o.running, "body": o.body}))
        .collect();
    Ok(Json(json!({
        "id": c.id,
        "ended": c.ended,
        "scenario": c.script.scenario.name,
        "recordingStatus": c.recording_status,
        "operations": ops,
    }))
    .into_response())
}

pub(crate) async fn rotate_key(State(st): State<EmulatorState>) -> Result<Response, ApiError> {
    let st2 = st.clone();
    let kid = tokio::task::spawn_blocking(move || st2.rotate_key())
        .await
        .map_err(|e| internal(format!("key rotation task failed: {e}")))?
        .map_err(|e| internal(e.to_string()))?;
    Ok(Json(json!({"kid": kid})).into_response())
}

pub(crate) async fn stats(State(st): State<EmulatorState>) -> Response {
    Json(json!({
        "notificationsDelivered": st.inner.delivered.load(Ordering::Relaxed),
        "notificationsFailed": st.inner.failed.load(Ordering::Relaxed),
        "notificationsRerouted": st.inner.rerouted.load(Ordering::Relaxed),
        "downloads": st.download_counts(),
    }))
    .into_response()
}

pub(crate) async fn get_fallbacks(State(st): State<EmulatorState>) -> Response {
    Json(st.notification_fallbacks()).into_response()
}

pub(crate) async fn put_fallbacks(
    State(st): State<EmulatorState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let urls: Vec<String> = parse_json(&body, "fallbacks (a JSON array of URLs)")?;
    st.set_notification_fallbacks(urls)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(crate) async fn revoke_tokens(State(st): State<EmulatorState>) -> Response {
    st.revoke_app_tokens();
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn requests(State(st): State<EmulatorState>) -> Response {
    Json(st.requests()).into_response()
}

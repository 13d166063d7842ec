//! Call routes: create, get and delete (`/communications/calls[/{id}]`).
//! Deleting a call cancels its running recordings and starts the discard
//! clock of its finished ones.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{call_not_found, parse_json, ApiError};
use crate::notify::{batch, call_state_notification, completed_resource, operation_notification};
use crate::state::{lock, norm, start_discard_timers, CallEntry, EmulatorState, SCENARIO_HEADER};
use crate::wire::CompletionReason;

pub(crate) async fn create_call(
    State(st): State<EmulatorState>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.gate(&headers, None)?;
    let v: Value = parse_json(&body, "create call")?;
    let callback = v
        .get("callbackUri")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("create call: callbackUri is required"))?
        .to_string();
    match reqwest::Url::parse(&callback) {
        Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "create call: callbackUri {callback:?} is not an http(s) URL"
            )))
        }
    }
    let header_spec = headers
        .get(SCENARIO_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(|s| Value::String(s.to_string()));
    let script = st
        .resolve_script(header_spec.as_ref().or(v.get("voxcapScenario")))?
        .unwrap_or_else(|| st.inner.default_script.clone());
    let id = uuid::Uuid::new_v4().to_string();
    let throttle_left = script
        .scenario
        .faults
        .as_ref()
        .and_then(|f| f.throttle.as_ref())
        .map_or(0, |t| t.count);
    lock(&st.inner.calls).insert(
        norm(&id),
        CallEntry {
            id: id.clone(),
            callback_uri: callback.clone(),
            script,
            throttle_left,
            ended: false,
            recording_status: Vec::new(),
            operations: HashMap::new(),
            recordings: Vec::new(),
        },
    );
    let version = if uri.path().starts_with("/beta/") {
        "beta"
    } else {
        "v1.0"
    };
    let collection = if uri.path().contains("/app/calls") {
        "app/calls"
    } else {
        "communications/calls"
    };
    let call = json!({
        "@odata.type": "#microsoft.graph.call",
        "id": id,
        "state": "establishing",
        "direction": "outgoing",
        "callbackUri": callback,
        "requestedModalities": v.get("requestedModalities").cloned().unwrap_or(json!(["audio"])),
        "mediaConfig": v.get("mediaConfig").cloned().unwrap_or(json!({"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"})),
        "targets": v.get("targets").cloned().unwrap_or(json!([])),
        "tenantId": st.inner.config.tenant_id,
        "myParticipantId": uuid::Uuid::new_v4().to_string(),
    });
    // Graph announces the established call asynchronously, as a real one does.
    let st2 = st.clone();
    let id2 = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(st2.scaled(0.5)).await;
        let n = call_state_notification(&id2, "established");
        st2.deliver(&callback, &batch(vec![n], false)).await;
    });
    let loc = format!("{}/{version}/{collection}/{id}", st.inner.config.base_url);
    Ok((StatusCode::CREATED, [(header::LOCATION, loc)], Json(call)).into_response())
}

pub(crate) async fn get_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    Ok(Json(call_json(&st, c)).into_response())
}

/// `GET .../calls`: the calls that have not ended, as a Graph collection.
pub(crate) async fn list_calls(
    State(st): State<EmulatorState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, None)?;
    let calls = lock(&st.inner.calls);
    let value: Vec<Value> = calls
        .values()
        .filter(|c| !c.ended)
        .map(|c| call_json(&st, c))
        .collect();
    Ok(Json(json!({ "value": value })).into_response())
}

fn call_json(st: &EmulatorState, c: &CallEntry) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.call",
        "id": c.id,
        "state": "established",
        "callbackUri": c.callback_uri,
        "tenantId": st.inner.config.tenant_id,
    })
}

pub(crate) async fn delete_call(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let (callback, canceled, recordings) = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.ended = true;
        let mut canceled = Vec::new();
        for (op_id, op) in c.operations.iter_mut() {
            if op.running && op.kind == "record" {
                op.running = false;
                canceled.push((op_id.clone(), op.flavor, op.client_context.clone()));
            }
        }
        (c.callback_uri.clone(), canceled, c.recordings.clone())
    };
    start_discard_timers(&st, &recordings, None);
    let call_id = id.clone();
    tokio::spawn(async move {
        let mut value = Vec::new();
        for (op_id, flavor, ctx) in canceled {
            // Graph reports canceled operations with empty-string location
            // and token, which clients must not mistake for a recording.
            let data = completed_resource(
                flavor,
                &call_id,
                &op_id,
                ctx,
                CompletionReason::OperationCanceled,
                Some((String::new(), String::new())),
            );
            value.push(operation_notification(flavor, &call_id, &op_id, data));
        }
        value.push(call_state_notification(&call_id, "terminated"));
        st.deliver(&callback, &batch(value, false)).await;
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

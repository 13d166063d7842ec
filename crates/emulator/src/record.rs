//! Record routes: `recordResponse` (v1.0, beta, `/app`), the legacy beta
//! `record`, `updateRecordingStatus` and `GET .../operations/{op}`, with the
//! validation of record requests and the run of one recording operation in
//! simulated time (timer rules, rendering, completion notification).

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::{call_not_found, parse_json, ApiError};
use crate::faults::Faults;
use crate::flavor::{location, Flavor};
use crate::notify::{
    batch, call_state_notification, completed_resource, operation_notification, Signature,
};
use crate::scenario::{Outcome, RecordParams};
use crate::state::{
    lock, norm, start_discard_timers, EmulatorState, OpEntry, Recording, Script, SCENARIO_HEADER,
};
use crate::stream;
use crate::timeline::SAMPLE_RATE;
use crate::wire::{
    self, CommsNotification, LegacyRecordOperation, RecordOperation, RecordRequest,
    UpdateRecordingStatusRequest,
};

pub(crate) async fn legacy_record_by_app(
    State(st): State<EmulatorState>,
    Path((_app, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    record_response(State(st), Path(id), headers, uri, body).await
}

/// Allowed range of a timeout, by surface.
pub(crate) fn check_seconds(name: &str, v: Option<i64>, max: i64) -> Result<u32, ApiError> {
    let v = v.unwrap_or(5);
    if !(1..=max).contains(&v) {
        return Err(ApiError::bad_request(format!(
            "{name} must be between 1 and {max} seconds, got {v}"
        )));
    }
    Ok(v as u32)
}

pub(crate) fn check_client_context(ctx: Option<&str>) -> Result<(), ApiError> {
    if let Some(c) = ctx {
        let n = c.chars().count();
        if n > 256 {
            return Err(ApiError::bad_request(format!(
                "clientContext is {n} characters; the limit is 256"
            )));
        }
    }
    Ok(())
}

/// Validates a record request into timer parameters.
///
/// Stop tones: `recordResponse` takes exactly one DTMF key per entry
/// (`0`-`9`, `*`, `#`, `A`-`D`, any case). The legacy `record` action is
/// lenient, because its documented example sends `"11"`: each entry may be
/// several keys and every key in it is a stop tone (`"11"` means `1`).
pub(crate) fn validate(req: &RecordRequest, flavor: Flavor) -> Result<RecordParams, ApiError> {
    let legacy = flavor.is_legacy();
    if !legacy {
        if req.prompts.len() > 1 {
            return Err(ApiError::bad_request(format!(
                "prompts: at most 1 mediaPrompt is supported, got {}",
                req.prompts.len()
            )));
        }
        for p in &req.prompts {
            let uri = p.pointer("/mediaInfo/uri").and_then(Value::as_str);
            if uri.is_none_or(str::is_empty) {
                return Err(ApiError::bad_request(
                    "prompts[0].mediaInfo.uri is required (a 16 kHz 16-bit mono WAV URL)",
                ));
            }
        }
    }
    let initial_silence_s = check_seconds(
        "initialSilenceTimeoutInSeconds",
        req.initial_silence_timeout_in_seconds,
        120,
    )?;
    let max_silence_s = check_seconds(
        "maxSilenceTimeoutInSeconds",
        req.max_silence_timeout_in_seconds,
        120,
    )?;
    // The legacy action predates the 2-minute cap; its example asks for 1800 s.
    let max_duration_s = check_seconds(
        "maxRecordDurationInSeconds",
        req.max_record_duration_in_seconds,
        if legacy { 1800 } else { 120 },
    )?;
    check_client_context(req.client_context.as_deref())?;
    let mut stop_tones = Vec::new();
    for (i, t) in req.stop_tones.iter().enumerate() {
        let keys: Vec<char> = t.chars().map(|c| c.to_ascii_uppercase()).collect();
        let all_dtmf = !keys.is_empty()
            && keys
                .iter()
                .all(|c| voxcap_dsp::keypad::dtmf_frequencies(*c).is_some());
        if !all_dtmf || (!legacy && keys.len() != 1) {
            return Err(ApiError::bad_request(format!(
                "stopTones[{i}] = {t:?} is not a DTMF key (one of 0-9, *, #, A-D)"
            )));
        }
        stop_tones.extend(keys);
    }
    Ok(RecordParams {
        has_prompt: !req.prompts.is_empty(),
        play_beep: req.play_beep.unwrap_or(true),
        initial_silence_s,
        max_silence_s,
        max_duration_s,
        stop_tones,
    })
}

pub(crate) async fn record_response(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let flavor = Flavor::of(&uri);
    st.gate(&headers, Some(&id))?;
    let req: RecordRequest = if flavor.is_legacy() {
        let text = String::from_utf8_lossy(&body);
        parse_json(wire::strip_trailing_commas(&text).as_bytes(), "record")?
    } else {
        parse_json(&body, "recordResponse")?
    };
    let params = validate(&req, flavor)?;
    let header_spec = headers
        .get(SCENARIO_HEADER)
        .and_then(|h| h.to_str().ok())
        .map(|s| Value::String(s.to_string()));
    let override_script = st.resolve_script(header_spec.as_ref())?;
    let injected_error = {
        let calls = lock(&st.inner.calls);
        let script = match &override_script {
            Some(s) => s.clone(),
            None => calls
                .get(&norm(&id))
                .map(|c| c.script.clone())
                .ok_or_else(|| call_not_found(&id))?,
        };
        drop(calls);
        st.call_faults(&script).record_error_status
    };
    if let Some(status) = injected_error {
        return Err(ApiError::injected(status));
    }
    let op_id = uuid::Uuid::new_v4().to_string();
    let now = wire::rfc3339(wire::unix_now());
    let running = match flavor {
        Flavor::Legacy { .. } => serde_json::to_value(LegacyRecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: None,
            odata_etag: None,
            id: Some(op_id.clone()),
            status: "running",
            created_date_time: Some(now.clone()),
            last_action_date_time: Some(now),
            client_context: req.client_context.clone(),
            record_resource_location: None,
            record_resource_access_token: None,
            completion_reason: None,
            result_info: None,
        }),
        _ => serde_json::to_value(RecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: None,
            odata_etag: None,
            id: op_id.clone(),
            status: "running",
            completion_reason: flavor.beta().then_some(None),
            result_info: None,
            recording_location: None,
            recording_access_token: None,
            client_context: req.client_context.clone(),
        }),
    }
    .unwrap_or(Value::Null);
    let (call_id, callback, script) = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.operations.insert(
            norm(&op_id),
            OpEntry {
                kind: "record",
                flavor,
                client_context: req.client_context.clone(),
                running: true,
                body: running.clone(),
                recording: None,
            },
        );
        (
            c.id.clone(),
            c.callback_uri.clone(),
            override_script.unwrap_or_else(|| c.script.clone()),
        )
    };
    let faults = st.call_faults(&script);
    let job = run_operation(
        st.clone(),
        OpContext {
            call_id: call_id.clone(),
            op_id: op_id.clone(),
            callback,
            flavor,
            client_context: req.client_context.clone(),
            stream: flavor.is_legacy() && req.stream_while_recording == Some(true),
        },
        script,
        params,
        faults.clone(),
    );
    let mut body = running;
    if faults.completed_in_response {
        // Graph sometimes answers with the finished operation; then no
        // notification follows.
        if let Some(done) = job.await {
            body = done;
        }
    } else if faults.completion_before_response {
        job.await;
    } else {
        tokio::spawn(job);
    }
    let status = if flavor.is_legacy() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let answered_id = match &faults.answer_operation_id {
        Some(fake) => {
            body["id"] = json!(fake);
            fake.clone()
        }
        None => op_id,
    };
    Ok((
        status,
        [(
            header::LOCATION,
            location(&st.inner.config.base_url, flavor, &call_id, &answered_id),
        )],
        Json(body),
    )
        .into_response())
}

/// Renders the first `samples` of the caller's audio and stores it as a
/// recording with a fresh access token; `live` makes it grow from now on.
/// Returns (recording id, token).
async fn store_recording(
    st: &EmulatorState,
    script: &Arc<Script>,
    samples: usize,
    faults: &Faults,
    live: bool,
) -> (String, String) {
    let script2 = script.clone();
    let wav = tokio::task::spawn_blocking(move || script2.prepared.render_wav(samples))
        .await
        .unwrap_or_default();
    let rec_id = uuid::Uuid::new_v4().to_string();
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    st.inner.issued.push(token.clone());
    lock(&st.inner.recordings).insert(
        rec_id.clone(),
        Arc::new(Recording {
            bytes: Bytes::from(wav),
            token: token.clone(),
            token_expired: faults.expired_download_token,
            discard_at: Mutex::new(None),
            drops_left: AtomicU32::new(if faults.drop_after_bytes.is_some() {
                faults.drop_times.unwrap_or(1)
            } else {
                0
            }),
            faults: faults.clone(),
            live: live.then(|| stream::Live {
                started: std::time::Instant::now(),
                time_scale: st.inner.config.time_scale,
                sample_rate: SAMPLE_RATE,
            }),
        }),
    );
    (rec_id, token)
}

fn recording_location(st: &EmulatorState, faults: &Faults, rec_id: &str) -> String {
    format!(
        "{}/recordings/{rec_id}",
        faults
            .recording_location_base
            .as_deref()
            .unwrap_or(&st.inner.config.base_url)
    )
}

pub(crate) struct OpContext {
    pub(crate) call_id: String,
    pub(crate) op_id: String,
    pub(crate) callback: String,
    pub(crate) flavor: Flavor,
    pub(crate) client_context: Option<String>,
    /// `streamWhileRecording` was asked for on the legacy action.
    pub(crate) stream: bool,
}

/// Runs one recording in simulated time, then reports it as the faults say.
pub(crate) async fn run_operation(
    st: EmulatorState,
    ctx: OpContext,
    script: Arc<Script>,
    params: RecordParams,
    faults: Faults,
) -> Option<Value> {
    let plan = script.prepared.plan(&params);
    let samples = match plan.outcome {
        Outcome::Completed { recorded, .. } => recorded,
        Outcome::HungUp { at } => at,
    };
    let early = if ctx.stream && samples > 0 {
        // streamWhileRecording: the file exists, growing, from recording
        // start, and its location is announced then (see `crate::stream`).
        tokio::time::sleep(st.scaled(plan.lead_in_s)).await;
        let rec = store_recording(&st, &script, samples, &faults, true).await;
        let n = stream::early_notification(
            &ctx.call_id,
            &ctx.op_id,
            ctx.flavor,
            ctx.client_context.clone(),
            &recording_location(&st, &faults, &rec.0),
            &rec.1,
        );
        let (st2, callback, faults2) = (st.clone(), ctx.callback.clone(), faults.clone());
        // Delivered aside, so a slow webhook does not shift the timeline.
        tokio::spawn(async move {
            st2.deliver_as(Signature::of(&faults2), &callback, &batch(vec![n], true))
                .await;
        });
        tokio::time::sleep(st.scaled(plan.total_s - plan.lead_in_s)).await;
        Some(rec)
    } else {
        tokio::time::sleep(st.scaled(plan.total_s)).await;
        None
    };
    let still_running = {
        let calls = lock(&st.inner.calls);
        calls
            .get(&norm(&ctx.call_id))
            .and_then(|c| c.operations.get(&norm(&ctx.op_id)))
            .is_some_and(|o| o.running)
    };
    if !still_running {
        return None;
    }
    let (reason, recorded) = match plan.outcome {
        Outcome::HungUp { .. } => {
            // The caller hung up: the operation never completes and no
            // notification is sent (a known field report).
            if let Some(c) = lock(&st.inner.calls).get_mut(&norm(&ctx.call_id)) {
                c.ended = true;
            }
            return None;
        }
        Outcome::Completed { reason, recorded } => (reason, recorded),
    };
    let recording = match early {
        Some(rec) => Some(rec),
        None if recorded > 0 => Some(store_recording(&st, &script, recorded, &faults, false).await),
        None => None,
    };
    let reported = faults.lie_completion_reason.unwrap_or(reason);
    let location = recording
        .as_ref()
        .map(|(id, t)| (recording_location(&st, &faults, id), t.clone()));
    let mut data = completed_resource(
        ctx.flavor,
        &ctx.call_id,
        &ctx.op_id,
        ctx.client_context.clone(),
        reported,
        location,
    );
    if faults.pascal_case_status {
        // The schema's spelling, which some payloads use.
        data["status"] = json!(if reported.code() == 200 {
            "Completed"
        } else {
            "Failed"
        });
    }
    {
        let mut calls = lock(&st.inner.calls);
        if let Some(c) = calls.get_mut(&norm(&ctx.call_id)) {
            if let Some((rid, _)) = &recording {
                c.recordings.push(rid.clone());
            }
            if let Some(op) = c.operations.get_mut(&norm(&ctx.op_id)) {
                op.running = false;
                op.body = data.clone();
                op.recording = recording.as_ref().map(|(rid, _)| rid.clone());
            }
        }
    }
    if let Some((rid, _)) = &recording {
        start_discard_timers(&st, std::slice::from_ref(rid), Some(&faults));
    }
    if faults.completed_in_response {
        return Some(data);
    }
    let issuer = Signature::of(&faults);
    let legacy = ctx.flavor.is_legacy();
    let completion = operation_notification(ctx.flavor, &ctx.call_id, &ctx.op_id, data);
    if faults.interleave_unrelated {
        let prompt_op = uuid::Uuid::new_v4().to_string();
        let prompt = CommsNotification {
            odata_type: Some("#microsoft.graph.commsNotification"),
            change_type: "deleted",
            resource_url: Some(Flavor::V1.operation_path(&ctx.call_id, &prompt_op)),
            resource: None,
            // Same clientContext on purpose: a client must pair by type and
            // operation id, not by clientContext alone.
            resource_data: json!({
                "@odata.type": "#microsoft.graph.playPromptOperation",
                "id": prompt_op,
                "status": "completed",
                "clientContext": ctx.client_context,
                "resultInfo": {"@odata.type": "#microsoft.graph.resultInfo", "code": 200, "subcode": 0, "message": "Action completed."},
            }),
        };
        st.deliver_as(issuer, &ctx.callback, &batch(vec![prompt], false))
            .await;
        let mut value = vec![call_state_notification(&ctx.call_id, "established")];
        if !faults.suppress_completion {
            value.push(completion.clone());
        }
        st.deliver_as(issuer, &ctx.callback, &batch(value, false))
            .await;
        st.deliver_as(
            issuer,
            &ctx.callback,
            &batch(
                vec![call_state_notification(&ctx.call_id, "established")],
                false,
            ),
        )
        .await;
    } else if !faults.suppress_completion {
        st.deliver_as(
            issuer,
            &ctx.callback,
            &batch(vec![completion.clone()], legacy),
        )
        .await;
    }
    if faults.duplicate_completion && !faults.suppress_completion {
        st.deliver_as(issuer, &ctx.callback, &batch(vec![completion], legacy))
            .await;
    }
    None
}

pub(crate) async fn get_operation(
    State(st): State<EmulatorState>,
    Path((id, op)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    let o = c.operations.get(&norm(&op)).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "8522",
            format!("Operation {op} of call {id} was not found."),
        )
    })?;
    Ok(Json(o.body.clone()).into_response())
}

/// `GET .../calls/{id}/operations`: the call's operations as they are now.
pub(crate) async fn list_operations(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let calls = lock(&st.inner.calls);
    let c = calls.get(&norm(&id)).ok_or_else(|| call_not_found(&id))?;
    let value: Vec<Value> = c.operations.values().map(|o| o.body.clone()).collect();
    Ok(Json(json!({ "value": value })).into_response())
}

pub(crate) async fn update_recording_status(
    State(st): State<EmulatorState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    st.gate(&headers, Some(&id))?;
    let req: UpdateRecordingStatusRequest = parse_json(&body, "updateRecordingStatus")?;
    check_client_context(req.client_context.as_deref())?;
    let status = match req
        .status
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("notrecording") => "notRecording",
        Some("recording") => "recording",
        Some("failed") => "failed",
        other => {
            return Err(ApiError::bad_request(format!(
                "updateRecordingStatus: status must be notRecording, recording or failed, got {}",
                other.map_or("nothing".to_string(), |s| format!("{s:?}"))
            )))
        }
    };
    let flavor = if uri.path().contains("/app/calls/") {
        Flavor::AppPath {
            beta: uri.path().starts_with("/beta/"),
        }
    } else if uri.path().starts_with("/beta/") {
        Flavor::Beta
    } else {
        Flavor::V1
    };
    let op_id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "@odata.type": "#microsoft.graph.updateRecordingStatusOperation",
        "clientContext": req.client_context,
        "id": op_id,
        "resultInfo": null,
        "status": "completed",
    });
    let call_id = {
        let mut calls = lock(&st.inner.calls);
        let c = calls
            .get_mut(&norm(&id))
            .ok_or_else(|| call_not_found(&id))?;
        c.recording_status.push(status.to_string());
        c.operations.insert(
            norm(&op_id),
            OpEntry {
                kind: "updateRecordingStatus",
                flavor,
                client_context: req.client_context.clone(),
                running: false,
                body: body.clone(),
                recording: None,
            },
        );
        c.id.clone()
    };
    Ok((
        StatusCode::OK,
        [(
            header::LOCATION,
            location(&st.inner.config.base_url, flavor, &call_id, &op_id),
        )],
        Json(body),
    )
        .into_response())
}

//! The record flow through the API: a recordResponse placed with an
//! Idempotency-Key (and retried: one operation in the emulator's log),
//! followed to `completed`; its report, audio and trimmed copy served
//! (Range: 206 with the right bytes); deletion removes the files and
//! writes the audit line; an operation another bot placed, handed over with
//! `POST /v1/recordings`; `/metrics` and `/openapi.json`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::GraphVersion;

use crate::harness::{every_route, stop_tone_caller, Harness};

fn record_body() -> Value {
    json!({
        "stopTones": ["#"],
        "maxSilenceTimeoutInSeconds": 2,
        "clientContext": "svc-flow-1",
    })
}

fn record_response_posts(h: &Harness) -> usize {
    h.setup
        .emulator
        .state
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/recordResponse"))
        .count()
}

#[tokio::test]
async fn a_recording_through_the_api_completes_once_and_its_audio_is_served() {
    let h = Harness::start().await;
    let call = h
        .setup
        .create_call(Some(&stop_tone_caller()))
        .await
        .unwrap();
    let path = format!("/v1/calls/{call}/recordResponse");
    let post = || {
        h.req(Method::POST, &path)
            .header("idempotency-key", "flow-key-1")
            .json(&record_body())
    };
    let first = post().send().await.unwrap();
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].to_str().unwrap().to_string();
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["status"], "running");
    assert_eq!(first["callId"], json!(call));
    assert_eq!(first["clientContext"], "svc-flow-1");
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/recordings/{id}"));
    // A retry with the same key and body: the first answer, nothing placed again.
    let again = post().send().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // The same key with another body is refused.
    let other = h
        .req(Method::POST, &path)
        .header("idempotency-key", "flow-key-1")
        .json(&json!({"stopTones": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 422);

    let done = h.wait_final(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["operation"]["completionReason"], "stopToneDetected");
    assert_eq!(done["report"]["completion"]["reported"], "stopToneDetected");
    assert!(done["report"]["provenance"]["sha256"].is_string(), "{done}");
    assert_eq!(
        done["links"]["audio"],
        json!(format!("/v1/recordings/{id}/audio"))
    );
    assert_eq!(done["callbackUrl"], Value::Null);
    // The retries placed nothing: one recordResponse in the emulator's log.
    let again = post().send().await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(record_response_posts(&h), 1);

    // The audio, whole and by range.
    let audio = h
        .req(Method::GET, &format!("/v1/recordings/{id}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert_eq!(audio.headers()["content-type"], "audio/wav");
    assert_eq!(audio.headers()["accept-ranges"], "bytes");
    let whole = audio.bytes().await.unwrap();
    assert_eq!(&whole[..4], b"RIFF");
    let stem = done["operation"]["id"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_lowercase();
    let on_disk = std::fs::read(h.dir.path().join(format!("{stem}.wav"))).unwrap();
    assert_eq!(whole.as_ref(), on_disk.as_slice());
    let part = h
        .req(Method::GET, &format!("/v1/recordings/{id}/audio"))
        .header("range", "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-1099/{}", on_disk.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &on_disk[100..1100]);
    let outside = h
        .req(Method::GET, &format!("/v1/recordings/{id}/audio"))
        .header("range", format!("bytes={}-", on_disk.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 416);
    let trimmed = h
        .req(Method::GET, &format!("/v1/recordings/{id}/trimmed"))
        .send()
        .await
        .unwrap();
    assert_eq!(trimmed.status(), 200);
    let trimmed = trimmed.bytes().await.unwrap();
    assert!(trimmed.len() < whole.len() && &trimmed[..4] == b"RIFF");

    // Metrics count what happened.
    let text = h
        .req(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("voxcap_recordings{status=\"completed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("voxcap_recordings_finished_total{status=\"completed\"} 1"),
        "{text}"
    );
    assert!(text.contains("voxcap_idempotent_replays_total 2"), "{text}");
    assert!(
        text.contains(
            "voxcap_api_requests_total{route=\"/v1/calls/{callId}/recordResponse\",method=\"POST\",status=\"202\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains("voxcap_download_bytes_count 1"), "{text}");

    // Delete: every file and the record go, one audit line says why.
    let del = h
        .req(Method::DELETE, &format!("/v1/recordings/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 204);
    let left: Vec<_> = std::fs::read_dir(h.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(&stem))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let trail = std::fs::read_to_string(h.dir.path().join("audit.ndjson")).unwrap();
    let deleted: Vec<&str> = trail
        .lines()
        .filter(|l| l.contains("\"deleted\""))
        .collect();
    assert_eq!(deleted.len(), 1, "{trail}");
    assert!(
        deleted[0].contains("\"reason\":\"api\"") && deleted[0].contains(&stem),
        "{trail}"
    );
    assert!(trail.contains("\"read\""), "reads are audited: {trail}");
    let (status, body) = h.get_json(&format!("/v1/recordings/{id}")).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("/problems/not-found"))
    );
    h.stop().await;
}

/// A receiver standing in for another bot's webhook: keeps each body.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(v);
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

#[tokio::test]
async fn an_operation_another_bot_placed_is_downloaded_analysed_and_stored() {
    let h = Harness::start().await;
    let (url, seen) = receiver().await;
    let call = h
        .setup
        .create_call_to(&url, Some(&stop_tone_caller()))
        .await
        .unwrap();
    let request = RecordResponseRequest {
        stop_tones: vec!["#".into()],
        client_context: Some("their-bot-1".into()),
        ..RecordResponseRequest::default()
    };
    // The other bot places the operation itself...
    h.setup
        .bot
        .client()
        .record_response(&call, &request, GraphVersion::V1)
        .await
        .unwrap();
    // ...and its webhook receives the completion.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let operation = loop {
        let found = seen.lock().unwrap().iter().find_map(|batch| {
            batch["value"].as_array()?.iter().find_map(|n| {
                let r = &n["resourceData"];
                (r["status"] == "completed" && r["recordingLocation"].is_string())
                    .then(|| r.clone())
            })
        });
        if let Some(op) = found {
            break op;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no completion reached the receiver"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let body = json!({
        "callId": call,
        "recordOperation": operation,
        "settings": {"stopTones": ["#"]},
    });
    let posted = h
        .req(Method::POST, "/v1/recordings")
        .header("idempotency-key", "ext-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    let posted: Value = posted.json().await.unwrap();
    assert_eq!(posted["source"], "external");
    let id = posted["id"].as_str().unwrap();
    let done = h.wait_final(id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["report"]["completion"]["reported"], "stopToneDetected");
    assert_eq!(done["clientContext"], "their-bot-1");
    // Retried: the first answer, no second download.
    let again = h
        .req(Method::POST, "/v1/recordings")
        .header("idempotency-key", "ext-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.json::<Value>().await.unwrap(), posted);
    let counts = h.setup.emulator.state.download_counts();
    let total: u64 = counts.values().map(|c| c.from_start + c.resumed).sum();
    assert_eq!(total, 1, "{counts:?}");
    let audio = h
        .req(Method::GET, &format!("/v1/recordings/{id}/audio"))
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    // The token never shows in the resource.
    let token = operation["recordingAccessToken"].as_str().unwrap();
    assert!(!done.to_string().contains(token));
    h.stop().await;
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_the_bearer_scheme() {
    let h = Harness::start().await;
    let (status, doc) = h.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    let id = "{id}";
    for (method, path) in every_route(id)
        .into_iter()
        .filter(|(_, p)| p != "/no/such/route")
    {
        let path = path.replace("call-1", "{callId}");
        let op = &doc["paths"][&path][method.as_str().to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not in the document");
        assert!(
            op["responses"]["401"].is_object(),
            "{method} {path}: no 401"
        );
    }
    // And nothing the router does not serve.
    let paths = doc["paths"].as_object().unwrap();
    let ops: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(
        ops,
        every_route(id).len() - 1,
        "{}",
        serde_json::to_string_pretty(paths).unwrap()
    );
    for schema in [
        "Recording",
        "RecordResponseBody",
        "ExternalRecordingBody",
        "Problem",
        "RecordingPage",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
    h.stop().await;
}

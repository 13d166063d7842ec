//! Record requests: validation, the seed bodies of every surface, the
//! deprecated and legacy forms, updateRecordingStatus, the completion-reason
//! table, call deletion and scenario selection.

use std::time::Duration;

use serde_json::{json, Value};
use voxcap_emulator::Scenario;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_record_requests_get_graph_400s() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let base = record_body(5, 5, 5, "ctx");
    let with = |ptr: &str, v: Value| {
        let mut b = base.clone();
        *b.pointer_mut(ptr).unwrap() = v;
        b
    };
    let two_prompts = {
        let mut b = base.clone();
        let p = b["prompts"][0].clone();
        b["prompts"] = json!([p.clone(), p]);
        b
    };
    let cases = [
        (
            "initial 0",
            with("/initialSilenceTimeoutInSeconds", json!(0)),
            "initialSilenceTimeoutInSeconds",
        ),
        (
            "initial 121",
            with("/initialSilenceTimeoutInSeconds", json!(121)),
            "initialSilenceTimeoutInSeconds",
        ),
        (
            "max silence 0",
            with("/maxSilenceTimeoutInSeconds", json!(0)),
            "maxSilenceTimeoutInSeconds",
        ),
        (
            "max duration 121",
            with("/maxRecordDurationInSeconds", json!(121)),
            "maxRecordDurationInSeconds",
        ),
        ("two prompts", two_prompts, "prompts"),
        (
            "no prompt uri",
            with("/prompts/0/mediaInfo/uri", json!("")),
            "mediaInfo.uri",
        ),
        (
            "context 257",
            with("/clientContext", json!("x".repeat(257))),
            "clientContext",
        ),
        (
            "stop tone X",
            with("/stopTones", json!(["X"])),
            "stopTones[0]",
        ),
        (
            "stop tone 11 (strict outside legacy)",
            with("/stopTones", json!(["#", "11"])),
            "stopTones[1]",
        ),
        ("not JSON", json!("{"), "recordResponse"),
    ];
    for (label, body, names) in cases {
        let r = h
            .post(
                &format!("/v1.0/communications/calls/{call}/recordResponse"),
                &body,
            )
            .await;
        assert_eq!(r.status(), 400, "case {label}");
        assert!(r.headers().contains_key("request-id"), "case {label}");
        let v: Value = r.json().await.unwrap();
        let e = &v["error"];
        assert_eq!(e["code"], "BadRequest", "case {label}");
        assert!(
            e["message"].as_str().unwrap().contains(names),
            "case {label}: {e}"
        );
        assert!(e["innerError"]["request-id"].is_string(), "case {label}");
        assert!(
            e["innerError"]["date"].as_str().unwrap().ends_with('Z'),
            "case {label}"
        );
    }
    // 256 characters is still fine, and "a" is the DTMF key A.
    let ok = with("/clientContext", json!("y".repeat(256)));
    let mut ok = ok;
    ok["stopTones"] = json!(["a", "#"]);
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            &ok,
        )
        .await;
    assert_eq!(r.status(), 200);
}

const SEED_V1: &str = r##"{
  "bargeInAllowed": true,
  "clientContext": "d45324c1-fcb5-430a-902c-f20af696537c",
  "prompts": [
    {
      "@odata.type": "#microsoft.graph.mediaPrompt",
      "mediaInfo": {
        "uri": "https://cdn.contoso.com/beep.wav",
        "resourceId": "1D6DE2D4-CD51-4309-8DAA-70768651088E"
      }
    }
  ],
  "maxRecordDurationInSeconds": 10,
  "initialSilenceTimeoutInSeconds": 5,
  "maxSilenceTimeoutInSeconds": 2,
  "playBeep": true,
  "stopTones": [ "#", "1", "*" ]
}"##;

const SEED_LEGACY: &str = r##"{
  "bargeInAllowed": true,
  "clientContext": "d45324c1-fcb5-430a-902c-f20af696537c",
  "prompts": [
    {
      "@odata.type": "#microsoft.graph.silencePrompt",
      "duration": 5000
    },
    {
      "@odata.type": "#microsoft.graph.mediaPrompt",
      "mediaInfo": {
        "uri": "https://cdn.contoso.com/beep.wav",
        "resourceid": "1D6DE2D4-CD51-4309-8DAA-70768651088E",
      },
      "loop": 5
    }
  ],
  "maxRecordDurationInSeconds": 1800,
  "initialSilenceTimeoutInSeconds": 10,
  "maxSilenceTimeoutInSeconds": 2,
  "recordingFormat": "wav",
  "playBeep": true,
  "streamWhileRecording": true,
  "stopTones": [ "#", "11", "*" ],
}"##;

async fn post_raw(h: &Harness, path: &str, body: &str) -> reqwest::Response {
    h.http
        .post(h.url(path))
        .bearer_auth(&h.token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_v1_and_beta_bodies_are_accepted_verbatim() {
    let h = Harness::start().await;
    for version in ["v1.0", "beta"] {
        let call = h.create_call(None).await;
        let r = post_raw(
            &h,
            &format!("/{version}/communications/calls/{call}/recordResponse"),
            SEED_V1,
        )
        .await;
        assert_eq!(r.status(), 200, "{version}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        let op = v["id"].as_str().unwrap();
        assert_eq!(
            loc,
            h.url(&format!(
                "/{version}/communications/calls/{call}/operations/{op}"
            ))
        );
        assert_eq!(v["@odata.type"], "#microsoft.graph.recordOperation");
        assert_eq!(v["status"], "running");
        assert!(v["resultInfo"].is_null() && v["recordingLocation"].is_null());
        assert_eq!(v["clientContext"], "d45324c1-fcb5-430a-902c-f20af696537c");
        // Beta adds completionReason: null; v1.0 has no such field.
        let has_reason = v.as_object().unwrap().contains_key("completionReason");
        assert_eq!(has_reason, version == "beta", "{version}");

        let n = h.completion(op).await;
        // Resource paths use upper-case dashless ids; resourceData.id does not.
        let path = n["resourceUrl"].as_str().unwrap();
        assert_eq!(
            path,
            format!(
                "/communications/calls/{}/operations/{}",
                norm(&call),
                norm(op)
            )
        );
        let d = &n["resourceData"];
        assert_eq!(d["id"], op);
        assert_eq!(d["@odata.id"], path);
        assert_eq!(d["status"], "completed");
        assert_eq!(d["resultInfo"]["subcode"], 8509);
        assert!(d["recordingLocation"].as_str().unwrap().starts_with("http"));
        assert!(d["recordingAccessToken"].is_string());
        if version == "beta" {
            assert_eq!(d["completionReason"], "maxSilenceTimeout");
        } else {
            assert!(d.get("completionReason").is_none());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_legacy_record_body_with_trailing_commas_is_accepted_on_both_paths() {
    let h = Harness::start().await;
    let stop = Scenario {
        steps: vec![
            voxcap_emulator::Step::Voice {
                ms: 500,
                pitch_hz: 150.0,
                level_dbfs: -20.0,
            },
            // "11" in the seed's stopTones makes 1 a stop tone.
            voxcap_emulator::Step::Press {
                digit: '1',
                ms: 100,
                level_dbfs: -10.0,
            },
        ],
        ..Scenario::default()
    };
    for path in [
        "/beta/app/calls/{id}/record",
        "/beta/applications/app-1/calls/{id}/record",
    ] {
        let call = h.call_with(&stop).await;
        let r = post_raw(&h, &path.replace("{id}", &call), SEED_LEGACY).await;
        assert_eq!(r.status(), 202, "{path}");
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let v: Value = r.json().await.unwrap();
        let op = v["id"].as_str().unwrap().to_string();
        assert!(
            loc.ends_with(&format!("/beta/app/calls/{call}/operations/{op}")),
            "{loc}"
        );
        assert_eq!(v["status"], "running");
        assert!(v["createdDateTime"].is_string() && v["lastActionDateTime"].is_string());
        let n = h.completion(&op).await;
        assert!(n.get("resourceUrl").is_none(), "legacy uses `resource`");
        assert_eq!(
            n["resource"],
            format!("/app/calls/{}/operations/{}", norm(&call), norm(&op))
        );
        let d = &n["resourceData"];
        assert_eq!(d["completionReason"], "stopToneDetected");
        assert!(d["recordResourceLocation"].is_string());
        assert!(d["recordResourceAccessToken"].is_string());
        assert!(d.get("recordingLocation").is_none());
        let got = h
            .download(
                d["recordResourceLocation"].as_str().unwrap(),
                d["recordResourceAccessToken"].as_str().unwrap(),
            )
            .await;
        assert_eq!(got.status(), 200);
    }
    // The lenient pre-pass is for the legacy action only.
    let call = h.create_call(None).await;
    let r = post_raw(
        &h,
        &format!("/beta/communications/calls/{call}/recordResponse"),
        "{\"clientContext\": \"x\",}",
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_app_path_record_response_works() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let r = post_raw(
        &h,
        &format!("/beta/app/calls/{call}/recordResponse"),
        SEED_V1,
    )
    .await;
    assert_eq!(r.status(), 200);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("/beta/app/calls/"), "{loc}");
    let v: Value = r.json().await.unwrap();
    assert!(v["completionReason"].is_null());
    let n = h.completion(v["id"].as_str().unwrap()).await;
    assert!(n["resourceUrl"]
        .as_str()
        .unwrap()
        .starts_with("/app/calls/"));
    // The operation can be read back at its Location.
    let got: Value = h
        .http
        .get(&loc)
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_recording_status_returns_a_completed_operation() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    for status in ["recording", "notRecording", "failed"] {
        let r = h
            .post(
                &format!("/v1.0/communications/calls/{call}/updateRecordingStatus"),
                &json!({"clientContext": "c-1", "status": status}),
            )
            .await;
        assert_eq!(r.status(), 200, "{status}");
        assert!(r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/operations/"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["@odata.type"],
            "#microsoft.graph.updateRecordingStatusOperation"
        );
        assert_eq!(v["status"], "completed");
        assert!(v["resultInfo"].is_null());
        assert_eq!(v["clientContext"], "c-1");
    }
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/updateRecordingStatus"),
            &json!({"clientContext": "c-1", "status": "notRecording | recording | failed"}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let seen: Value = h
        .http
        .get(h.url(&format!("/_emulator/calls/{call}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let got: Value = h
        .http
        .get(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], call.as_str());
    assert_eq!(got["callbackUri"], h.callback.as_str());
    assert_eq!(
        seen["recordingStatus"],
        json!(["recording", "notRecording", "failed"])
    );
}

/// (completionReason, subcode, status) of a completed operation.
type Expected = (&'static str, u32, &'static str);

/// The emulator's completion reason for every committed scenario.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completion_reason_table() {
    let h = Harness::start().await;
    // (scenario, expected reason or None for no notification, subcode, status, recording seconds)
    let table: [(&str, Option<Expected>, Option<f64>); 8] = [
        (
            "stop_tone_hash",
            Some(("stopToneDetected", 8514, "completed")),
            Some(2.18),
        ),
        (
            "talk_past_max_duration",
            Some(("maxRecordDurationReached", 8515, "completed")),
            Some(10.0),
        ),
        (
            "silent_caller",
            Some(("initialSilenceTimeout", 8510, "failed")),
            Some(3.0),
        ),
        (
            "answer_then_silence",
            Some(("maxSilenceTimeout", 8509, "completed")),
            Some(5.2777),
        ),
        ("hangup_mid_answer", None, None),
        (
            "prompt_fails",
            Some(("playPromptFailed", 8511, "failed")),
            None,
        ),
        (
            "noisy_answer_then_star",
            Some(("stopToneDetected", 8514, "completed")),
            Some(3.47),
        ),
        (
            "pause_inside_answer",
            Some(("maxSilenceTimeout", 8509, "completed")),
            Some(5.4),
        ),
    ];
    for (name, want, seconds) in table {
        let call = h.call_with(&scenario_file(name)).await;
        let body = record_body(3, 2, 10, name);
        let r = h
            .post(
                &format!("/beta/communications/calls/{call}/recordResponse"),
                &body,
            )
            .await;
        assert_eq!(r.status(), 200, "{name}");
        let op = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let Some((reason, subcode, status)) = want else {
            // Hang-up: no completion, even long after the scenario's end.
            let n = h.completion_within(&op, Duration::from_millis(800)).await;
            assert!(n.is_none(), "{name}: unexpected notification {n:?}");
            continue;
        };
        let n = h.completion(&op).await;
        let d = &n["resourceData"];
        assert_eq!(d["completionReason"], reason, "{name}");
        assert_eq!(d["resultInfo"]["subcode"], subcode, "{name}");
        assert_eq!(d["status"], status, "{name}");
        assert_eq!(d["clientContext"], name);
        match seconds {
            None => assert!(
                d["recordingLocation"].is_null(),
                "{name}: no recording expected"
            ),
            Some(s) => {
                let r = h
                    .download(
                        d["recordingLocation"].as_str().unwrap(),
                        d["recordingAccessToken"].as_str().unwrap(),
                    )
                    .await;
                assert_eq!(r.status(), 200, "{name}");
                let got = wav_seconds(&r.bytes().await.unwrap());
                assert!(
                    (got - s).abs() < 0.002,
                    "{name}: recording {got} s, want {s} s"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_call_cancels_a_running_recording_with_empty_location() {
    // Slow time so the recording is still running when the call is deleted.
    let h = Harness::with(|c| c.time_scale = 1.0).await;
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 5, 5, "cancel")).await;
    let r = h
        .http
        .delete(h.url(&format!("/v1.0/communications/calls/{call}")))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    assert_eq!(d["resultInfo"]["subcode"], 8508);
    assert_eq!(d["status"], "failed");
    assert_eq!(d["recordingLocation"], "");
    assert_eq!(d["recordingAccessToken"], "");
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            &record_body(5, 5, 5, "x"),
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_by_header_name_and_inline_json() {
    let h = Harness::start().await;
    let sc = scenario_file("silent_caller");
    let r = h
        .http
        .put(h.url("/_emulator/scenarios/quiet"))
        .json(&sc)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let call = h.create_call(None).await;
    for spec in ["quiet".to_string(), serde_json::to_string(&sc).unwrap()] {
        let r = h
            .http
            .post(h.url(&format!("/beta/communications/calls/{call}/recordResponse")))
            .bearer_auth(&h.token)
            .header("x-voxcap-scenario", spec)
            .json(&record_body(2, 2, 5, "h"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let op = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let n = h.completion(&op).await;
        assert_eq!(
            n["resourceData"]["completionReason"],
            "initialSilenceTimeout"
        );
    }
    let r = h
        .http
        .post(h.url(&format!("/beta/communications/calls/{call}/recordResponse")))
        .bearer_auth(&h.token)
        .header("x-voxcap-scenario", "no-such-scenario")
        .json(&record_body(2, 2, 5, "h"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A scenario naming a missing WAV is refused at call creation, naming the file.
    let r = h
        .post(
            "/v1.0/communications/calls",
            &json!({"callbackUri": h.callback, "voxcapScenario": {"steps": [{"type": "speak", "wav": "missing/nope.wav"}]}}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("nope.wav"));
}

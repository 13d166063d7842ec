//! A request's own trim pads and retention (`voxcap.trim`,
//! `voxcap.retentionSeconds`): the trimmed copy follows the pads asked
//! for; a recording whose retention has passed loses its files and its
//! record (one audit line, reason `retention`) while another is kept; a
//! retention longer than the deployment's, a pad out of range or an
//! unknown field is refused before anything is placed.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Harness;

/// Speech, then 2 s of room before `#`: room for any end pad.
fn caller() -> Value {
    json!({
        "name": "service_pads",
        "seed": 23,
        "steps": [
            {"type": "pause", "ms": 600},
            {"type": "voice", "ms": 1200},
            {"type": "pause", "ms": 2000},
            {"type": "press", "digit": "#", "ms": 120},
            {"type": "silence"}
        ]
    })
}

fn trim_of(v: &Value) -> (f64, f64) {
    let t = &v["report"]["trim"];
    (
        t["start_s"].as_f64().unwrap_or_else(|| panic!("{v}")),
        t["end_s"].as_f64().unwrap_or_else(|| panic!("{v}")),
    )
}

async fn record(h: &Harness, voxcap: Value) -> Value {
    let call = h.setup.create_call(Some(&caller())).await.unwrap();
    let r = h
        .req(Method::POST, &format!("/v1/calls/{call}/recordResponse"))
        .json(&json!({"stopTones": ["#"], "maxSilenceTimeoutInSeconds": 3, "voxcap": voxcap}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 202, "{v}");
    h.wait_final(v["id"].as_str().unwrap()).await
}

fn files_of(h: &Harness, stem: &str) -> Vec<String> {
    std::fs::read_dir(h.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(stem))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requests_pads_shape_its_trim_and_its_retention_deletes_it() {
    let h = Harness::start_configured(
        |bot| bot.stewardship.retain = Some(Duration::from_secs(86_400)),
        |service| service.retention_sweep = Duration::from_millis(100),
    )
    .await;
    // The same caller (seeded) with the default pads, and with none before
    // the speech and a second after it.
    let default = record(&h, json!({})).await;
    let padded = record(
        &h,
        json!({"trim": {"padStartMs": 0, "padEndMs": 1000}, "retentionSeconds": 2}),
    )
    .await;
    assert_eq!(default["status"], "completed", "{default}");
    assert_eq!(padded["status"], "completed", "{padded}");
    let (d0, d1) = trim_of(&default);
    let (p0, p1) = trim_of(&padded);
    // 150 ms less before (to the speech itself), at least 200 ms more after
    // (a followed decay shortens an end pad, to half at least).
    assert!((p0 - d0 - 0.150).abs() < 0.025, "start {d0} -> {p0}");
    assert!(p1 - d1 >= 0.195, "end {d1} -> {p1}");
    println!("trim: default {d0:.3}-{d1:.3} s, padStartMs 0 / padEndMs 1000 {p0:.3}-{p1:.3} s");
    // The two analyses were made under different settings, and say so.
    assert_ne!(
        default["report"]["provenance"]["settingsSha256"],
        padded["report"]["provenance"]["settingsSha256"]
    );
    // The default is kept; the other carries its expiry, then goes.
    assert_eq!(default["expiresAt"], Value::Null, "{default}");
    let expires = padded["expiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{padded}"));
    assert!(expires > padded["updatedAt"].as_str().unwrap(), "{padded}");
    let id = padded["id"].as_str().unwrap();
    let stem = padded["report"]["operation"]["id"]
        .as_str()
        .unwrap()
        .replace('-', "")
        .to_ascii_lowercase();
    assert!(!files_of(&h, &stem).is_empty(), "no files for {stem}");
    let ended = Instant::now();
    let gone = loop {
        let (status, _) = h.get_json(&format!("/v1/recordings/{id}")).await;
        if status == 404 {
            break ended.elapsed();
        }
        assert_eq!(status, 200);
        assert!(
            ended.elapsed() < Duration::from_secs(15),
            "not deleted after its 2 s retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        gone >= Duration::from_millis(1500),
        "deleted early: {gone:?}"
    );
    println!(
        "retentionSeconds 2: gone {:.2} s after the final status was read",
        gone.as_secs_f64()
    );
    assert!(files_of(&h, &stem).is_empty(), "{:?}", files_of(&h, &stem));
    let trail = std::fs::read_to_string(h.dir.path().join("audit.ndjson")).unwrap();
    let deleted: Vec<&str> = trail
        .lines()
        .filter(|l| l.contains("\"deleted\""))
        .collect();
    assert_eq!(deleted.len(), 1, "{trail}");
    assert!(
        deleted[0].contains("\"reason\":\"retention\"") && deleted[0].contains(&stem),
        "{trail}"
    );
    let (_, text) = h.get_text("/metrics").await;
    assert!(text.contains("voxcap_recordings_expired_total 1"), "{text}");
    // The recording without its own retention is still there, and its files.
    let (status, _) = h
        .get_json(&format!(
            "/v1/recordings/{}",
            default["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    h.stop().await;
}

#[tokio::test]
async fn pads_and_retentions_out_of_range_are_refused_before_anything_is_placed() {
    let h = Harness::start_configured(
        |bot| bot.stewardship.retain = Some(Duration::from_secs(3600)),
        |_| {},
    )
    .await;
    let cases = [
        (json!({"retentionSeconds": 0}), "voxcap.retentionSeconds"),
        (json!({"retentionSeconds": 3601}), "--retain-days"),
        (json!({"retentionSeconds": 1.5}), "retentionSeconds"),
        (json!({"retentionSeconds": "60"}), "retentionSeconds"),
        (json!({"trim": {"padEndMs": 5001}}), "voxcap.trim.padEndMs"),
        (json!({"trim": {"padStartMs": -1}}), "padStartMs"),
        (json!({"trim": {"padStart": 10}}), "padStart"),
        (json!({"trim": [0, 300]}), "expected an object"),
    ];
    for (voxcap, says) in cases {
        let r = h
            .req(Method::POST, "/v1/calls/call-1/recordResponse")
            .json(&json!({"voxcap": voxcap}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_eq!(status, 422, "{voxcap}: {v}");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains(says), "{voxcap}: {detail}");
    }
    // The same checks for an operation another bot placed.
    let r = h
        .req(Method::POST, "/v1/recordings")
        .json(&json!({
            "callId": "call-1",
            "recordOperation": {
                "id": "0fe9a1f5-54d4-4aef-bf8b-38bc1a1b6a3d",
                "status": "completed",
                "recordingLocation": "http://127.0.0.1:1/r.wav",
            },
            "voxcap": {"retentionSeconds": 7200},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let placed = h
        .setup
        .emulator
        .state
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(placed, 0, "a refused request placed something");
    h.stop().await;
}

//! `voxcap record`, `voxcap demo` and `voxcap emulate` as processes, against
//! an in-process `voxcap-emulator`: files and report, exit codes 2, 3 and 4.
//! (The library's end-to-end tests are in crates/bot/tests/bot/e2e.rs.)
//!
//! Every bot here validates notification JWTs for real (audience = the
//! emulator's app id, keys from its OpenID configuration).

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_testkit::emulated::emulator_config;
use voxcap_testkit::{free_port, ChildGuard};

use crate::bot_shared::stop_tone_caller;
use crate::harness::{graph_flags, voxcap_env};

// ---- harness ----------------------------------------------------------------

pub(crate) async fn setup() -> EmulatedSetup {
    EmulatedSetup::start(emulator_config()).await.unwrap()
}

// ---- the binary -----------------------------------------------------------------

/// `voxcap record` flags for a call on `s`'s emulator, webhook on `port`.
pub(crate) fn record_args(s: &EmulatedSetup, call: &str, port: u16, out: &Path) -> Vec<String> {
    let mut args = ["record", "--call-id", call].map(String::from).to_vec();
    args.extend(graph_flags(&s.emulator, "VOXCAP_E2E_SECRET", port));
    args.extend(["--stop-tones", "#", "--out", &out.display().to_string()].map(String::from));
    args
}

/// Runs `voxcap args...` with the client secret on a blocking thread, so
/// the in-process emulator keeps running; returns the output and how long
/// it took.
async fn record_off_runtime(args: Vec<String>) -> (Output, Duration) {
    tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        voxcap_env(&a, &[SECRET_ENV])
    })
    .await
    .unwrap()
}

pub(crate) const SECRET_ENV: (&str, &str) = (
    "VOXCAP_E2E_SECRET",
    voxcap_emulator::server::TEST_CLIENT_SECRET,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_command_writes_three_files_and_prints_the_report() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cb = format!("http://127.0.0.1:{port}/api/calls");
    let call = s
        .create_call_to(&cb, Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let args = record_args(&s, &call, port, dir.path());
    let (out, _) = record_off_runtime(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = printed["operation"]["id"]
        .as_str()
        .unwrap()
        .replace('-', ""); // file stem
    assert_eq!(
        printed["operation"]["completion_reason"],
        "stopToneDetected"
    );
    assert_eq!(printed["operation"]["result_info"]["subcode"], 8514);
    assert_eq!(printed["completion"]["verdict"], "consistent");
    for ext in ["wav", "trimmed.wav", "json"] {
        assert!(dir.path().join(format!("{id}.{ext}")).is_file(), "{ext}");
    }
    crate::bot_shared::assert_report_provenance(&printed, Some(dir.path()));
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(format!("{id}.json"))).unwrap())
            .unwrap();
    assert_eq!(on_disk, printed);
}

/// `voxcap record --speech-model` (also `serve`'s, the same flags): a model
/// that cannot be loaded fails before anything is placed (exit 1, naming
/// the file); the real one (VOXCAP_SILERO_MODEL, set by scripts/test) is in
/// the recording's settings hash, which differs from a classical run's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_fuses_the_speech_model_it_is_given() {
    let s = setup().await;
    let model = std::env::var("VOXCAP_SILERO_MODEL").expect(
        "VOXCAP_SILERO_MODEL must name silero_vad.onnx (scripts/speech-set/fetch-silero.sh)",
    );
    let mut hashes = Vec::new();
    for with in [Some("/nonexistent/m.onnx"), Some(model.as_str()), None] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cb = format!("http://127.0.0.1:{port}/api/calls");
        let call = s
            .create_call_to(&cb, Some(&stop_tone_caller(json!({}))))
            .await
            .unwrap();
        let mut args = record_args(&s, &call, port, dir.path());
        if let Some(m) = with {
            args.extend(["--speech-model".to_string(), m.to_string()]);
        }
        let (out, _) = record_off_runtime(args).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if with == Some("/nonexistent/m.onnx") {
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            assert!(
                stderr.contains("speech model /nonexistent/m.onnx"),
                "{stderr}"
            );
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
        let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(printed["completion"]["verdict"], "consistent");
        hashes.push(printed["provenance"]["settingsSha256"].clone());
    }
    assert!(hashes[0].is_string(), "{hashes:?}");
    assert_ne!(hashes[0], hashes[1], "the model is part of the settings");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_while_recording_prints_live_digits_as_ndjson_on_stderr() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cb = format!("http://127.0.0.1:{port}/api/calls");
    let call = s
        .create_call_to(&cb, Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let mut args = record_args(&s, &call, port, dir.path());
    args.extend(["--api", "legacy-record", "--stream-while-recording"].map(String::from));
    let (out, _) = record_off_runtime(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["streamed"], json!(true));
    let events: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let digits: Vec<&Value> = events.iter().filter(|e| e["event"] == "digit").collect();
    assert_eq!(digits.len(), 1, "stderr: {stderr}");
    assert_eq!(digits[0]["digit"], "#");
    assert!(digits[0]["startS"].as_f64().unwrap() > 2.0, "{stderr}");
    assert!(events.iter().any(|e| e["event"] == "progress"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_notification_is_lost_with_exit_4_within_the_deadline() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cb = format!("http://127.0.0.1:{port}/api/calls");
    let call = s
        .create_call_to(
            &cb,
            Some(&stop_tone_caller(json!({"suppress_completion": true}))),
        )
        .await
        .unwrap();
    let mut args = record_args(&s, &call, port, dir.path());
    args.extend(
        [
            "--initial-silence",
            "1",
            "--max-record",
            "1",
            "--deadline-margin",
            "1",
        ]
        .map(String::from),
    );
    let (out, took) = record_off_runtime(args).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr: {stderr}");
    assert!(stderr.contains("lost"), "{stderr}");
    // Deadline: 1 s initial silence + 1 s max record + 1 s margin.
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert!(took < Duration::from_secs(8), "lost took {took:?}");
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["operation"]["status"], "lost");
    let id = printed["operation"]["id"]
        .as_str()
        .unwrap()
        .replace('-', ""); // file stem
    assert!(dir.path().join(format!("{id}.json")).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_failure_exits_3_with_the_report_written() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cb = format!("http://127.0.0.1:{port}/api/calls");
    let silent = json!({"seed": 3, "steps": [{"type": "silence"}]});
    let call = s.create_call_to(&cb, Some(&silent)).await.unwrap();
    let mut args = record_args(&s, &call, port, dir.path());
    args.extend(["--initial-silence", "2"].map(String::from));
    let (out, _) = record_off_runtime(args).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["operation"]["result_info"]["subcode"], 8510);
    let id = printed["operation"]["id"]
        .as_str()
        .unwrap()
        .replace('-', ""); // file stem
    assert!(dir.path().join(format!("{id}.json")).is_file());
}

#[test]
fn record_usage_errors_exit_2() {
    let base = [
        "record",
        "--call-id",
        "c",
        "--token-env",
        "T",
        "--listen",
        "0.0.0.0:0",
        "--no-notification-auth",
        "--out",
        "x",
    ];
    let (out, _) = voxcap_env(&base, &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
    // Neither a token source nor a notification auth mode.
    let (out, _) = voxcap_env(
        &[
            "record",
            "--call-id",
            "c",
            "--listen",
            "127.0.0.1:0",
            "--out",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let (out, _) = voxcap_env(
        &[
            "record",
            "--call-id",
            "c",
            "--token-env",
            "T",
            "--listen",
            "127.0.0.1:0",
            "--no-notification-auth",
            "--max-record",
            "121",
            "--out",
            "x",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn demo_runs_the_whole_flow_and_writes_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo");
    let (out, _) = voxcap_env(&["demo", "--out", &out_dir.display().to_string()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopToneDetected"), "{stdout}");
    assert!(stdout.contains("Consistent"), "{stdout}");
    // The recording, its trimmed copy, the report and the audit trail.
    let n = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(n, 4, "{stdout}");
}

#[test]
fn emulate_prints_what_a_bot_needs_and_serves() {
    use std::io::{BufRead, BufReader, Read as _, Write as _};
    let port = free_port();
    let mut child = ChildGuard::new(
        Command::new(env!("CARGO_BIN_EXE_voxcap"))
            .args(["emulate", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if line.contains("ctrl-c") {
            break;
        }
    }
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "GET /v1/.well-known/keys HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    child.kill();
    for what in [
        &format!("http://127.0.0.1:{port}"),
        voxcap_emulator::server::TEST_TENANT_ID,
        voxcap_emulator::server::TEST_CLIENT_ID,
        voxcap_emulator::server::TEST_CLIENT_SECRET,
        "/v1/.well-known/keys",
    ] {
        assert!(printed.contains(what), "{what} missing from:\n{printed}");
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"kty\""), "{answer}");
}

//! Issue 14 through `voxcap record`'s flags: a completion whose
//! `recordingLocation` is on a host not allowed (or over http without
//! `--allow-http-recordings`) fails with an error naming the host and the
//! flag, and writes no audio; `--max-recording-bytes` below the recording's
//! size fails with the too-large error and leaves no partial file; the
//! flags that need verified notifications say so. Run with `--nocapture`
//! to see the figures.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_emulator::server::TEST_CLIENT_SECRET;

use crate::harness::{graph_flags, voxcap_env};
use voxcap_emulator::EmulatorConfig;

const SECRET_VAR: &str = "VOXCAP_HARDENING_SECRET";

/// Runs `voxcap args...` with the client secret in [`SECRET_VAR`].
fn voxcap(args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    voxcap_env(&args, &[(SECRET_VAR, TEST_CLIENT_SECRET)]).0
}

/// `voxcap record` flags for a call on `s`'s emulator, webhook on `port`,
/// then `extra`.
fn record_args(
    s: &EmulatedSetup,
    call: &str,
    port: u16,
    out: &Path,
    extra: &[&str],
) -> Vec<String> {
    let mut args = ["record", "--call-id", call].map(String::from).to_vec();
    args.extend(graph_flags(&s.emulator, SECRET_VAR, port));
    args.extend(["--stop-tones", "#", "--out", &out.display().to_string()].map(String::from));
    args.extend(extra.iter().map(|e| e.to_string()));
    args
}

/// Every file under `dir` (recursively).
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            files.extend(files_in(&e.path()));
        } else {
            files.push(e.path());
        }
    }
    files
}

/// A caller who answers and presses `#`, with these call faults.
fn caller(faults: Value) -> Value {
    json!({"seed": 11, "faults": faults, "steps": [
        {"type": "pause", "ms": 600}, {"type": "voice", "ms": 1200},
        {"type": "press", "digit": "#", "ms": 120}, {"type": "silence"}
    ]})
}

/// One table, one `voxcap record` per row: the completion's location is on
/// `localhost` (which reaches the emulator but is not the Graph URL's
/// origin `127.0.0.1`), or the recording is larger than the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_refuses_locations_off_the_policy_and_oversized_recordings() {
    let s = EmulatedSetup::start(EmulatorConfig {
        asset_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let port = s.emulator.base_url.rsplit(':').next().unwrap().to_string();
    let localhost = format!("http://localhost:{port}");
    let listed = format!("localhost:{port}");
    // (flags, exit code, what stderr must say)
    let rows: [(Vec<&str>, i32, Vec<&str>); 5] = [
        (
            vec![],
            1,
            vec!["--allow-http-recordings", "http is refused", "localhost"],
        ),
        (
            vec!["--allow-http-recordings"],
            1,
            vec!["--recording-host", "host \"localhost\""],
        ),
        (
            vec!["--allow-http-recordings", "--recording-host", &listed],
            0,
            vec![],
        ),
        (
            vec![
                "--allow-http-recordings",
                "--recording-host",
                &listed,
                "--max-recording-bytes",
                "1000",
            ],
            1,
            vec!["--max-recording-bytes", "1000-byte cap", "no file was kept"],
        ),
        // The Graph URL's own origin is trusted: the cap still applies.
        (
            vec!["--max-recording-bytes", "1000"],
            1,
            vec!["--max-recording-bytes", "1000-byte cap"],
        ),
    ];
    for (i, (flags, code, says)) in rows.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let hook = voxcap_testkit::free_port();
        let cb = format!("http://127.0.0.1:{hook}/api/calls");
        let faults = if i < 4 {
            json!({"recording_location_base": localhost})
        } else {
            json!({})
        };
        let call = s.create_call_to(&cb, Some(&caller(faults))).await.unwrap();
        let args = record_args(&s, &call, hook, dir.path(), &flags);
        let out = tokio::task::spawn_blocking(move || voxcap(&args))
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{flags:?}: {stderr}");
        for text in &says {
            assert!(stderr.contains(text), "{flags:?}: {text:?} not in {stderr}");
        }
        let files = files_in(dir.path());
        let wavs = files
            .iter()
            .filter(|p| p.to_string_lossy().contains(".wav"))
            .count();
        println!(
            "figure: {flags:?}: exit {code}, audio files kept {wavs}, files {}",
            files.len()
        );
        if code == 0 {
            assert_eq!(wavs, 2, "{files:?}");
        } else {
            assert!(files.is_empty(), "{flags:?}: {files:?}");
        }
    }
    s.stop().await;
}

/// `--tenant-id` checks the JWT's `tid`, so it needs verified notifications.
#[test]
fn tenant_id_needs_notification_verification() {
    let args: Vec<String> = [
        "record",
        "--call-id",
        "c",
        "--token-env",
        "T",
        "--listen",
        "127.0.0.1:0",
        "--no-notification-auth",
        "--tenant-id",
        "5e1e0000-7e57-4e57-8e57-000000000001",
        "--out",
        "/nonexistent",
    ]
    .map(String::from)
    .to_vec();
    let out = voxcap(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--notification-audience"), "{stderr}");
}

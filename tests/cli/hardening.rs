//! Issue 14 through `voxcap record`'s flags: a completion whose
//! `recordingLocation` is on a host not allowed (or over http without
//! `--allow-http-recordings`) fails with an error naming the host and the
//! flag, and writes no audio; `--max-recording-bytes` below the recording's
//! size fails with the too-large error and leaves no partial file; the
//! flags that need verified notifications say so. Run with `--nocapture`
//! to see the figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_emulator::server::{TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID};
use voxcap_emulator::EmulatorConfig;

const SECRET_VAR: &str = "VOXCAP_HARDENING_SECRET";

fn voxcap(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_voxcap"))
        .args(args)
        .env(SECRET_VAR, TEST_CLIENT_SECRET)
        .output()
        .expect("run voxcap")
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
    let emu = &s.emulator;
    let graph = format!("{}/v1.0", emu.base_url);
    let listen = format!("127.0.0.1:{port}");
    let openid = emu.state.openid_config_url();
    let out = out.display().to_string();
    let mut args: Vec<&str> = vec![
        "record",
        "--call-id",
        call,
        "--graph-url",
        &graph,
        "--tenant",
        TEST_TENANT_ID,
        "--client-id",
        TEST_CLIENT_ID,
        "--client-secret-env",
        SECRET_VAR,
        "--authority",
        &emu.base_url,
        "--listen",
        &listen,
        "--notification-audience",
        TEST_CLIENT_ID,
        "--openid-config",
        &openid,
        "--stop-tones",
        "#",
        "--out",
        &out,
    ];
    args.extend(extra);
    args.iter().map(|s| s.to_string()).collect()
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

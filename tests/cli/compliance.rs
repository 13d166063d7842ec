//! Data stewardship through the binary: `record --encrypt-to` never puts
//! plaintext audio on disk (out dir and temp dir scanned while it runs),
//! `decrypt` gives back the served bytes, `analyze --identity` reads the
//! encrypted file; `verify-provenance` flags a one-byte change and a
//! one-character audit edit; `--retain-days` deletes only expired
//! recordings at start-up; `--delete-audio-after-analysis`; `purge
//! --call-id` (and its dry run) removes exactly one call's files; two
//! processes share one audit trail.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use age::secrecy::ExposeSecret;
use serde_json::{json, Value};
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_testkit::free_port;

use crate::bot_shared::stop_tone_caller;
use crate::harness::{voxcap, voxcap_env};
use crate::record::{record_args, setup, SECRET_ENV};

/// Every file under `dirs`, recursively.
fn files_under(dirs: &[&Path]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo: Vec<PathBuf> = dirs.iter().map(|d| d.to_path_buf()).collect();
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}

/// The files in `dirs` that hold `needle` (a file may vanish mid-scan).
fn holding(dirs: &[&Path], needle: &[u8]) -> Vec<PathBuf> {
    files_under(dirs)
        .into_iter()
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)))
        .collect()
}

/// Records one stop-tone answer on a new call with `extra` flags into
/// `out` (temp files of the process in `tmp`); returns the printed report.
async fn record_into(s: &EmulatedSetup, out: &Path, tmp: &Path, extra: &[&str]) -> Value {
    let port = free_port();
    let cb = format!("http://127.0.0.1:{port}/api/calls");
    let call = s
        .create_call_to(&cb, Some(&stop_tone_caller(json!({}))))
        .await
        .unwrap();
    let mut args = record_args(s, &call, port, out);
    args.extend(extra.iter().map(|a| a.to_string()));
    let tmp = tmp.display().to_string();
    let o = tokio::task::spawn_blocking(move || {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        voxcap_env(&a, &[SECRET_ENV, ("TMPDIR", &tmp)]).0
    })
    .await
    .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

fn stem_of(report: &Value) -> String {
    report["operation"]["id"].as_str().unwrap().replace('-', "")
}

fn code_and_stderr(args: &[&str]) -> (Option<i32>, String) {
    let o = voxcap(args);
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_recording_never_touches_disk_in_plaintext_and_decrypts_to_the_served_bytes() {
    let s = setup().await;
    let (out, tmp, keys) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let id = age::x25519::Identity::generate();
    let key_file = keys.path().join("key.txt");
    std::fs::write(&key_file, format!("{}\n", id.to_string().expose_secret())).unwrap();
    let recipient = id.to_public().to_string();
    // The emulator renders its audio from the scenario and seed: a first,
    // plaintext run of the same caller gives the samples to look for.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = record_into(&s, plain_dir.path(), tmp.path(), &[]).await;
    let sample_wav =
        std::fs::read(plain_dir.path().join(format!("{}.wav", stem_of(&plain)))).unwrap();
    let needle = sample_wav[sample_wav.len() / 2..][..64].to_vec();
    // Scan the output and temp directories while the encrypted run goes on.
    let done = Arc::new(AtomicBool::new(false));
    let scanner = {
        let (done, dirs, needle) = (
            done.clone(),
            [out.path().to_path_buf(), tmp.path().to_path_buf()],
            needle.clone(),
        );
        std::thread::spawn(move || {
            let (mut scans, mut found) = (0, Vec::new());
            while !done.load(Ordering::Relaxed) || scans == 0 {
                let d: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
                found.extend(holding(&d, b"RIFF"));
                found.extend(holding(&d, &needle));
                scans += 1;
            }
            (scans, found)
        })
    };
    let report = record_into(&s, out.path(), tmp.path(), &["--encrypt-to", &recipient]).await;
    done.store(true, Ordering::Relaxed);
    let (scans, found) = scanner.join().unwrap();
    assert!(found.is_empty(), "plaintext audio on disk: {found:?}");
    crate::bot_shared::assert_report_provenance(&report, Some(out.path()));
    assert!(scans > 0);
    let dirs = [out.path(), tmp.path()];
    assert!(holding(&dirs, b"RIFF").is_empty() && holding(&dirs, &needle).is_empty());
    let stem = stem_of(&report);
    let names: Vec<String> = files_under(&[out.path()])
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        format!("{stem}.wav.age"),
        format!("{stem}.trimmed.wav.age"),
        format!("{stem}.json"),
        "audit.ndjson".into(),
    ] {
        assert!(names.contains(&want), "{want} not in {names:?}");
    }
    assert_eq!(names.len(), 4, "{names:?}");
    // Decrypted: byte for byte what the emulator served, and its hash is the report's.
    let op = report["operation"]["id"].as_str().unwrap();
    let served = s
        .emulator
        .state
        .recording_bytes(&s.emulator.state.recording_id_of(op).unwrap())
        .unwrap();
    let sealed = out.path().join(format!("{stem}.wav.age"));
    let back = keys.path().join("back.wav");
    let (args, key) = (
        [sealed.to_str().unwrap(), "-o", back.to_str().unwrap()],
        key_file.to_str().unwrap(),
    );
    let (code, err) = code_and_stderr(&["decrypt", args[0], "--identity", key, args[1], args[2]]);
    assert_eq!(code, Some(0), "{err}");
    let back = std::fs::read(&back).unwrap();
    assert!(
        back == served[..],
        "decrypted {} bytes differ from the {} served",
        back.len(),
        served.len()
    );
    let p = &report["provenance"];
    assert_eq!(p["sha256"], voxcap_records::digest::sha256_hex(&served));
    assert_eq!(
        (p["bytes"].as_u64(), p["encrypted"].as_bool()),
        (Some(served.len() as u64), Some(true))
    );
    // analyze --identity reads it in memory, with the stored file's hash.
    let o = voxcap(&[
        "analyze",
        "--format",
        "json",
        "--identity",
        key,
        "--stop-tones",
        "#",
        args[0],
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let line: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["duration_s"], report["duration_s"]);
    assert_eq!(line["dtmf"], report["dtmf"]);
    assert_eq!(
        line["sha256"],
        voxcap_records::digest::sha256_hex(&std::fs::read(&sealed).unwrap())
    );
    // verify-provenance: clean, then one byte of the ciphertext, then one
    // character of an audit line.
    let dir = out.path().to_str().unwrap();
    assert_eq!(code_and_stderr(&["verify-provenance", dir]).0, Some(0));
    let mut bytes = std::fs::read(&sealed).unwrap();
    let original = bytes.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&sealed, &bytes).unwrap();
    let (code, err) = code_and_stderr(&["verify-provenance", dir]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("{stem}.wav.age")) && err.contains("does not match"),
        "{err}"
    );
    std::fs::write(&sealed, &original).unwrap();
    let audit = out.path().join("audit.ndjson");
    let trail = std::fs::read_to_string(&audit).unwrap();
    std::fs::write(
        &audit,
        trail.replacen("\"event\":\"stored\"", "\"event\":\"storeD\"", 1),
    )
    .unwrap();
    let (code, err) = code_and_stderr(&["verify-provenance", dir]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("audit.ndjson: line 1"), "{err}");
    assert!(!err.contains(".wav.age"), "{err}");
}

/// A hand-made recording in `dir` of `call`: only its report (as a
/// failed operation leaves), last written `age` ago.
fn old_report(dir: &Path, stem: &str, age: Duration) {
    let path = dir.join(format!("{stem}.json"));
    std::fs::write(
        &path,
        json!({"provenance": {"callId": "old-call", "stored": []}}).to_string(),
    )
    .unwrap();
    let f = std::fs::File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = files_under(&[dir])
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "audit.ndjson")
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_delete_after_analysis_and_purge_by_call_keep_one_audit_trail() {
    let s = setup().await;
    let (out, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    const DAY: u64 = 86_400;
    let (expired, fresh) = ("e".repeat(32), "f".repeat(32));
    old_report(out.path(), &expired, Duration::from_secs(31 * DAY));
    old_report(out.path(), &fresh, Duration::from_secs(29 * DAY));
    // Two processes on one directory at once: A with retention, B deleting
    // its audio once the report is written.
    let (a, b) = tokio::join!(
        record_into(&s, out.path(), tmp.path(), &["--retain-days", "30"]),
        record_into(
            &s,
            out.path(),
            tmp.path(),
            &["--delete-audio-after-analysis"]
        ),
    );
    let (sa, sb) = (stem_of(&a), stem_of(&b));
    let mut want = vec![
        format!("{fresh}.json"),
        format!("{sa}.json"),
        format!("{sa}.trimmed.wav"),
        format!("{sa}.wav"),
        format!("{sb}.json"),
    ];
    want.sort();
    assert_eq!(listing(out.path()), want);
    assert_eq!(b["provenance"]["audioDeleted"], "after-analysis");
    let trail = std::fs::read_to_string(out.path().join("audit.ndjson")).unwrap();
    let events = |stem: &str| -> Vec<String> {
        trail
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["id"] == stem)
            .map(|l| {
                format!(
                    "{}{}",
                    l["event"].as_str().unwrap(),
                    l["reason"]
                        .as_str()
                        .map(|r| format!(":{r}"))
                        .unwrap_or_default()
                )
            })
            .collect()
    };
    assert_eq!(events(&expired), ["deleted:retention"]);
    assert!(events(&fresh).is_empty());
    assert_eq!(events(&sa), ["stored", "analysed"]);
    assert_eq!(
        events(&sb),
        ["stored", "analysed", "deleted:after-analysis"]
    );
    let dir = out.path().to_str().unwrap();
    let (code, err) = code_and_stderr(&["verify-provenance", dir]);
    assert_eq!(code, Some(0), "{err}");
    // purge --call-id: the dry run lists A's files and deletes nothing;
    // the real one deletes exactly those.
    let call_a = a["provenance"]["callId"].as_str().unwrap().to_uppercase();
    let before = listing(out.path());
    let dry = voxcap(&["purge", dir, "--call-id", &call_a, "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0));
    assert_eq!(listing(out.path()), before);
    let real = voxcap(&["purge", dir, "--call-id", &call_a]);
    assert_eq!(
        real.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&real.stderr)
    );
    assert_eq!(dry.stdout, real.stdout);
    let mut listed: Vec<String> = String::from_utf8(real.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("{sa}.json"),
            format!("{sa}.trimmed.wav"),
            format!("{sa}.wav")
        ]
    );
    let after: Vec<String> = before.into_iter().filter(|n| !listed.contains(n)).collect();
    assert_eq!(listing(out.path()), after);
    assert_eq!(code_and_stderr(&["verify-provenance", dir]).0, Some(0));
    // Purge needs a criterion (usage error, exit 2).
    assert_eq!(code_and_stderr(&["purge", dir]).0, Some(2));
}

//! A bot fleet on Redis, end to end: a real `redis-server` on loopback
//! (`LocalRedis`), the in-process Graph emulator, bots sharing the Redis
//! operation store, and `voxcap serve` / `voxcap record --redis` processes.
//!
//! - 200 concurrent operations over two owner instances whose
//!   notifications all go, round-robin, to two `serve` instances that do not
//!   own them: every one completes exactly once, each recording is
//!   downloaded exactly once, none is lost.
//! - Owners killed (SIGKILL) after the recordResponse POST, before the
//!   notification or in the middle of the download: a replacement `serve`
//!   finishes every operation, or reports it `lost` once its deadline passed.
//! - Redis unreachable: a clear error and a non-zero exit; readiness follows
//!   Redis; SIGTERM stops `serve` cleanly.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxcap_bot::emulated::create_call;
use voxcap_bot::OutcomeKind;
use voxcap_capture::redis_store::RedisStoreConfig;
use voxcap_emulator::server::TEST_CLIENT_SECRET;
use voxcap_emulator::{EmulatorConfig, RunningEmulator};
use voxcap_testkit::redis_conn::{redis_conn, unfinished, wait_unfinished};
use voxcap_testkit::{
    free_port, poll_until, two_worker_runtime as runtime, wait_until, ChildGuard, LocalRedis,
};

use crate::bot_shared::{fleet_bot, fleet_bot_with_heartbeat, fleet_plan as plan};
use crate::harness::{assert_success, graph_flags, voxcap_env};

// ---- harness ----------------------------------------------------------------

const SECRET_VAR: &str = "VOXCAP_FLEET_SECRET";

/// An emulator on loopback; `time_scale` 1.0 runs callers in real time
/// (the kill test needs its events in order), the default 0.01 runs them
/// a hundred times faster.
async fn emulator_at(time_scale: f64) -> RunningEmulator {
    voxcap_testkit::emulated::log_from_env("FLEET_LOG");
    voxcap_testkit::emulated::start_emulator(time_scale).await
}

async fn emulator() -> RunningEmulator {
    emulator_at(EmulatorConfig::default().time_scale).await
}

/// The flags every fleet process shares: Graph on the emulator, client
/// credentials, JWT-verified webhook on `port`, Redis.
fn bot_flags(emu: &RunningEmulator, redis_url: &str, port: u16, id: &str) -> Vec<String> {
    let mut flags = graph_flags(emu, SECRET_VAR, port);
    flags.extend(
        [
            "--redis",
            redis_url,
            "--instance-id",
            id,
            "--heartbeat-ttl",
            "1",
        ]
        .map(String::from),
    );
    flags
}

/// A `voxcap` process killed on drop ([`ChildGuard`]), with its stdout
/// lines and its stderr collected.
struct Proc {
    child: ChildGuard,
    lines: Arc<std::sync::Mutex<Vec<String>>>,
    stderr: Arc<std::sync::Mutex<String>>,
}

impl Proc {
    fn spawn(args: &[String]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_voxcap"))
            .args(args)
            .env(SECRET_VAR, TEST_CLIENT_SECRET)
            .env(
                "RUST_LOG",
                std::env::var("FLEET_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run voxcap");
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let e = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Proc {
            child: ChildGuard::new(child),
            lines,
            stderr,
        }
    }

    fn kill(&mut self) {
        self.child.kill();
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

/// Status code of `GET http://127.0.0.1:port/path`, or None if no answer.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// A `voxcap serve` on `port`, ready (its `/readyz` answers 200).
fn start_serve(emu: &RunningEmulator, redis_url: &str, port: u16, id: &str, out: &Path) -> Proc {
    let mut args = vec!["serve".to_string()];
    args.extend(bot_flags(emu, redis_url, port, id));
    args.extend(
        [
            "--out",
            &out.display().to_string(),
            "--takeover-interval",
            "0.3",
            "--drain-timeout",
            "0.5",
        ]
        .map(String::from),
    );
    let mut p = Proc::spawn(&args);
    let ready = poll_until("readiness", Duration::from_secs(20), || {
        if let Ok(Some(status)) = p.child.try_wait() {
            panic!("serve {id} exited {status}: {}", p.stderr());
        }
        http_status(port, "/readyz") == Some(200)
    });
    if let Err(e) = ready {
        panic!("serve {id}: {e}: {}", p.stderr());
    }
    p
}

/// The stored record of an operation (normalised ids, as the store keys it).
async fn op_record(
    conn: &mut redis::aio::MultiplexedConnection,
    call: &str,
    op: &str,
) -> HashMap<String, String> {
    let norm = |s: &str| s.replace('-', "").to_lowercase();
    redis::cmd("HGETALL")
        .arg(format!("voxcap:op:{}/{}", norm(call), norm(op)))
        .query_async(conn)
        .await
        .unwrap()
}

/// Emulator download counts: recording id → (from start, resumed).
async fn download_counts(emu: &RunningEmulator) -> HashMap<String, (u64, u64)> {
    emu.state
        .download_counts()
        .into_iter()
        .map(|(k, v)| (k, (v.from_start, v.resumed)))
        .collect()
}

/// Caller `i` speaks for 0.4 s + 10 ms * i, then stays silent: with a 1 s
/// max-silence timer each recording has its own length (0.6 s lead-in +
/// speech + 1 s), which tells every operation's file apart.
fn numbered_caller(i: usize) -> Value {
    json!({"seed": i, "steps": [
        {"type": "pause", "ms": 600},
        {"type": "voice", "ms": 400 + 10 * i},
        {"type": "silence"}
    ]})
}

// ---- 200 operations, notifications at the wrong instance ------------------------

#[test]
fn two_hundred_operations_notified_at_non_owners_complete_exactly_once() {
    const N: usize = 200;
    let rt = runtime();
    let redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = emulator().await;
        let owners = Arc::new([
            // Long heartbeats: nobody may take over here, even when a
            // loaded machine delays an owner's refresh.
            fleet_bot_with_heartbeat(&emu, &redis, "owner-a", Duration::from_secs(15)).await,
            fleet_bot_with_heartbeat(&emu, &redis, "owner-b", Duration::from_secs(15)).await,
        ]);
        let serve_dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let ports = [free_port(), free_port()];
        let serves: Vec<Proc> = (0..2)
            .map(|k| {
                start_serve(
                    &emu,
                    &redis.url(),
                    ports[k],
                    &format!("serve-{k}"),
                    serve_dirs[k].path(),
                )
            })
            .collect();
        let out = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let emu = Arc::new(emu);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..N {
            let owners = owners.clone();
            let emu = emu.clone();
            let dir = out[i % 2].path().to_path_buf();
            // Round-robin over the two serve instances; never the owner.
            let callback = format!("http://127.0.0.1:{}/api/calls", ports[(i / 2) % 2]);
            tasks.push(tokio::spawn(async move {
                let owner = &owners[i % 2];
                let call = create_call(owner.client(), &emu, &callback, Some(&numbered_caller(i)))
                    .await
                    .unwrap();
                let o = owner.record(&call, &plan(&dir, i)).await.unwrap();
                (i, call, o)
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let took = started.elapsed();
        eprintln!("fleet: {N} operations over 2 owners and 2 serve instances in {took:?}");

        let mut ids = HashSet::new();
        let mut conn = redis_conn(&redis).await;
        let counts = download_counts(&emu).await;
        for (i, call, o) in &results {
            assert_eq!(o.kind, OutcomeKind::Recorded, "{i}: {:?}", o.operation);
            assert_eq!(
                o.operation.client_context.as_deref(),
                Some(&*format!("fleet-{i}"))
            );
            assert_eq!(
                o.operation.completion_reason.as_deref(),
                Some("maxSilenceTimeout")
            );
            let r = o.report.as_ref().unwrap();
            let expected = 0.6 + 0.4 + 0.01 * *i as f64 + 1.0;
            assert!(
                (r.duration_s - expected).abs() < 0.004,
                "{i}: {} s vs {expected}",
                r.duration_s
            );
            assert!(
                ids.insert(o.operation.id.clone()),
                "{i}: operation id reused"
            );
            // Finished in Redis by its owner, and only there.
            let rec = op_record(&mut conn, call, &o.operation.id).await;
            assert_eq!(
                rec.get("state").map(String::as_str),
                Some("done"),
                "{i}: {rec:?}"
            );
            let owner = if i % 2 == 0 { "owner-a" } else { "owner-b" };
            assert_eq!(
                rec.get("finished_by").map(String::as_str),
                Some(owner),
                "{i}"
            );
            assert!(
                !rec.contains_key("adopted_from"),
                "{i}: nobody took it over"
            );
        }
        // Every recording downloaded once, from the start, never resumed.
        let fresh: Vec<_> = counts.values().filter(|(s, _)| *s > 0).collect();
        assert_eq!(fresh.len(), N, "{counts:?}");
        assert!(
            counts.values().all(|&(s, r)| s == 1 && r == 0),
            "{counts:?}"
        );
        for d in &out {
            // Three files per operation, and the audit trail.
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 3 * N / 2 + 1);
        }
        assert_eq!(unfinished(&mut conn).await, 0);
        // The serve instances only forwarded: nothing to take over, no files.
        for (k, s) in serves.iter().enumerate() {
            assert!(s.lines().is_empty(), "serve-{k} took over: {:?}", s.lines());
            assert_eq!(std::fs::read_dir(serve_dirs[k].path()).unwrap().count(), 0);
        }
        let stats: Value = {
            let url = format!("{}/_emulator/stats", emu.base_url);
            let body = owners[0].client().http().get(url).send().await.unwrap();
            serde_json::from_slice(&body.bytes().await.unwrap()).unwrap()
        };
        assert_eq!(stats["notificationsFailed"], 0, "{stats}");
        drop(serves);
        if let Ok(owners) = Arc::try_unwrap(owners) {
            for b in owners {
                b.stop().await;
            }
        }
    });
}

/// The same with only two instances, each receiving every notification of
/// the other's operations (no third party involved).
#[test]
fn two_instances_each_notified_of_the_others_operations_complete_them_once() {
    const N: usize = 200;
    let rt = runtime();
    let redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = Arc::new(emulator().await);
        let bots = Arc::new([
            fleet_bot_with_heartbeat(&emu, &redis, "cross-a", Duration::from_secs(15)).await,
            fleet_bot_with_heartbeat(&emu, &redis, "cross-b", Duration::from_secs(15)).await,
        ]);
        let out = tempfile::tempdir().unwrap();
        let mut tasks = Vec::new();
        for i in 0..N {
            let (bots, emu) = (bots.clone(), emu.clone());
            let dir = out.path().to_path_buf();
            tasks.push(tokio::spawn(async move {
                let (owner, other) = (&bots[i % 2], &bots[1 - i % 2]);
                let call = create_call(
                    owner.client(),
                    &emu,
                    other.callback_url(),
                    Some(&numbered_caller(i)),
                )
                .await
                .unwrap();
                (i, owner.record(&call, &plan(&dir, i)).await.unwrap())
            }));
        }
        let mut ids = HashSet::new();
        for t in tasks {
            let (i, o) = t.await.unwrap();
            assert_eq!(o.kind, OutcomeKind::Recorded, "{i}: {:?}", o.operation);
            assert_eq!(
                o.operation.client_context.as_deref(),
                Some(&*format!("fleet-{i}"))
            );
            let expected = 0.6 + 0.4 + 0.01 * i as f64 + 1.0;
            let d = o.report.as_ref().unwrap().duration_s;
            assert!((d - expected).abs() < 0.004, "{i}: {d} s vs {expected}");
            assert!(ids.insert(o.operation.id.clone()));
        }
        let counts = download_counts(&emu).await;
        assert_eq!(counts.len(), N, "{counts:?}");
        assert!(
            counts.values().all(|&(s, r)| s == 1 && r == 0),
            "{counts:?}"
        );
        // Three files per operation, and the one audit trail both write.
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 3 * N + 1);
        let mut conn = redis_conn(&redis).await;
        assert_eq!(unfinished(&mut conn).await, 0);
    });
}

// ---- owners killed mid-operation -------------------------------------------------

fn record_process(
    emu: &RunningEmulator,
    redis_url: &str,
    port: u16,
    id: &str,
    call: &str,
    out: &Path,
    extra: &[&str],
) -> Proc {
    let mut args = vec!["record".to_string(), "--call-id".into(), call.into()];
    args.extend(bot_flags(emu, redis_url, port, id));
    args.extend(["--out".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    Proc::spawn(&args)
}

#[test]
fn owners_killed_mid_operation_are_finished_by_a_replacement() {
    let rt = runtime();
    let redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = emulator_at(1.0).await;
        let helper = fleet_bot(&emu, &redis, "observer").await;
        let replacement_port = free_port();
        // The "load balancer": when an instance is gone, notifications go to
        // the replacement's address.
        emu.state
            .set_notification_fallbacks(vec![format!(
                "http://127.0.0.1:{replacement_port}/api/calls"
            )])
            .unwrap();
        let owners_out = tempfile::tempdir().unwrap();
        let serve_out = tempfile::tempdir().unwrap();
        let ports = [free_port(), free_port(), free_port()];
        let cb = |p: u16| format!("http://127.0.0.1:{p}/api/calls");
        // A: answers for 8 s then presses '#': the completion comes after the
        //    owner is dead and the replacement is up.
        let call_a = create_call(helper.client(), &emu, &cb(ports[0]), Some(&json!({"seed": 1, "steps": [
            {"type": "pause", "ms": 500}, {"type": "voice", "ms": 8000},
            {"type": "pause", "ms": 300}, {"type": "press", "digit": "#", "ms": 120},
            {"type": "silence"}]}))).await.unwrap();
        // B: the completion never comes: lost at its deadline (1 + 2 + 1 s).
        let call_b = create_call(helper.client(), &emu, &cb(ports[1]), Some(&json!({"seed": 2,
            "faults": {"suppress_completion": true},
            "steps": [{"type": "pause", "ms": 500}, {"type": "voice", "ms": 800}, {"type": "silence"}]}))).await.unwrap();
        // C: completes fast, but the download crawls: the owner dies in it.
        let call_c = create_call(helper.client(), &emu, &cb(ports[2]), Some(&json!({"seed": 3,
            "faults": {"download_bytes_per_sec": 8000},
            "steps": [{"type": "pause", "ms": 300}, {"type": "voice", "ms": 500},
            {"type": "press", "digit": "#", "ms": 120}, {"type": "silence"}]}))).await.unwrap();
        let url = redis.url();
        let mut owner_a = record_process(&emu, &url, ports[0], "rec-a", &call_a, owners_out.path(), &["--stop-tones", "#", "--max-record", "15"]);
        let mut owner_b = record_process(&emu, &url, ports[1], "rec-b", &call_b, owners_out.path(),
            &["--initial-silence", "1", "--max-record", "2", "--deadline-margin", "1"]);
        let mut owner_c = record_process(&emu, &url, ports[2], "rec-c", &call_c, owners_out.path(), &["--stop-tones", "#"]);
        let mut conn = redis_conn(&redis).await;
        // All three POSTs made and registered.
        wait_unfinished(&mut conn, 3, || {
            format!("{} / {} / {}", owner_a.stderr(), owner_b.stderr(), owner_c.stderr())
        })
        .await;
        owner_a.kill();
        owner_b.kill();
        // C: wait until its owner holds the download claim, let it fetch a bit.
        let start = Instant::now();
        loop {
            let claims: Vec<String> = redis::cmd("KEYS").arg("voxcap:claim:*").query_async(&mut conn).await.unwrap();
            if !claims.is_empty() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "owner C never started its download: {}", owner_c.stderr());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        owner_c.kill();
        assert!(owner_c.lines().is_empty(), "owner C finished before it was killed");

        // The replacement: finds the dead owners' operations and ends them.
        let serve = start_serve(&emu, &url, replacement_port, "replacement", serve_out.path());
        let start = Instant::now();
        while serve.lines().len() < 3 {
            assert!(start.elapsed() < Duration::from_secs(40),
                "replacement finished {:?}; stderr: {}", serve.lines(), serve.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let lines: Vec<Value> = serve.lines().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let stats: Value = {
            let url = format!("{}/_emulator/stats", emu.base_url);
            let body = helper.client().http().get(url).send().await.unwrap();
            serde_json::from_slice(&body.bytes().await.unwrap()).unwrap()
        };
        eprintln!("emulator stats: {stats}");
        assert_eq!(stats["notificationsRerouted"], 1, "A's completion went to the replacement: {stats}");
        // Each outcome names the instance it was taken from.
        let mut outcome_of = HashMap::new();
        for l in &lines {
            let op = l["result"]["operation"]["id"].as_str().unwrap().to_string();
            let from = l["result"]["takeover"]["from"].as_str().unwrap().to_string();
            outcome_of.insert(from, (op, l.clone()));
        }
        let (op_a, a) = outcome_of.get("rec-a").cloned().expect("A taken over");
        let (op_b, b) = outcome_of.get("rec-b").cloned().expect("B taken over");
        let (op_c, c) = outcome_of.get("rec-c").cloned().expect("C taken over");
        assert_eq!(a["outcome"], "recorded", "{a}");
        assert_eq!(a["result"]["operation"]["completion_reason"], "stopToneDetected");
        assert_eq!(a["result"]["completion"]["verdict"], "consistent", "{a}");
        assert_eq!(b["outcome"], "lost", "{b}");
        assert_eq!(c["outcome"], "recorded", "{c}");
        assert_eq!(c["result"]["operation"]["completion_reason"], "stopToneDetected");
        for (op, ok) in [(&op_a, true), (&op_b, false), (&op_c, true)] {
            let stem = op.replace('-', ""); // the file stem
            assert!(serve_out.path().join(format!("{stem}.json")).is_file(), "{op}");
            assert_eq!(serve_out.path().join(format!("{stem}.wav")).is_file(), ok, "{op}");
        }
        for l in [&a, &b, &c] {
            let stored = (l["outcome"] == "recorded").then_some(serve_out.path());
            crate::bot_shared::assert_report_provenance(&l["result"], stored);
        }
        let ra = op_record(&mut conn, &call_a, &op_a).await;
        let rb = op_record(&mut conn, &call_b, &op_b).await;
        let rc = op_record(&mut conn, &call_c, &op_c).await;
        assert_eq!(ra.get("state").map(String::as_str), Some("done"), "{ra:?}");
        assert_eq!(rb.get("state").map(String::as_str), Some("lost"), "{rb:?}");
        assert_eq!(rc.get("state").map(String::as_str), Some("done"), "{rc:?}");
        for r in [&ra, &rb, &rc] {
            assert_eq!(r.get("finished_by").map(String::as_str), Some("replacement"), "{r:?}");
        }
        assert_eq!(rc.get("claim_taken_from").map(String::as_str), Some("rec-c"), "{rc:?}");
        assert_eq!(unfinished(&mut conn).await, 0);
        // A: one download (by the replacement); C: the dead owner's partial
        // one and the replacement's; B: none.
        let counts = download_counts(&emu).await;
        let total_fresh: u64 = counts.values().map(|c| c.0).sum();
        assert_eq!(total_fresh, 3, "{counts:?}");
        drop(serve);
        helper.stop().await;
    });
}

// ---- errors, health, shutdown ------------------------------------------------------

#[test]
fn unreachable_redis_is_a_clear_error_and_a_non_zero_exit() {
    let closed = free_port();
    let url = format!("redis://:hunter2@127.0.0.1:{closed}/");
    let common = |cmd: &str| -> Vec<String> {
        let mut a = vec![cmd.to_string()];
        if cmd == "record" {
            a.extend(["--call-id".into(), "c".into()]);
        }
        a.extend(
            [
                "--graph-url",
                "http://127.0.0.1:9/v1.0",
                "--token-env",
                "VOXCAP_FLEET_TOKEN",
                "--listen",
                "127.0.0.1:0",
                "--no-notification-auth",
                "--redis",
                &url,
                "--out",
                "/tmp/voxcap-fleet-unused",
            ]
            .map(String::from),
        );
        a
    };
    for cmd in ["record", "serve"] {
        let start = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_voxcap"))
            .args(common(cmd))
            .env("VOXCAP_FLEET_TOKEN", "t")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(stderr.contains("--redis"), "{cmd}: {stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{closed}")),
            "{cmd}: {stderr}"
        );
        assert!(!stderr.contains("hunter2"), "{cmd}: {stderr}");
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{cmd} took {:?}",
            start.elapsed()
        );
    }
    // serve without --redis is a usage error.
    let mut args = common("serve");
    let at = args.iter().position(|a| a == "--redis").unwrap();
    args.drain(at..at + 2);
    let out = Command::new(env!("CARGO_BIN_EXE_voxcap"))
        .args(&args)
        .env("VOXCAP_FLEET_TOKEN", "t")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis"));
}

#[test]
fn readiness_follows_redis_and_sigterm_stops_serve_cleanly() {
    let rt = runtime();
    let mut redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    let emu = rt.block_on(emulator());
    let out = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut serve = start_serve(&emu, &redis.url(), port, "health", out.path());
    assert_eq!(http_status(port, "/healthz"), Some(200));
    assert_eq!(http_status(port, "/readyz"), Some(200));
    redis.kill();
    wait_until("readiness to drop", Duration::from_secs(10), || {
        http_status(port, "/readyz") == Some(503)
    });
    assert_eq!(
        http_status(port, "/healthz"),
        Some(200),
        "alive while not ready"
    );
    // A fresh server on another port cannot help; stop serve with SIGTERM.
    let pid = serve.child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let code = serve
        .child
        .wait_timeout(Duration::from_secs(30), "serve after SIGTERM")
        .code();
    assert_eq!(code, Some(0), "{}", serve.stderr());
}

#[test]
fn a_serve_stopped_by_sigterm_hands_its_operations_to_the_next() {
    let rt = runtime();
    let redis = LocalRedis::start().expect("redis-server (installed by .ci/run)");
    rt.block_on(async {
        let emu = emulator_at(1.0).await;
        let helper = fleet_bot(&emu, &redis, "observer-2").await;
        let (p_owner, p1, p2) = (free_port(), free_port(), free_port());
        emu.state
            .set_notification_fallbacks(vec![
                format!("http://127.0.0.1:{p1}/api/calls"),
                format!("http://127.0.0.1:{p2}/api/calls"),
            ])
            .unwrap();
        let call = create_call(
            helper.client(),
            &emu,
            &format!("http://127.0.0.1:{p_owner}/api/calls"),
            Some(&json!({"seed": 4, "steps": [
                {"type": "pause", "ms": 500}, {"type": "voice", "ms": 8000},
                {"type": "pause", "ms": 300}, {"type": "press", "digit": "#", "ms": 120},
                {"type": "silence"}]})),
        )
        .await
        .unwrap();
        let url = redis.url();
        let owners_out = tempfile::tempdir().unwrap();
        let mut owner = record_process(
            &emu,
            &url,
            p_owner,
            "rec-d",
            &call,
            owners_out.path(),
            &["--stop-tones", "#", "--max-record", "15"],
        );
        let mut conn = redis_conn(&redis).await;
        let owner_of = |conn: &mut redis::aio::MultiplexedConnection| {
            let mut c = conn.clone();
            async move {
                let members: Vec<String> = redis::cmd("ZRANGE")
                    .arg("voxcap:pending")
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut c)
                    .await
                    .unwrap();
                match members.first() {
                    None => None,
                    Some(m) => redis::cmd("HGET")
                        .arg(format!("voxcap:op:{m}"))
                        .arg("owner")
                        .query_async::<Option<String>>(&mut c)
                        .await
                        .unwrap(),
                }
            }
        };
        let start = Instant::now();
        while owner_of(&mut conn).await.as_deref() != Some("rec-d") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "never registered: {}",
                owner.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        owner.kill();
        // The first serve adopts it, then is stopped as in a deploy.
        let out1 = tempfile::tempdir().unwrap();
        let mut first = start_serve(&emu, &url, p1, "serve-1", out1.path());
        let start = Instant::now();
        while owner_of(&mut conn).await.as_deref() != Some("serve-1") {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "serve-1 never adopted: {}",
                first.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let pid = first.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let code = tokio::task::block_in_place(|| {
            first
                .child
                .wait_timeout(Duration::from_secs(30), "serve-1 after SIGTERM")
                .code()
        });
        assert_eq!(code, Some(0), "{}", first.stderr());
        assert!(
            first.lines().is_empty(),
            "serve-1 finished nothing: {:?}",
            first.lines()
        );
        // The next one takes it over and completes it.
        let out2 = tempfile::tempdir().unwrap();
        let second = start_serve(&emu, &url, p2, "serve-2", out2.path());
        let start = Instant::now();
        while second.lines().is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "serve-2 finished nothing: {}",
                second.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let line: Value = serde_json::from_str(&second.lines()[0]).unwrap();
        assert_eq!(line["outcome"], "recorded", "{line}");
        assert_eq!(
            line["result"]["operation"]["completion_reason"],
            "stopToneDetected"
        );
        let op = line["result"]["operation"]["id"].as_str().unwrap();
        crate::bot_shared::assert_report_provenance(&line["result"], Some(out2.path()));
        assert!(out2
            .path()
            .join(format!("{}.wav", op.replace('-', "")))
            .is_file());
        let rec = op_record(&mut conn, &call, op).await;
        assert_eq!(
            rec.get("state").map(String::as_str),
            Some("done"),
            "{rec:?}"
        );
        assert_eq!(
            rec.get("finished_by").map(String::as_str),
            Some("serve-2"),
            "{rec:?}"
        );
        let counts = download_counts(&emu).await;
        assert_eq!(counts.values().map(|c| c.0).sum::<u64>(), 1, "{counts:?}");
        drop(second);
        helper.stop().await;
    });
}

// ---- TLS ---------------------------------------------------------------------------

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
fn make_certs(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (installed by .ci/run)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=voxcap test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
}

#[test]
fn redis_over_tls_with_a_private_ca() {
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    let tls_port = free_port();
    let p = |f: &str| certs.path().join(f).display().to_string();
    let _redis = LocalRedis::start_with_args(&[
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        p("server.pem"),
        "--tls-key-file".into(),
        p("server.key"),
        "--tls-ca-cert-file".into(),
        p("ca.pem"),
        "--tls-auth-clients".into(),
        "no".into(),
    ])
    .expect("redis-server with TLS");
    let url = format!("rediss://127.0.0.1:{tls_port}/");
    // The fleet store, trusting the private CA.
    let rt = runtime();
    rt.block_on(async {
        let mut c = RedisStoreConfig::new(url.clone());
        c.ca_pem = Some(std::fs::read(certs.path().join("ca.pem")).unwrap());
        let store = voxcap_capture::redis_store::RedisStore::connect(c)
            .await
            .expect("TLS store");
        store.ping().await.unwrap();
        assert!(store.is_healthy());
        // Without the CA the public roots do not vouch for it: a clear error.
        let mut c = RedisStoreConfig::new(url.clone());
        c.timeout = Duration::from_secs(2);
        let e = voxcap_capture::redis_store::RedisStore::connect(c)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("127.0.0.1:{tls_port}")), "{e}");
        assert!(
            e.to_lowercase().contains("cert") || e.to_lowercase().contains("issuer"),
            "{e}"
        );
    });
    // The batch commands, over TLS, the URL from the environment.
    let clips = tempfile::tempdir().unwrap();
    let wav = clips.path().join("a.wav");
    std::fs::write(
        &wav,
        voxcap_dsp::synth::wav_pcm16_mono(&vec![0.0f32; 8000], 8000),
    )
    .unwrap();
    let voxcap = |args: &[&str]| voxcap_env(args, &[("VOXCAP_REDIS_URL", url.as_str())]).0;
    let ca = p("ca.pem");
    let out = voxcap(&[
        "enqueue",
        "--redis-ca",
        &ca,
        "--queue",
        "tls",
        &wav.display().to_string(),
    ]);
    assert_success(&out);
    let out = voxcap(&["worker", "--redis-ca", &ca, "--queue", "tls", "--drain"]);
    assert_success(&out);
    let out = voxcap(&["results", "--redis-ca", &ca, "--queue", "tls"]);
    assert_success(&out);
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["path"], json!(wav.display().to_string()));
    // Without the CA: exit 1, naming the server.
    let out = voxcap(&["results", "--queue", "tls"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("127.0.0.1:{tls_port}")),
        "{stderr}"
    );
    // A --redis-ca that is not PEM is refused by name.
    let out = voxcap(&[
        "results",
        "--redis-ca",
        &wav.display().to_string(),
        "--queue",
        "tls",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis-ca"));
}

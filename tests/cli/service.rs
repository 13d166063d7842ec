//! `voxcap serve` with the service API, as a real process on the in-process
//! emulator (no Redis): the keys file reloaded without a restart (a
//! rewrite seen by the poll, SIGHUP seen at once), and the process's RSS
//! with 200 recordings pending at once (issue 17's acceptance figure).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use voxcap_bot::emulated::{bot_config, create_call};
use voxcap_bot::Bot;
use voxcap_emulator::server::TEST_CLIENT_SECRET;
use voxcap_emulator::RunningEmulator;
use voxcap_testkit::{free_port, two_worker_runtime as runtime, ChildGuard};

use crate::harness::graph_flags;

const SECRET_VAR: &str = "VOXCAP_SERVICE_SECRET";
const KEY_A: &str = "cli-reload-key-a-0123456789";
const KEY_B: &str = "cli-reload-key-b-0123456789";

/// A `voxcap serve` process with the API on `api_port`, killed on drop,
/// its stderr collected.
struct Serve {
    child: ChildGuard,
    stderr: Arc<Mutex<String>>,
    api_port: u16,
    hook_port: u16,
}

impl Serve {
    /// Starts `voxcap serve --api-keys-file keys` on `emu` and waits until
    /// its webhook is ready and its API answers.
    async fn start(emu: &RunningEmulator, keys: &Path, out: &Path) -> Serve {
        let (hook_port, api_port) = (free_port(), free_port());
        let mut args = vec!["serve".to_string()];
        args.extend(graph_flags(emu, SECRET_VAR, hook_port));
        args.extend([
            "--out".to_string(),
            out.display().to_string(),
            "--api-listen".to_string(),
            format!("127.0.0.1:{api_port}"),
            "--api-keys-file".to_string(),
            keys.display().to_string(),
        ]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_voxcap"))
            .args(&args)
            .env(SECRET_VAR, TEST_CLIENT_SECRET)
            .env_remove("VOXCAP_API_KEYS")
            .env_remove("VOXCAP_CALLBACK_SECRET")
            .env("RUST_LOG", "warn,voxcap_service=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run voxcap serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push_str(&text);
            }
        });
        let mut serve = Serve {
            child: ChildGuard::new(child),
            stderr,
            api_port,
            hook_port,
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = serve.child.try_wait() {
                panic!("voxcap serve exited {status}: {}", serve.stderr());
            }
            let ready = http(hook_port, "GET", "/readyz", None, "").map(|r| r.0) == Some(200);
            if ready && serve.get("/openapi.json", KEY_A).is_some() {
                return serve;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "voxcap serve not ready: {}",
                serve.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `GET path` on the API with `key`: status and body.
    fn get(&self, path: &str, key: &str) -> Option<(u16, String)> {
        http(self.api_port, "GET", path, Some(key), "")
    }

    /// The status `key` gets on a cheap route.
    fn status(&self, key: &str) -> u16 {
        self.get("/openapi.json", key).map_or(0, |r| r.0)
    }

    /// The value of sample `name` in `/metrics`, read with `key`.
    fn sample(&self, key: &str, name: &str) -> Option<f64> {
        let (_, text) = self.get("/metrics", key)?;
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    /// Sends the process SIGHUP (`kill -HUP`).
    fn hangup(&self) {
        let hup = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .expect("kill -HUP");
        assert!(hup.success(), "kill -HUP: {hup}");
    }

    /// `(VmRSS, VmHWM)` of the process, in KiB, from /proc/PID/status.
    fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status of voxcap serve");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| {
                    l.strip_prefix(name)?
                        .trim()
                        .strip_suffix(" kB")?
                        .parse()
                        .ok()
                })
                .unwrap_or_else(|| panic!("no {name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// One HTTP/1.1 request on loopback (`Connection: close`), with `key` as
/// a bearer token: the status and body, or `None` without an answer.
fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = key.map_or(String::new(), |k| format!("Authorization: Bearer {k}\r\n"));
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_string()))
}

/// Writes `text` to a sibling temp file and renames it over `path`.
fn replace_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Waits up to `limit` for `cond`; returns how long it took.
async fn within(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn keys_file(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("api-keys");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_reloads_a_rewritten_keys_file_and_on_sighup() {
    let rt = runtime();
    rt.block_on(async {
        let emu = voxcap_testkit::emulated::start_emulator(0.01).await;
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_file(dir.path(), &format!("{KEY_A}\n"));
        let mut serve = Serve::start(&emu, &keys, &dir.path().join("out")).await;
        assert_eq!((serve.status(KEY_A), serve.status(KEY_B)), (200, 401));

        // Revoke A for B by rewriting the file: the 2 s poll sees it.
        replace_by_rename(&keys, &format!("# rotated\n{KEY_B}\n"));
        let seen = within(
            "the rewrite seen by the poll",
            Duration::from_secs(10),
            || (serve.status(KEY_A), serve.status(KEY_B)) == (401, 200),
        )
        .await;
        println!("keys file rewritten: seen by the poll after {seen:?}");

        // Garbage: B stays, counted once, logged without key material.
        replace_by_rename(&keys, "not a key, and not a secret either\n");
        within("the failure counted", Duration::from_secs(10), || {
            serve.sample(KEY_B, "voxcap_api_keys_reload_failures_total") == Some(1.0)
        })
        .await;
        assert_eq!(serve.status(KEY_B), 200);

        // SIGHUP: a good file written in place is taken at once (the
        // poll may see it first; either way it is in well under a poll).
        std::fs::write(&keys, format!("{KEY_A}\n")).unwrap();
        serve.hangup();
        let seen = within("SIGHUP's reload", Duration::from_secs(10), || {
            (serve.status(KEY_A), serve.status(KEY_B)) == (200, 401)
        })
        .await;
        println!("keys file rewritten and SIGHUP sent: in effect after {seen:?}");
        // An unchanged file is never reloaded by the poll, only by SIGHUP:
        // the reload counter moving proves the signal was handled.
        let reloads = serve
            .sample(KEY_A, "voxcap_api_keys_reloads_total")
            .unwrap();
        serve.hangup();
        let seen = within(
            "SIGHUP on an unchanged file",
            Duration::from_secs(1),
            || serve.sample(KEY_A, "voxcap_api_keys_reloads_total") == Some(reloads + 1.0),
        )
        .await;
        println!("SIGHUP on an unchanged file: reload counted after {seen:?}");
        let log = serve.stderr();
        assert!(log.contains("API keys reloaded"), "{log}");
        assert!(
            log.contains("not reloaded") && log.contains("api-keys"),
            "{log}"
        );
        for secret in [KEY_A, KEY_B, "not a secret"] {
            assert!(!log.contains(secret), "the log shows {secret:?}: {log}");
        }
        assert!(
            serve.child.try_wait().unwrap().is_none(),
            "SIGHUP ended serve"
        );
    });
}

/// How many recordings are pending at once in the RSS test.
const PENDING: usize = 200;

/// Caller `i` speaks for 10 s, then is silent: with a 1 s max-silence
/// timer each recording stays open about 11 s at real time, long enough
/// for all 200 POSTs to be placed and pending together.
fn long_caller(i: usize) -> Value {
    json!({
        "name": "service_rss",
        "seed": i,
        "steps": [{"type": "voice", "ms": 10_000}, {"type": "silence"}]
    })
}

fn kib_to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[test]
fn serve_rss_with_200_recordings_pending() {
    let rt = runtime();
    rt.block_on(async {
        let test_start = Instant::now();
        // Real time: the pending window is the callers' 11 s.
        let emu = voxcap_testkit::emulated::start_emulator(1.0).await;
        let dir = tempfile::tempdir().unwrap();
        let keys = keys_file(dir.path(), &format!("{KEY_A}\n"));
        let serve = Serve::start(&emu, &keys, &dir.path().join("out")).await;
        let webhook = format!("http://127.0.0.1:{}/api/calls", serve.hook_port);
        // The calls are made first (by a bot in this process, for its Graph
        // client), so that the POSTs come in one burst.
        let helper = Bot::start(bot_config(&emu)).await.unwrap();
        let emu = Arc::new(emu);
        let mut making = tokio::task::JoinSet::new();
        for i in 0..PENDING {
            let (client, emu, webhook) = (helper.client().clone(), emu.clone(), webhook.clone());
            making.spawn(async move {
                let caller = long_caller(i);
                create_call(&client, &emu, &webhook, Some(&caller)).await
            });
        }
        let calls: Vec<String> = making.join_all().await.into_iter().map(Result::unwrap).collect();
        let made = test_start.elapsed();
        let (rss0, hwm0) = serve.rss_kib();

        let api_port = serve.api_port;
        let posts: Vec<_> = calls
            .iter()
            .enumerate()
            .map(|(i, call)| {
                let path = format!("/v1/calls/{call}/recordResponse");
                let body = json!({
                    "maxRecordDurationInSeconds": 30,
                    "maxSilenceTimeoutInSeconds": 1,
                    "clientContext": format!("rss-{i}"),
                })
                .to_string();
                tokio::task::spawn_blocking(move || {
                    http(api_port, "POST", &path, Some(KEY_A), &body)
                })
            })
            .collect();
        let posted = Instant::now();
        let mut ids = Vec::with_capacity(PENDING);
        for p in posts {
            let (status, body) = p.await.unwrap().expect("an answer to the POST");
            assert_eq!(status, 202, "{body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            ids.push(v["id"].as_str().unwrap().to_string());
        }
        let answered = posted.elapsed();

        let mut most = 0.0f64;
        within("200 operations pending", Duration::from_secs(9), || {
            let n = serve.sample(KEY_A, "voxcap_operations_pending").unwrap_or(0.0);
            most = most.max(n);
            n >= PENDING as f64
        })
        .await;
        let (rss, hwm) = serve.rss_kib();
        let pending_at = posted.elapsed();
        let per_op = (rss.saturating_sub(rss0)) as f64 / PENDING as f64;
        println!(
            "voxcap serve, {PENDING} pending ({:?} after the first POST; POSTs answered in {answered:?}): \
             VmRSS {:.1} MiB, VmHWM {:.1} MiB; idle before VmRSS {:.1} MiB, VmHWM {:.1} MiB; \
             {per_op:.1} KiB per pending operation (serve up and {PENDING} calls made in {made:?})",
            pending_at,
            kib_to_mib(rss),
            kib_to_mib(hwm),
            kib_to_mib(rss0),
            kib_to_mib(hwm0),
        );
        assert!(
            rss < 256 * 1024,
            "VmRSS {:.1} MiB with {PENDING} pending",
            kib_to_mib(rss)
        );

        // All of them finish, completed.
        let done = "voxcap_recordings{status=\"completed\"}";
        within("all 200 completed", Duration::from_secs(45), || {
            serve.sample(KEY_A, done) == Some(PENDING as f64)
        })
        .await;
        for id in &ids {
            let (status, body) = serve.get(&format!("/v1/recordings/{id}"), KEY_A).unwrap();
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!((status, v["status"].as_str()), (200, Some("completed")), "{body}");
        }
        let (rss_end, hwm_end) = serve.rss_kib();
        println!(
            "all {PENDING} completed {:?} after the first POST: VmRSS {:.1} MiB, VmHWM {:.1} MiB \
             (test wall {:?})",
            posted.elapsed(),
            kib_to_mib(rss_end),
            kib_to_mib(hwm_end),
            test_start.elapsed()
        );
        assert_eq!(serve.sample(KEY_A, "voxcap_operations_pending"), Some(0.0));
        helper.stop().await;
    });
}

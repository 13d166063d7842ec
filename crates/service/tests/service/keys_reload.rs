//! The keys file reloaded without a restart: a file replaced by rename
//! (as an editor, a deploy tool or a Kubernetes secret swap does) revokes
//! the old key and admits the new one within a bound; garbage or a
//! missing file keeps the last good keys and is counted once each.

use std::path::Path;
use std::time::{Duration, Instant};

use voxcap_bot::emulated::EmulatedSetup;
use voxcap_service::keys_reload::KeysFile;
use voxcap_service::{ApiKeys, RunningService, ServiceConfig};
use voxcap_testkit::emulated::emulator_config;

use crate::harness::Harness;

const KEY_A: &str = "reload-key-a-0123456789";
const KEY_B: &str = "reload-key-b-0123456789";

/// How long a change may take to be seen with a 50 ms poll (generous for
/// a loaded CI machine; the measured time is printed).
const BOUND: Duration = Duration::from_secs(5);

/// Writes `text` to a sibling temp file, then renames it over `path`.
fn replace_by_rename(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn status(h: &Harness, key: &str, path: &str) -> u16 {
    let r = h
        .http
        .get(h.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

/// The value of the sample `name` in `/metrics` (read with `key`).
async fn sample(h: &Harness, key: &str, name: &str) -> Option<u64> {
    let r = h
        .http
        .get(h.url("/metrics"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until `key_ok` is accepted and `key_refused` refused; returns how long it took.
async fn wait_keys(h: &Harness, key_ok: &str, key_refused: &str) -> Duration {
    let start = Instant::now();
    loop {
        let ok = status(h, key_ok, "/openapi.json").await;
        let refused = status(h, key_refused, "/openapi.json").await;
        if (ok, refused) == (200, 401) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "after {BOUND:?}: {ok} and {refused}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn wait_failures(h: &Harness, key: &str, n: u64) {
    let start = Instant::now();
    while sample(h, key, "voxcap_api_keys_reload_failures_total").await != Some(n) {
        assert!(
            start.elapsed() < BOUND,
            "no {n} reload failures within {BOUND:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_renamed_keys_file_revokes_the_old_key_and_garbage_keeps_the_last_good_one() {
    voxcap_testkit::emulated::log_from_env("SERVICE_LOG");
    let setup = EmulatedSetup::start(emulator_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api-keys");
    std::fs::write(&path, format!("# key A\n{KEY_A}\n")).unwrap();
    let (keys, mut file) = KeysFile::open(&path, ApiKeys::default()).unwrap();
    file.poll = Duration::from_millis(50);
    let mut config = ServiceConfig::new(([127, 0, 0, 1], 0).into(), keys, dir.path().join("out"));
    config.keys_file = Some(file);
    let service = RunningService::start(config, setup.bot.recorder())
        .await
        .unwrap();
    let h = Harness {
        setup,
        service,
        http: reqwest::Client::new(),
        dir,
    };
    assert_eq!(status(&h, KEY_A, "/openapi.json").await, 200);
    assert_eq!(status(&h, KEY_B, "/openapi.json").await, 401);

    replace_by_rename(&path, &format!("# rotated: B only\n{KEY_B}\n"));
    let seen = wait_keys(&h, KEY_B, KEY_A).await;
    println!("keys file replaced by rename: seen after {seen:?} (50 ms poll)");
    assert_eq!(
        sample(&h, KEY_B, "voxcap_api_keys_reloads_total").await,
        Some(1)
    );
    assert_eq!(
        sample(&h, KEY_B, "voxcap_api_keys_reload_failures_total").await,
        Some(0)
    );

    // Garbage, then nothing at all: B stays, A stays out, each counted once.
    replace_by_rename(&path, "this is not a key\n");
    wait_failures(&h, KEY_B, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sample(&h, KEY_B, "voxcap_api_keys_reload_failures_total").await,
        Some(1)
    );
    assert_eq!(status(&h, KEY_B, "/openapi.json").await, 200);
    assert_eq!(status(&h, KEY_A, "/openapi.json").await, 401);
    std::fs::remove_file(&path).unwrap();
    wait_failures(&h, KEY_B, 2).await;
    assert_eq!(status(&h, KEY_B, "/v1/recordings").await, 200);
    assert_eq!(status(&h, KEY_A, "/v1/recordings").await, 401);

    // A good file again: A is back, and the reload counted.
    replace_by_rename(&path, &format!("{KEY_A}\n{KEY_B}\n"));
    let start = Instant::now();
    while status(&h, KEY_A, "/openapi.json").await != 200 {
        assert!(start.elapsed() < BOUND, "key A not back within {BOUND:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        sample(&h, KEY_A, "voxcap_api_keys_reloads_total").await,
        Some(2)
    );
    h.stop().await;
}

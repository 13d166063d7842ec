//! Latency from the completion notification leaving Graph to the analysis of
//! the recording being complete, on loopback, for a 5-second 16 kHz 16-bit
//! mono WAV (160,044 bytes, the size Graph's example implies).
//!
//! Target (issue 7): under 50 ms from notification to report. Each iteration
//! runs the real flow: JWT-verified webhook → tracker → handle resolves →
//! `updateRecordingStatus(recording)` → streaming download into a temp file
//! and a trivial analysis closure that reads every byte → fsync + rename.
//! The clock starts when the mock begins POSTing the notification and stops
//! when `download_and_analyze` returns.

#[path = "../tests/harness/mod.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::mock_graph::{MockGraph, Scenario, APP_ID};
use harness::{start_bot, wav, Auth, Credentials};
use std::time::{Duration, Instant};
use voxcap_capture::download::{download_and_analyze, DownloadOptions};
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::{RecordOptions, RecordingEnd, RecordingPermit, TrackerConfig};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let audio = wav(5.0, 42);
    let (mock, bot, dir) = rt.block_on(async {
        let mock = MockGraph::start().await;
        let bot = start_bot(
            &mock.graph_url(),
            Credentials::Static("bench-token"),
            Auth::Jwt {
                openid_url: mock.openid_url(),
                audience: APP_ID.into(),
            },
            TrackerConfig::default(),
        )
        .await;
        mock.set_callback(&bot.webhook_url);
        let mut sc = Scenario::normal(audio.clone());
        sc.notify_delay = Duration::from_millis(1);
        mock.script("call-bench", sc);
        (mock, bot, tempfile::tempdir().unwrap())
    });
    let mut group = c.benchmark_group("capture");
    group.throughput(Throughput::Bytes(audio.len() as u64));
    group.sample_size(30);
    group.bench_function("notification_to_analysis_5s_16k_wav", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let req = RecordResponseRequest::default();
                    let handle = bot
                        .tracker
                        .record("call-bench", &req, &RecordOptions::default())
                        .await
                        .unwrap();
                    let rec = handle.completed().await.into_result().unwrap();
                    let permit = RecordingPermit::acquire(&bot.client, "call-bench", "bench")
                        .await
                        .unwrap();
                    let out = dir.path().join(format!("{}.wav", rec.operation_id));
                    let (n, _) = download_and_analyze(
                        bot.client.http(),
                        &rec.location,
                        rec.token.as_ref(),
                        &out,
                        &permit,
                        &DownloadOptions::default(),
                        |mut r| std::io::copy(&mut r, &mut std::io::sink()).unwrap(),
                    )
                    .await
                    .unwrap();
                    let done = Instant::now();
                    assert_eq!(n, audio.len() as u64);
                    permit
                        .release(&bot.client, RecordingEnd::Finished)
                        .await
                        .unwrap();
                    std::fs::remove_file(out).unwrap();
                    let sent = *mock.state.notified_at.lock().unwrap().last().unwrap();
                    done - sent
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

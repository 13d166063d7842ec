//! Latency from the completion notification leaving Graph to the analysis of
//! the recording being complete, on loopback, for a 5-second 16 kHz 16-bit
//! mono WAV (160,044 bytes, the size Graph's example implies).
//!
//! Target (issue 7): under 50 ms from notification to report. Each iteration
//! runs the real flow: JWT-verified webhook → tracker → handle resolves →
//! `updateRecordingStatus(recording)` → streaming download into a temp file
//! and a trivial analysis closure that reads every byte → fsync + rename.
//! The clock starts when voxcap-emulator begins POSTing the notification
//! (its delivery log) and stops when `download_and_analyze` returns.

// The latency bench uses a few of the test harness's helpers, not all.
#[allow(dead_code)]
#[path = "../tests/capture/harness.rs"]
mod harness;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use harness::{start_bot, Auth, Credentials, Graph, APP_ID};
use std::time::{Duration, SystemTime};
use voxcap_capture::download::{download_and_analyze, DownloadOptions};
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_capture::{RecordOptions, RecordingEnd, RecordingPermit, TrackerConfig};
use voxcap_emulator::server::default_scenario;
use voxcap_emulator::EmulatorConfig;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Simulated time does not pass: the recording is ready at once, so
    // only the measured path takes time.
    let (graph, bot, call, dir) = rt.block_on(async {
        let graph = Graph::start_with(EmulatorConfig {
            time_scale: 0.0,
            ..EmulatorConfig::default()
        })
        .await;
        let bot = start_bot(
            &graph.graph_url(),
            Credentials::Static(graph.app_token().await),
            Auth::Jwt {
                openid_url: graph.openid_url(),
                audience: APP_ID.into(),
            },
            TrackerConfig::default(),
        )
        .await;
        let call = graph.call(&bot.webhook_url, &default_scenario()).await;
        (graph, bot, call, tempfile::tempdir().unwrap())
    });
    // Graph's defaults (5 s max duration) make a 5-second recording.
    let audio_len: u64 = 160_044;
    let mut group = c.benchmark_group("capture");
    group.throughput(Throughput::Bytes(audio_len));
    group.sample_size(30);
    group.bench_function("notification_to_analysis_5s_16k_wav", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(async {
                    let req = RecordResponseRequest::default();
                    let handle = bot
                        .tracker
                        .record(&call, &req, &RecordOptions::default())
                        .await
                        .unwrap();
                    let rec = handle.completed().await.into_result().unwrap();
                    let permit = RecordingPermit::acquire(&bot.client, &call, "bench")
                        .await
                        .unwrap();
                    let out = dir.path().join(format!("{}.wav", rec.operation_id));
                    let (n, _) = download_and_analyze(
                        bot.client.http(),
                        &rec.location,
                        rec.token.as_ref(),
                        &out,
                        &permit,
                        &DownloadOptions {
                            policy: voxcap_capture::DownloadPolicy::loopback_http(),
                            ..DownloadOptions::default()
                        },
                        |mut r| std::io::copy(&mut r, &mut std::io::sink()).unwrap(),
                    )
                    .await
                    .unwrap();
                    let done = SystemTime::now();
                    assert_eq!(n, audio_len);
                    permit
                        .release(&bot.client, RecordingEnd::Finished)
                        .await
                        .unwrap();
                    std::fs::remove_file(out).unwrap();
                    let sent = graph
                        .emu
                        .deliveries()
                        .iter()
                        .rev()
                        .find(|d| d.has_record_operation())
                        .map(|d| d.at)
                        .unwrap();
                    done.duration_since(sent).unwrap_or(Duration::ZERO)
                });
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

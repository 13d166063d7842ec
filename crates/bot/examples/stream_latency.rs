//! Measures `streamWhileRecording` at real time (issue 16): a 60 s
//! recording through the legacy `record` action against an in-process
//! emulator running at real time, analysed while it is made; prints how
//! long after the completion notification the report was ready, and when
//! each digit was seen relative to the completion. `--baseline` runs the
//! same caller without streaming, for comparison.
//!
//! ```text
//! cargo run -p voxcap-bot --example stream_latency [-- --baseline]
//! ```
//!
//! Not a test: it takes a minute of real time per run, and timing belongs
//! in measurements, not in pass/fail.

#![allow(clippy::print_stdout)]

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde_json::json;
use voxcap_bot::emulated::EmulatedSetup;
use voxcap_bot::{ApiKind, LiveEvent, LiveEvents, RecordPlan, RecordSpec};
use voxcap_emulator::EmulatorConfig;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let baseline = std::env::args().any(|a| a == "--baseline");
    // RUST_LOG=voxcap_bot=debug,voxcap_capture=debug shows where the time goes.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let config = EmulatorConfig {
        time_scale: 1.0,
        ..EmulatorConfig::default()
    };
    let setup = EmulatedSetup::start(config).await?;
    // Ten rounds of 4 s of speech and a key press: 60 s, ended by
    // maxRecordDurationInSeconds.
    let mut steps = Vec::new();
    for digit in ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"] {
        steps.push(json!({"type": "voice", "ms": 4000}));
        steps.push(json!({"type": "pause", "ms": 500}));
        steps.push(json!({"type": "press", "digit": digit, "ms": 150}));
        steps.push(json!({"type": "pause", "ms": 1350}));
    }
    steps.push(json!({"type": "silence"}));
    let scenario = json!({"seed": 60, "steps": steps});
    let call = setup.create_call(Some(&scenario)).await?;
    let dir = tempfile::tempdir()?;
    let spec = RecordSpec {
        max_record_s: 60,
        ..RecordSpec::default()
    };
    let digits: Arc<Mutex<Vec<(SystemTime, char)>>> = Arc::default();
    let seen = digits.clone();
    let plan = RecordPlan {
        stream_while_recording: !baseline,
        live_events: Some(LiveEvents::new(move |e| {
            if let LiveEvent::Digit { digit, .. } = e {
                seen.lock().unwrap().push((SystemTime::now(), *digit));
            }
        })),
        ..RecordPlan::new(ApiKind::LegacyRecord, &spec, dir.path())
    };
    let started = std::time::Instant::now();
    let o = setup.bot.record(&call, &plan).await?;
    let report = o.report.as_ref().expect("a recorded outcome");
    let completion = setup
        .emulator
        .deliveries()
        .iter()
        .rev()
        .find(|d| d.has_record_operation())
        .map(|d| d.at)
        .expect("a completion notification");
    let written = std::fs::metadata(o.json_path.as_ref().expect("a report file"))?.modified()?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!(
        "{}: {:.1} s recording, {} digits in the report, streamed: {}, record() took {:.1} s",
        if baseline {
            "baseline"
        } else {
            "streamWhileRecording"
        },
        report.duration_s,
        report.dtmf.len(),
        o.streamed,
        started.elapsed().as_secs_f64()
    );
    println!(
        "completion received -> report written: {:.1} ms (bot's clock)",
        ms(o.notification_to_report.unwrap_or_default())
    );
    println!(
        "completion POST started -> report file written: {:.1} ms (emulator's log, file mtime)",
        ms(written.duration_since(completion).unwrap_or_default())
    );
    for (at, digit) in digits.lock().unwrap().iter() {
        let before = completion.duration_since(*at).map(|d| d.as_secs_f64());
        match before {
            Ok(s) => println!("digit {digit}: seen {s:.2} s before the completion was sent"),
            Err(e) => println!(
                "digit {digit}: seen {:.2} s after the completion was sent",
                e.duration().as_secs_f64()
            ),
        }
    }
    setup.stop().await;
    Ok(())
}

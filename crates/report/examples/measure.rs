//! Measures a large report: `cargo run --release -p voxcap-report --example
//! measure -- [N] [DIR]` generates N 5-second recordings (default 1,000)
//! into DIR (default a temp dir), analyses them, then writes
//! `DIR/report.html` (+ `DIR/report_files/`) on two threads, and prints the
//! times and sizes. Run it under `/usr/bin/time -v` for the peak RSS.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use voxcap_dsp::synth;
use voxcap_dsp::verify::{RecordSettings, ReportedOutcome};
use voxcap_dsp::{analyze_reader, AnalysisConfig, Report};
use voxcap_report::{Entry, ReportOptions, ReviewReport};

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |it| {
        it.filter_map(Result::ok)
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum()
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let temp = tempfile::tempdir()?;
    let dir = args
        .next()
        .map_or_else(|| temp.path().to_path_buf(), PathBuf::from);
    std::fs::create_dir_all(&dir)?;
    let settings = RecordSettings {
        stop_tones: vec!['#'],
        ..RecordSettings::default()
    };
    let config = AnalysisConfig {
        settings: settings.clone(),
        reported: ReportedOutcome {
            completion_reason: Some("stopToneDetected".into()),
            subcode: None,
        },
        ..AnalysisConfig::default()
    };
    let started = Instant::now();
    let paths: Vec<PathBuf> = (0..n)
        .map(|i| dir.join(format!("clip-{i:05}.wav")))
        .collect();
    for (i, p) in paths.iter().enumerate() {
        if !p.exists() {
            // A caller: phrases with key presses, then a `#` near the end.
            let mut x = synth::caller_bursts(i as u64, 4.6, 8000);
            x.extend(synth::dtmf_press(&synth::DtmfPress::new('#', 0.15), 8000));
            x.extend(synth::silence(synth::samples_for(0.25, 8000)));
            std::fs::write(p, synth::wav_pcm16_mono(&x, 8000))?;
        }
    }
    println!(
        "generated {n} clips in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let reports: Vec<Report> = paths
        .iter()
        .map(|p| {
            analyze_reader(&p.display().to_string(), std::fs::File::open(p)?, &config)
                .map_err(anyhow::Error::from)
        })
        .collect::<anyhow::Result<_>>()?;
    println!(
        "analysed them in {:.2} s (one thread)",
        started.elapsed().as_secs_f64()
    );
    let out = dir.join("report.html");
    let started = Instant::now();
    let options = ReportOptions {
        expected_recordings: n,
        ..ReportOptions::default()
    };
    let mut report = ReviewReport::create(&out, options)?;
    let items: Vec<(&PathBuf, &Report)> = paths.iter().zip(&reports).collect();
    report.add_parallel(&items, 2, |renderer, index, (path, r)| {
        let name = path.display().to_string();
        let entry = Entry {
            path,
            name: &name,
            result: Ok(r),
            settings: &settings,
        };
        renderer.render(index, &entry)
    })?;
    report.finish()?;
    let secs = started.elapsed().as_secs_f64();
    let html = std::fs::metadata(&out)?.len();
    let files = dir_size(&dir.join("report_files"));
    println!(
        "report of {n} recordings written in {secs:.2} s on 2 threads: HTML {:.1} MB, report_files/ {:.1} MB ({:.0} kB per figure)",
        html as f64 / 1e6,
        files as f64 / 1e6,
        files as f64 / 1e3 / n.max(1) as f64
    );
    Ok(())
}

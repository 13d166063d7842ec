//! Runs the analysis over one half of the speech evaluation set
//! (`scripts/speech-set/prepare.sh`) and prints each clip's report as one JSON
//! line, the input `scripts/speech-set/score.py` reads (the same fields as
//! `voxcap analyze --format json`, without building the CLI).
//!
//! Usage: `cargo run --release -p voxcap-dsp --example speech_set -- SET_DIR HALF [--model PATH]`
//! (HALF: `tune`, `held` or `all`). With `--model` (feature `neural`), Silero's
//! model at PATH is fused into the speech detector; `--onset P`, `--offset P`
//! and `--lag MS` override the fusion's tuned thresholds (for tuning on the
//! tuning half only).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use serde_json::Value;
use voxcap_dsp::analysis::{analyze_reader, AnalysisConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(half)) = (args.next(), args.next()) else {
        return Err(
            "usage: speech_set SET_DIR HALF [--model PATH [--onset P] [--offset P] [--lag MS]]"
                .into(),
        );
    };
    let options: Vec<String> = args.collect();
    let config = config(&options)?;
    let manifest: Value =
        serde_json::from_reader(std::fs::File::open(format!("{dir}/manifest.json"))?)?;
    let clips = manifest["clips"]
        .as_array()
        .ok_or("manifest.json has no clips")?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for clip in clips {
        if half != "all" && clip["half"] != half.as_str() {
            continue;
        }
        let file = clip["file"].as_str().ok_or("clip without a file")?;
        let reader = std::io::BufReader::new(std::fs::File::open(format!("{dir}/{file}"))?);
        match analyze_reader(file, reader, &config) {
            Ok(report) => serde_json::to_writer(&mut out, &report)?,
            Err(e) => eprintln!("{file}: {e}"),
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The analysis settings: the defaults, with the fused model when asked.
#[cfg(feature = "neural")]
fn config(options: &[String]) -> Result<AnalysisConfig, Box<dyn std::error::Error>> {
    use voxcap_dsp::vad::neural::NeuralVad;
    use voxcap_dsp::vad::silero::SileroModel;
    let mut config = AnalysisConfig::default();
    let mut it = options.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        if flag == "--model" {
            let file = std::fs::File::open(value).map_err(|e| format!("{value}: {e}"))?;
            let model = SileroModel::from_reader(file).map_err(|e| format!("{value}: {e}"))?;
            config.speech_model = Some(NeuralVad::new(model, value.as_str()));
            continue;
        }
        let neural = config
            .speech_model
            .as_mut()
            .ok_or(format!("{flag} comes after --model"))?;
        match flag.as_str() {
            "--onset" => neural.onset = value.parse()?,
            "--offset" => neural.offset = value.parse()?,
            "--lag" => neural.lag_ms = value.parse()?,
            "--stretch" => neural.stretch_ms = value.parse()?,
            "--low-snr-onset-pad" => neural.low_snr_onset_pad_ms = value.parse()?,
            "--onset-pad" => neural.onset_pad_ms = value.parse()?,
            _ => return Err(format!("unknown option {flag}").into()),
        }
    }
    Ok(config)
}

/// The analysis settings: the defaults (no model without feature `neural`).
#[cfg(not(feature = "neural"))]
fn config(options: &[String]) -> Result<AnalysisConfig, Box<dyn std::error::Error>> {
    match options.first() {
        None => Ok(AnalysisConfig::default()),
        Some(flag) => Err(format!("{flag}: build with --features neural").into()),
    }
}

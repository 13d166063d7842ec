//! Runs the analysis over one half of the speech evaluation set
//! (`scripts/speech-set/prepare.sh`) and prints each clip's report as one JSON
//! line, the input `scripts/speech-set/score.py` reads (the same fields as
//! `voxcap analyze --format json`, without building the CLI).
//!
//! Usage: `cargo run --release -p voxcap-dsp --example speech_set -- SET_DIR HALF`
//! (HALF: `tune`, `held` or `all`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use serde_json::Value;
use voxcap_dsp::analysis::{analyze_reader, AnalysisConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(half)) = (args.next(), args.next()) else {
        return Err("usage: speech_set SET_DIR HALF".into());
    };
    let manifest: Value =
        serde_json::from_reader(std::fs::File::open(format!("{dir}/manifest.json"))?)?;
    let clips = manifest["clips"]
        .as_array()
        .ok_or("manifest.json has no clips")?;
    let config = AnalysisConfig::default();
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

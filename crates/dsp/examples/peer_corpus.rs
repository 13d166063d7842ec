//! Generates the corpus of `scripts/compare-peers.sh`: DTMF strings across
//! the Q.24 acceptance envelope, and the committed speech fixtures placed at
//! known offsets in white and pink noise, as 8 kHz PCM16 WAVs with their
//! ground truth in `truth.json`.
//!
//! Usage: `cargo run --release -p voxcap-dsp --example peer_corpus -- OUTDIR`
//!
//! Layout: `OUTDIR/dtmf/*.wav`, `OUTDIR/speech/*.wav`, `OUTDIR/truth.json`.
//! Truth positions are sample indices at 8 kHz. Speech truth is derived from
//! the clean fixture before noise is added, by the speech tests' rule
//! (`voxcap_testkit::speech::speech_truth`).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use voxcap_dsp::keypad::DTMF_DIGITS;
use voxcap_dsp::synth::{self, DtmfPress, Rng};
use voxcap_testkit::speech::{speech_fixtures, speech_truth, FIXTURE_RATE};

const RATE: u32 = FIXTURE_RATE;

/// One DTMF condition: how every press of its clips is rendered.
struct DtmfCondition {
    name: &'static str,
    on_s: f64,
    off_s: f64,
    level_dbfs: f32,
    twist_db: f32,
    low_offset: f64,
    high_offset: f64,
    /// A silent gap of this length in the middle of each tone (Q.24: an
    /// interruption of up to 10 ms must not split a digit).
    dropout_s: f64,
    /// White noise at this SNR (over the tones), or none.
    snr_db: Option<f32>,
}

const fn cond(name: &'static str) -> DtmfCondition {
    DtmfCondition {
        name,
        on_s: 0.08,
        off_s: 0.08,
        level_dbfs: -10.0,
        twist_db: 0.0,
        low_offset: 0.0,
        high_offset: 0.0,
        dropout_s: 0.0,
        snr_db: None,
    }
}

fn dtmf_conditions() -> Vec<DtmfCondition> {
    vec![
        cond("nominal"),
        DtmfCondition {
            low_offset: 0.015,
            high_offset: 0.015,
            ..cond("offset+1.5%")
        },
        DtmfCondition {
            low_offset: -0.015,
            high_offset: -0.015,
            ..cond("offset-1.5%")
        },
        DtmfCondition {
            low_offset: 0.015,
            high_offset: -0.015,
            ..cond("offset+1.5/-1.5%")
        },
        DtmfCondition {
            twist_db: -8.0,
            ..cond("twist-8dB")
        },
        DtmfCondition {
            twist_db: 4.0,
            ..cond("twist+4dB")
        },
        DtmfCondition {
            level_dbfs: -39.0,
            ..cond("level-39dBFS")
        },
        DtmfCondition {
            on_s: 0.04,
            off_s: 0.04,
            ..cond("40ms-on/40ms-off")
        },
        DtmfCondition {
            dropout_s: 0.010,
            ..cond("10ms-dropout")
        },
        DtmfCondition {
            snr_db: Some(20.0),
            ..cond("white-snr20")
        },
        DtmfCondition {
            snr_db: Some(15.0),
            ..cond("white-snr15")
        },
        DtmfCondition {
            snr_db: Some(10.0),
            ..cond("white-snr10")
        },
        DtmfCondition {
            on_s: 0.05,
            off_s: 0.05,
            level_dbfs: -30.0,
            twist_db: -8.0,
            low_offset: -0.015,
            high_offset: 0.015,
            snr_db: Some(15.0),
            ..cond("combined-50ms-30dBFS-twist-8-offsets-snr15")
        },
    ]
}

/// Clips per DTMF condition, and digits per clip.
const DTMF_CLIPS: usize = 6;
const DIGITS_PER_CLIP: usize = 8;

fn dtmf_clip(c: &DtmfCondition, seed: u64) -> (Vec<f32>, Vec<Value>) {
    let mut rng = Rng::new(seed);
    let lead = synth::samples_for(0.3, RATE);
    let mut x = synth::silence(lead);
    let mut presses = Vec::new();
    let mut spans = Vec::new();
    for _ in 0..DIGITS_PER_CLIP {
        let digit = DTMF_DIGITS[(rng.next_u64() % 16) as usize];
        let press = DtmfPress {
            digit,
            duration_s: c.on_s,
            level_dbfs: c.level_dbfs,
            twist_db: c.twist_db,
            low_offset: c.low_offset,
            high_offset: c.high_offset,
        };
        let mut tone = synth::dtmf_press(&press, RATE);
        if c.dropout_s > 0.0 {
            let gap = synth::samples_for(c.dropout_s, RATE);
            let mid = tone.len() / 2 - gap / 2;
            tone[mid..mid + gap].iter_mut().for_each(|v| *v = 0.0);
        }
        let start = x.len();
        x.extend_from_slice(&tone);
        spans.push(start..x.len());
        presses.push(json!({"digit": digit.to_string(), "start": start, "end": x.len()}));
        x.extend(synth::silence(synth::samples_for(c.off_s, RATE)));
    }
    x.extend(synth::silence(synth::samples_for(0.3, RATE)));
    if let Some(snr) = c.snr_db {
        // SNR against the tones' power while they sound.
        let tones: Vec<f32> = spans.iter().flat_map(|s| x[s.clone()].to_vec()).collect();
        let s_db = synth::rms_dbfs(&tones);
        let noise = synth::white_noise(seed ^ 0x5eed, s_db - snr, x.len());
        x.iter_mut().zip(&noise).for_each(|(v, n)| *v += n);
    }
    (x, presses)
}

/// The committed speech fixtures as (file stem, samples at 8 kHz).
fn fixtures() -> Vec<(String, Vec<f32>)> {
    speech_fixtures()
        .into_iter()
        .map(|f| (f.stem().to_string(), f.samples))
        .collect()
}

fn write_wav(path: &Path, x: &[f32]) {
    std::fs::write(path, synth::wav_pcm16_mono(x, RATE))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// `--speed FILE...`: in-memory throughput of the DTMF detector, the speech
/// detector and the whole analysis over the given 8 kHz WAVs, the median of 5 passes, as one
/// JSON line (the figure compared with spandsp's driver, which also times
/// passes over audio already in memory).
fn speed(files: &[String]) {
    use std::time::Instant;
    use voxcap_dsp::dtmf::{DtmfConfig, DtmfDetector};
    let wavs: Vec<std::sync::Arc<[u8]>> = files
        .iter()
        .map(|f| {
            std::fs::read(f)
                .unwrap_or_else(|e| panic!("{f}: {e}"))
                .into()
        })
        .collect();
    let clips: Vec<Vec<f32>> = wavs
        .iter()
        .zip(files)
        .map(|(w, f)| {
            let (info, x) =
                voxcap_dsp::decode::decode_all(w).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert_eq!(info.sample_rate, RATE, "{f}: --speed takes 8 kHz files");
            x
        })
        .collect();
    let samples: usize = clips.iter().map(Vec::len).sum();
    let median_of_5 = |f: &mut dyn FnMut()| {
        let mut t: Vec<f64> = (0..5)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[2]
    };
    let mut events = Vec::new();
    let dtmf_s = median_of_5(&mut || {
        for x in &clips {
            let mut det = DtmfDetector::new(DtmfConfig::at_rate(RATE)).expect("detector");
            for c in x.chunks(4096) {
                det.push(c, &mut events);
            }
            det.finish(&mut events);
            events.clear();
        }
    });
    let vad_s = median_of_5(&mut || {
        for x in &clips {
            let mut vad = voxcap_dsp::vad::SpeechDetector::with_rate(RATE).expect("vad");
            for c in x.chunks(4096) {
                vad.push(c);
            }
            std::hint::black_box(vad.finish());
        }
    });
    let config = voxcap_dsp::AnalysisConfig::default();
    let analysis_s = median_of_5(&mut || {
        for w in &wavs {
            let r = voxcap_dsp::analyze_reader(
                "speed",
                std::io::Cursor::new(std::sync::Arc::clone(w)),
                &config,
            )
            .expect("analysis");
            std::hint::black_box(r);
        }
    });
    println!(
        "{}",
        json!({
            "files": files.len(), "samples": samples, "rate": RATE,
            "dtmf_samples_per_s": samples as f64 / dtmf_s,
            "vad_samples_per_s": samples as f64 / vad_s,
            "analysis_samples_per_s": samples as f64 / analysis_s,
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "--speed") {
        return speed(&args[1..]);
    }
    let out = PathBuf::from(std::env::args().nth(1).expect("usage: peer_corpus OUTDIR"));
    for sub in ["dtmf", "speech"] {
        std::fs::create_dir_all(out.join(sub))
            .unwrap_or_else(|e| panic!("{}: {e}", out.join(sub).display()));
    }

    let mut dtmf = Vec::new();
    for (ci, c) in dtmf_conditions().iter().enumerate() {
        for k in 0..DTMF_CLIPS {
            let seed = 1000 * ci as u64 + k as u64 + 1;
            let (x, presses) = dtmf_clip(c, seed);
            let file = format!("dtmf/c{ci:02}_{k}.wav");
            write_wav(&out.join(&file), &x);
            dtmf.push(json!({
                "file": file, "condition": c.name, "samples": x.len(), "presses": presses,
            }));
        }
    }

    let mut speech = Vec::new();
    for (fi, (name, clean)) in fixtures().iter().enumerate() {
        let truth: Vec<(usize, usize)> = speech_truth(clean)
            .into_iter()
            .map(|s| (s.start, s.end))
            .collect();
        let (Some(first), Some(last)) = (truth.first(), truth.last()) else {
            continue;
        };
        for (noise_kind, snr) in [
            ("white", 20.0),
            ("white", 10.0),
            ("white", 5.0),
            ("pink", 20.0),
            ("pink", 10.0),
            ("pink", 5.0),
        ] {
            let seed = 100 * fi as u64 + snr as u64 + if noise_kind == "pink" { 50 } else { 0 };
            let mut rng = Rng::new(seed);
            let lead = synth::samples_for(0.5 + rng.next_f64(), RATE);
            let tail = synth::samples_for(1.0 + rng.next_f64(), RATE);
            let mut x = synth::silence(lead);
            // 6 dB of headroom: the fixtures peak near full scale, and the
            // noise must not clip them.
            x.extend(clean.iter().map(|v| v * 0.5));
            x.extend(synth::silence(tail));
            let noise = if noise_kind == "pink" {
                synth::pink_noise(seed, -30.0, x.len())
            } else {
                synth::white_noise(seed, -30.0, x.len())
            };
            // SNR over the labelled speech span.
            synth::mix_at_snr(&mut x, &noise, snr, lead + first.0..lead + last.1);
            let file = format!("speech/{name}_{noise_kind}{snr:.0}.wav");
            write_wav(&out.join(&file), &x);
            let segs: Vec<[usize; 2]> = truth.iter().map(|&(s, e)| [lead + s, lead + e]).collect();
            speech.push(json!({
                "file": file, "condition": format!("{noise_kind} noise, SNR {snr:.0} dB"),
                "samples": x.len(), "segments": segs,
                "onset": lead + first.0, "offset": lead + last.1,
            }));
        }
    }

    let truth = json!({"rate": RATE, "dtmf": dtmf, "speech": speech});
    let path = out.join("truth.json");
    std::fs::write(&path, serde_json::to_string_pretty(&truth).expect("json"))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!(
        "peer_corpus: {} DTMF clips, {} speech clips in {}",
        dtmf.len(),
        speech.len(),
        out.display()
    );
}

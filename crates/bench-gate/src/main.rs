//! CI performance gate: times each hot path of voxcap-dsp as a ratio against
//! a trivial baseline loop run in the same process on the same data, and
//! exits non-zero when a ratio falls below its floor.
//!
//! Absolute times on a shared CI machine swing by 2-5x with load and clock
//! scaling; a ratio to a baseline measured moments before on the same bytes
//! cancels most of that. The baseline is "read every sample and add it up"
//! (a sequential float sum, which the compiler cannot vectorise and so runs at
//! a fixed number of cycles per sample on any x86 or ARM core).
//!
//! Each round times the baseline, repeated so that it lasts about as long as
//! the path, then the path; both are equally exposed to preemption. The
//! reported ratio is the baseline's fastest round over the path's median
//! round, baseline_ns / path_ns (higher is faster; a ratio of 0.1 means the path costs ten baseline passes).
//!
//! The analysis paths: the default one (16 kHz WAV; speech frames classified
//! on a worker thread), the same at 8 kHz on one thread (the per-core
//! cost), and that with Silero fused into the speech detector. The fused
//! path needs the model: `VOXCAP_SILERO_MODEL`, else where scripts/test
//! fetches it ([`DEFAULT_MODEL`]); without it the path is skipped, except
//! under `CI`, where that is a failure.
//!
//! Run: `scripts/bench-gate` (or `cargo run --release -p voxcap-bench-gate`).
//! `BENCH_GATE_ROUNDS` overrides the number of rounds.

// A command-line tool: it prints its table.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::io::Cursor;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use voxcap_dsp::dtmf::{DtmfConfig, DtmfDetector};
use voxcap_dsp::resample::StreamResampler;
use voxcap_dsp::synth::{self, DtmfPress};
use voxcap_dsp::vad::neural::NeuralVad;
use voxcap_dsp::vad::silero::SileroModel;
use voxcap_dsp::vad::SpeechDetector;
use voxcap_dsp::{analyze_reader, AnalysisConfig, DecodeOptions, WavDecoder};
use voxcap_testkit::speech::{speech_samples, FIXTURE_RATE};

/// Seconds of audio each path processes per round: about 1 ms of work, so
/// that most timed runs fit in one scheduler slice on a loaded machine and
/// the median is a run nobody preempted.
const SECONDS: &[(&str, f64)] = &[
    ("decode pcm16 16k", 20.0),
    ("resample 16k->8k", 20.0),
    ("resample 48k->16k", 4.0),
    ("dtmf 8k", 20.0),
    ("vad 8k", 10.0),
    ("analysis 16k wav", 4.0),
    ("analysis 8k 1 thread", 4.0),
    ("analysis 8k fused", 4.0),
];

fn seconds(name: &str) -> f64 {
    SECONDS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, s)| s)
        .expect("every path has a length")
}

/// Floors on baseline_ns / path_ns. Each is about half the lowest ratio seen
/// on the 2-core development machine at load average 5-7 (other engineers'
/// builds; docs/benchmarks.md). Under that load the ratios moved by about
/// +-10%, so half leaves a 2x margin against flakes, while a hot path made 3x
/// slower (one heap allocation per sample in the DTMF loop) fails.
const FLOORS: &[(&str, f64)] = &[
    ("decode pcm16 16k", 0.60),
    ("resample 16k->8k", 0.080),
    ("resample 48k->16k", 0.050),
    ("dtmf 8k", 0.070),
    ("vad 8k", 0.023),
    ("analysis 16k wav", 0.025),
    // One thread, no model (the per-core cost of the default analysis,
    // which classifies speech on a second thread).
    ("analysis 8k 1 thread", 0.020),
    // One thread, Silero fused in: about half the lowest ratio seen
    // (0.0047-0.0070 in five runs; this path's 5-8 ms rounds are more
    // exposed to the host than the others). Issue 15's target, 500x real
    // time at 8 kHz, is 0.25 us a sample; the baseline (a serial float add)
    // takes about 1.15 ns a sample on the 2-core development machine, so the
    // target as a ratio is 1.15 / 250 = 0.0046, which the table's "x
    // realtime" column shows directly. A floor at the target itself would
    // fail on a loaded runner.
    ("analysis 8k fused", 0.0025),
];

/// Where the Silero model is looked for when `VOXCAP_SILERO_MODEL` is not
/// set: where scripts/test fetches it (scripts/speech-set/fetch-silero.sh).
const DEFAULT_MODEL: &str = "target/corpus/speech-set/silero/silero_vad.onnx";

/// The analysis settings of the fused path: one thread, Silero fused into
/// the speech detector. `None` when the model file is not there.
fn fused_config(base: &AnalysisConfig) -> Result<Option<AnalysisConfig>, String> {
    let path = std::env::var("VOXCAP_SILERO_MODEL").unwrap_or_else(|_| DEFAULT_MODEL.into());
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    let model = SileroModel::from_reader(file).map_err(|e| format!("{path}: {e}"))?;
    Ok(Some(AnalysisConfig {
        speech_model: Some(NeuralVad::new(model, path.as_str())),
        speech_worker: false,
        ..base.clone()
    }))
}

/// Input shared by a baseline and its path.
enum Input {
    Samples(Vec<f32>),
    Wav(Arc<[u8]>),
}

/// The baseline: a sequential sum over every sample of the input.
fn baseline(input: &Input) -> f32 {
    match input {
        Input::Samples(x) => {
            let mut s = 0f32;
            for &v in black_box(x.as_slice()) {
                s += v;
            }
            s
        }
        Input::Wav(bytes) => {
            let mut s = 0f32;
            // Skip the canonical 44-byte header our generator writes.
            for b in black_box(&bytes[44..]).chunks_exact(2) {
                s += f32::from(i16::from_le_bytes([b[0], b[1]])) * (1.0 / 32768.0);
            }
            s
        }
    }
}

/// Decoded blocks are of this many samples when a path feeds a processor.
const BLOCK: usize = 4096;

fn run_path(name: &str, input: &Input, configs: &Configs) -> usize {
    match (name, input) {
        ("decode pcm16 16k", Input::Wav(bytes)) => {
            let mut dec = WavDecoder::new(Cursor::new(Arc::clone(bytes)), DecodeOptions::default())
                .expect("decoder");
            let mut block = Vec::new();
            let mut n = 0;
            while dec.read_block(&mut block).expect("decode") > 0 {
                n += block.len();
            }
            n
        }
        ("resample 16k->8k", Input::Samples(x)) => resample(x, 16_000, 8_000),
        ("resample 48k->16k", Input::Samples(x)) => resample(x, 48_000, 16_000),
        ("dtmf 8k", Input::Samples(x)) => {
            let mut det = DtmfDetector::new(DtmfConfig::at_rate(8_000)).expect("detector");
            let mut events = Vec::new();
            for c in x.chunks(BLOCK) {
                det.push(c, &mut events);
            }
            det.finish(&mut events);
            events.len()
        }
        ("vad 8k", Input::Samples(x)) => {
            let mut vad = SpeechDetector::with_rate(8_000).expect("vad");
            for c in x.chunks(BLOCK) {
                vad.push(c);
            }
            vad.finish().segments.len()
        }
        ("analysis 16k wav", Input::Wav(bytes)) => analyze(bytes, &configs.default),
        ("analysis 8k 1 thread", Input::Wav(bytes)) => analyze(bytes, &configs.one_thread),
        ("analysis 8k fused", Input::Wav(bytes)) => analyze(
            bytes,
            configs
                .fused
                .as_ref()
                .expect("the fused path runs with a model"),
        ),
        _ => unreachable!("no path named {name}"),
    }
}

/// The analysis settings of the analysis paths.
struct Configs {
    /// The default (speech frames classified on a worker thread).
    default: AnalysisConfig,
    /// One thread: the per-core cost.
    one_thread: AnalysisConfig,
    /// One thread, Silero fused in; `None` without the model file.
    fused: Option<AnalysisConfig>,
}

fn analyze(bytes: &Arc<[u8]>, config: &AnalysisConfig) -> usize {
    let r = analyze_reader("gate", Cursor::new(Arc::clone(bytes)), config).expect("analysis");
    black_box(r);
    1
}

fn resample(x: &[f32], from: u32, to: u32) -> usize {
    let mut rs = StreamResampler::new(from, to).expect("resampler");
    let mut out = Vec::with_capacity(x.len());
    for c in x.chunks(BLOCK) {
        rs.push(c, &mut out);
    }
    rs.finish(&mut out);
    out.len()
}

/// A caller's answer at `rate`: speech fixtures laid end to end with pauses,
/// in -50 dBFS line noise, with a few key presses between phrases.
fn answer(fx: &[Vec<f32>], rate: u32, seconds: f64, seed: u64) -> Vec<f32> {
    let n = synth::samples_for(seconds, rate);
    let mut x = synth::white_noise(seed, -50.0, n);
    let mut rng = synth::Rng::new(seed);
    let mut at = synth::samples_for(0.4, rate);
    let digits = ['1', '5', '9', '#'];
    let mut k = 0;
    while at < n {
        let f = &fx[(rng.next_u64() % fx.len() as u64) as usize];
        let len = f.len().min(n - at);
        synth::overlay(&mut x, &f[..len], at);
        at += len + synth::samples_for(0.3, rate);
        if at >= n {
            break;
        }
        let tone = synth::dtmf_press(&DtmfPress::new(digits[k % digits.len()], 0.1), rate);
        k += 1;
        let len = tone.len().min(n - at);
        synth::overlay(&mut x, &tone[..len], at);
        at += len + synth::samples_for(0.3 + rng.next_f64() * 0.4, rate);
    }
    x.truncate(n);
    x
}

/// The committed speech fixtures at `rate`.
fn speech_fixtures(rate: u32) -> Vec<Vec<f32>> {
    speech_samples()
        .into_iter()
        .map(|x| {
            if rate == FIXTURE_RATE {
                return x;
            }
            let mut up = StreamResampler::new(FIXTURE_RATE, rate).expect("resampler");
            let mut out = Vec::new();
            up.push(&x, &mut out);
            up.finish(&mut out);
            out
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let rounds: usize = std::env::var("BENCH_GATE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(31);
    let (fx8, fx16, fx48) = (
        speech_fixtures(8_000),
        speech_fixtures(16_000),
        speech_fixtures(48_000),
    );
    let wav16 = |secs: f64| -> Arc<[u8]> {
        synth::wav_pcm16_mono(&answer(&fx16, 16_000, secs, 2), 16_000).into()
    };
    let wav8 = |secs: f64| -> Arc<[u8]> {
        synth::wav_pcm16_mono(&answer(&fx8, 8_000, secs, 4), 8_000).into()
    };
    let mut config = AnalysisConfig::default();
    config.settings.stop_tones = vec![];
    config.settings.max_record_s = 60.0;
    let fused = match fused_config(&config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("bench-gate: the speech model: {e}");
            return ExitCode::FAILURE;
        }
    };
    if fused.is_none() && std::env::var_os("CI").is_some() {
        eprintln!(
            "bench-gate: FAIL: no speech model for the fused path (VOXCAP_SILERO_MODEL or {DEFAULT_MODEL}; scripts/test fetches it)"
        );
        return ExitCode::FAILURE;
    }
    let configs = Configs {
        one_thread: AnalysisConfig {
            speech_worker: false,
            ..config.clone()
        },
        fused,
        default: config,
    };

    let s = seconds;
    let inputs: Vec<(&str, Input)> = vec![
        ("decode pcm16 16k", Input::Wav(wav16(s("decode pcm16 16k")))),
        (
            "resample 16k->8k",
            Input::Samples(answer(&fx16, 16_000, s("resample 16k->8k"), 2)),
        ),
        (
            "resample 48k->16k",
            Input::Samples(answer(&fx48, 48_000, s("resample 48k->16k"), 3)),
        ),
        (
            "dtmf 8k",
            Input::Samples(answer(&fx8, 8_000, s("dtmf 8k"), 1)),
        ),
        (
            "vad 8k",
            Input::Samples(answer(&fx8, 8_000, s("vad 8k"), 1)),
        ),
        ("analysis 16k wav", Input::Wav(wav16(s("analysis 16k wav")))),
        (
            "analysis 8k 1 thread",
            Input::Wav(wav8(s("analysis 8k 1 thread"))),
        ),
        (
            "analysis 8k fused",
            Input::Wav(wav8(s("analysis 8k fused"))),
        ),
    ];

    println!(
        "bench-gate: {rounds} rounds per path; ratio = baseline_ns / path_ns (higher is faster)"
    );
    println!(
        "{:<20} {:>12} {:>12} {:>8} {:>8} {:>10}  result",
        "path", "baseline ns", "path ns", "ratio", "floor", "x realtime"
    );
    let mut failed = false;
    for (name, input) in &inputs {
        if *name == "analysis 8k fused" && configs.fused.is_none() {
            println!(
                "{name:<20} skipped: no speech model (VOXCAP_SILERO_MODEL or {DEFAULT_MODEL})"
            );
            continue;
        }
        let floor = FLOORS
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, f)| f)
            .expect("every path has a floor");
        // Warm-up, and calibration: repeat the baseline so one timed block of
        // it lasts about as long as one run of the path.
        black_box(run_path(name, input, &configs));
        let t = Instant::now();
        black_box(run_path(name, input, &configs));
        let path_once = t.elapsed().as_secs_f64();
        let t = Instant::now();
        black_box(baseline(input));
        let base_once = t.elapsed().as_secs_f64().max(1e-7);
        let reps = ((path_once / base_once).round() as usize).clamp(1, 1000);

        let (mut base_ns, mut path_ns) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            for _ in 0..reps {
                black_box(baseline(black_box(input)));
            }
            let b = t.elapsed().as_nanos() as f64 / reps as f64;
            let t = Instant::now();
            black_box(run_path(name, black_box(input), &configs));
            let p = t.elapsed().as_nanos() as f64;
            base_ns.push(b);
            path_ns.push(p);
        }
        // The baseline is a fixed loop: noise (preemption, a neighbour on the
        // host) only ever adds to it, and a slow baseline would hide a slow
        // path, so it is taken at its fastest. The path is taken at its median.
        let b = base_ns.iter().copied().fold(f64::INFINITY, f64::min);
        let p = median(&mut path_ns);
        let r = b / p;
        let realtime = seconds(name) / (p * 1e-9);
        let ok = r >= floor;
        failed |= !ok;
        println!(
            "{:<20} {:>12.0} {:>12.0} {:>8.4} {:>8.4} {:>10.0}  {}",
            name,
            b,
            p,
            r,
            floor,
            realtime,
            if ok { "PASS" } else { "FAIL" }
        );
    }
    if failed {
        eprintln!("bench-gate: FAIL: a hot path is slower, relative to the baseline, than its floor allows");
        ExitCode::FAILURE
    } else {
        println!("bench-gate: PASS");
        ExitCode::SUCCESS
    }
}

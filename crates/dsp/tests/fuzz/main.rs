//! An in-process mutation fuzzer for the decoder and the whole analysis,
//! on the stable toolchain.
//!
//! Seeds (`seeds.rs`, one per format the decoder reads) are mutated
//! deterministically (`mutate.rs`: byte and bit flips, truncations,
//! chunk-size and `fmt ` field edits, float payloads, inserted and removed
//! bytes), and each case goes through the decoder alone (strict) and through
//! `analyze_reader` (lenient), under a watchdog (`harness.rs`). A panic, a
//! caught panic (kind `internal`), a hang or a broken invariant (non-finite
//! or out-of-range levels, samples beyond the sanitised range, more frames
//! than bytes) fails the run, and the input is saved to
//! `testdata/malformed/fuzz/`, which `saved_inputs_replay_cleanly` replays
//! on every run.
//!
//! Environment: `VOXCAP_FUZZ_CASES` (cases per seed format; default 800, so
//! about 11 000 cases in total, the CI short run), `VOXCAP_FUZZ_SEED` (the
//! base seed, decimal or 0x-hex; default 0x5EED), `VOXCAP_FUZZ_WORKERS`
//! (threads; default all cores), `VOXCAP_FUZZ_TIMEOUT_S` (per case; default
//! 10), `VOXCAP_FUZZ_SAVE_DIR` (default `testdata/malformed/fuzz`). The long
//! run: `VOXCAP_FUZZ_CASES=100000 cargo test --release -p voxcap-dsp --test
//! fuzz -- --nocapture`.

// Tests print their tables and figures (`--nocapture`).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod harness;
mod mutate;
mod seeds;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use voxcap_dsp::analysis::AnalysisError;
use voxcap_dsp::decode::{DecodeError, DecodeOptions, StreamInfo, WavDecoder, FLOAT_LIMIT};
use voxcap_dsp::levels::{DBFS_CEILING, DBFS_FLOOR};
use voxcap_dsp::{analyze_reader, AnalysisConfig, Report};

use harness::{Campaign, FindingKind, Verdict};

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        }
        Err(_) => default,
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Decodes all of `bytes`, checking the decoder's own invariants: every
/// sample finite and within the sanitised range, no more frames than bytes,
/// and an end in a bounded number of blocks.
fn decode_fully(
    bytes: &[u8],
    lenient: bool,
) -> Result<Result<(StreamInfo, u64), DecodeError>, String> {
    let mut dec = match WavDecoder::new(Cursor::new(bytes.to_vec()), DecodeOptions { lenient }) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e)),
    };
    let mut block = Vec::new();
    // Every block but the last consumes input, so this bound is generous.
    for _ in 0..bytes.len() + 2 {
        match dec.read_block(&mut block) {
            Ok(0) => {
                let info = dec.info().clone();
                let frames = dec.frames_decoded();
                if frames * u64::from(info.block_align) > bytes.len() as u64 {
                    return Err(format!(
                        "{frames} frames of {} bytes from a {}-byte input",
                        info.block_align,
                        bytes.len()
                    ));
                }
                return Ok(Ok((info, frames)));
            }
            Ok(_) => {
                if let Some(v) = block
                    .iter()
                    .find(|v| v.is_nan() || v.abs() > FLOAT_LIMIT * 1.000_001)
                {
                    return Err(format!("decoded sample {v} is outside ±{FLOAT_LIMIT}"));
                }
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Err(format!(
        "decoder still yielding after {} blocks",
        bytes.len() + 2
    ))
}

/// The report's numbers are finite and in range, and its JSON shows them as numbers.
fn check_report(r: &Report) -> Result<(), String> {
    for (name, v) in [("peak_dbfs", r.peak_dbfs), ("rms_dbfs", r.rms_dbfs)] {
        if !(v.is_finite() && (DBFS_FLOOR..=DBFS_CEILING + 0.01).contains(&v)) {
            return Err(format!("{name} = {v}"));
        }
    }
    if !(r.duration_s.is_finite() && r.duration_s >= 0.0) {
        return Err(format!("duration_s = {}", r.duration_s));
    }
    let json = serde_json::to_value(r).map_err(|e| format!("report does not serialise: {e}"))?;
    for key in ["peak_dbfs", "rms_dbfs", "duration_s"] {
        if !json[key].is_number() {
            return Err(format!("JSON {key} is {}", json[key]));
        }
    }
    Ok(())
}

/// The fuzz target: the decoder alone (strict, unguarded, so a panic reaches
/// the harness) and then the whole analysis (lenient, through the guarded
/// entry point, so a panic shows as kind `internal`).
fn analyse(bytes: &[u8]) -> Verdict {
    let strict = match decode_fully(bytes, false) {
        Ok(r) => r,
        Err(broken) => return Verdict::Broken(broken),
    };
    if let Err(e) = &strict {
        if e.kind() == "internal" {
            return Verdict::Internal(format!("strict decode: {e}"));
        }
    }
    let config = AnalysisConfig {
        lenient: true,
        ..AnalysisConfig::default()
    };
    match analyze_reader("fuzz.wav", Cursor::new(bytes.to_vec()), &config) {
        Ok(report) => match check_report(&report) {
            Err(m) => Verdict::Broken(m),
            Ok(()) if report.truncated => Verdict::Fine("ok_truncated"),
            Ok(()) => Verdict::Fine("ok"),
        },
        Err(e) if e.kind() == "internal" => Verdict::Internal(e.to_string()),
        Err(AnalysisError::Decode(e)) if strict.is_ok() => Verdict::Broken(format!(
            "strict decoding succeeded, lenient analysis failed: {e}"
        )),
        Err(e) => Verdict::Fine(e.kind()),
    }
}

fn campaign(cases_per_seed: u64) -> Campaign {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let save_dir = std::env::var_os("VOXCAP_FUZZ_SAVE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| testdata().join("malformed/fuzz"));
    Campaign {
        seeds: seeds::seeds(),
        cases_per_seed,
        base_seed: env_u64("VOXCAP_FUZZ_SEED", 0x5EED),
        timeout: Duration::from_secs(env_u64("VOXCAP_FUZZ_TIMEOUT_S", 10)),
        abandon_after: Duration::from_secs(30),
        workers: env_u64("VOXCAP_FUZZ_WORKERS", workers) as usize,
        save_dir: Some(save_dir),
    }
}

#[test]
fn mutated_inputs_never_panic_hang_or_break_invariants() {
    let c = campaign(env_u64("VOXCAP_FUZZ_CASES", 800));
    let (seeds, per_seed, base, workers) =
        (c.seeds.len(), c.cases_per_seed, c.base_seed, c.workers);
    let out = harness::run(c, analyse);
    let mb = peak_rss_mib();
    eprintln!(
        "fuzz: {} cases ({seeds} seeds x {per_seed}, base seed {base:#x}, {workers} workers) in {:.1} s; \
         panics {} (caught as internal {}), broken {}, timeouts {}, hung {}; slowest case {:?}; peak RSS {mb} MiB\n  verdicts: {:?}",
        out.cases,
        out.wall.as_secs_f64(),
        out.count(FindingKind::Panic),
        out.count(FindingKind::Internal),
        out.count(FindingKind::Broken),
        out.count(FindingKind::Timeout),
        out.hung,
        out.slowest,
        out.labels,
    );
    let first: Vec<String> = out.findings.iter().take(10).map(|f| f.describe()).collect();
    assert!(
        out.findings.is_empty() && !out.hung,
        "{} finding(s), hung {}; the first:\n{}",
        out.findings.len(),
        out.hung,
        first.join("\n")
    );
    assert_eq!(out.cases, seeds as u64 * per_seed);
    // The mutations must reach the analysis, not only the header checks.
    let analysed = out.labels.get("ok").copied().unwrap_or(0);
    assert!(
        analysed * 10 > out.cases,
        "only {analysed} of {} cases analysed",
        out.cases
    );
}

/// Peak resident memory of this process so far, from /proc (0 elsewhere).
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

#[test]
fn every_seed_analyses_and_each_format_is_covered() {
    let seeds = seeds::seeds();
    let mut codecs = std::collections::BTreeSet::new();
    for s in &seeds {
        let r = analyze_reader(
            s.name,
            Cursor::new(s.bytes.clone()),
            &AnalysisConfig::default(),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert!(r.duration_s > 0.04, "{}: {}", s.name, r.duration_s);
        codecs.insert(r.format.codec);
    }
    assert_eq!(codecs.len(), 8, "{codecs:?}");
}

#[test]
fn cases_are_deterministic_and_mutated() {
    let seeds = seeds::seeds();
    let mut changed = 0;
    for (i, s) in seeds.iter().enumerate() {
        for case in 0..50 {
            let a = mutate::make_case(s, 7, i, case);
            assert_eq!(
                a,
                mutate::make_case(s, 7, i, case),
                "{} case {case}",
                s.name
            );
            changed += usize::from(a.0 != s.bytes);
        }
    }
    // A few mutations are no-ops (e.g. a field set to the value it had).
    assert!(changed * 10 > seeds.len() * 50 * 9, "{changed}");
    assert_ne!(
        mutate::make_case(&seeds[0], 7, 0, 1),
        mutate::make_case(&seeds[0], 8, 0, 1)
    );
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A stand-in target that panics, breaks or stalls on a known share of inputs.
fn flaky(bytes: &[u8]) -> Verdict {
    match fnv(bytes) % 41 {
        // Unwinds without the panic hook: printing a backtrace (with
        // RUST_BACKTRACE set) can take longer than the timeout on a loaded
        // machine, which would count this case as a timeout too.
        0 => std::panic::resume_unwind(Box::new("flaky target panics")),
        1 => Verdict::Internal("caught".into()),
        2 => Verdict::Broken("broken".into()),
        3 => {
            std::thread::sleep(Duration::from_millis(1500));
            Verdict::Fine("slow")
        }
        _ => Verdict::Fine("ok"),
    }
}

#[test]
fn the_harness_reports_panics_caught_panics_broken_outputs_and_timeouts() {
    let mut c = campaign(40);
    c.timeout = Duration::from_millis(500);
    c.abandon_after = Duration::from_secs(10);
    c.save_dir = None;
    c.workers = 4;
    let mut expected = [0usize; 4];
    for (i, s) in c.seeds.iter().enumerate() {
        for case in 0..40 {
            let h = fnv(&mutate::make_case(s, c.base_seed, i, case).0) % 41;
            if h < 4 {
                expected[h as usize] += 1;
            }
        }
    }
    assert!(
        expected.iter().all(|&n| n > 0),
        "{expected:?}: pick another seed"
    );
    let cases = c.seeds.len() as u64 * 40;
    let out = harness::run(c, flaky);
    assert_eq!(out.cases, cases);
    assert!(!out.hung);
    let got = [
        out.count(FindingKind::Panic),
        out.count(FindingKind::Internal),
        out.count(FindingKind::Broken),
        out.count(FindingKind::Timeout),
    ];
    assert_eq!(got, expected);
}

fn stall_forever(bytes: &[u8]) -> Verdict {
    if fnv(bytes).is_multiple_of(50) {
        std::thread::sleep(Duration::from_secs(6));
    }
    Verdict::Fine("ok")
}

#[test]
fn a_hang_is_reported_and_the_run_abandoned() {
    let mut c = campaign(40);
    c.timeout = Duration::from_millis(500);
    c.abandon_after = Duration::from_secs(1);
    c.save_dir = None;
    c.workers = 1;
    let out = harness::run(c, stall_forever);
    assert!(out.hung);
    assert_eq!(out.count(FindingKind::Timeout), 1);
    assert!(out.wall < Duration::from_secs(4), "{:?}", out.wall);
}

/// Every saved input in `testdata/malformed/` (the hand-made corpus and the
/// fuzzer's finds in `fuzz/`) goes through the fuzz target cleanly.
#[test]
fn saved_inputs_replay_cleanly() {
    let mut files = Vec::new();
    let mut dirs = vec![testdata().join("malformed")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "wav") {
                files.push(p);
            }
        }
    }
    files.sort();
    let fuzz_finds = files
        .iter()
        .filter(|p| p.parent().is_some_and(|d| d.ends_with("fuzz")))
        .count();
    assert!(
        files.len() >= 29 && fuzz_finds >= 1,
        "{} files, {fuzz_finds} fuzz finds",
        files.len()
    );
    for p in &files {
        let bytes = std::fs::read(p).unwrap();
        match std::panic::catch_unwind(|| analyse(&bytes)) {
            Ok(Verdict::Fine(_)) => {}
            Ok(Verdict::Internal(m) | Verdict::Broken(m)) => panic!("{}: {m}", p.display()),
            Err(_) => panic!("{}: panicked", p.display()),
        }
    }
}

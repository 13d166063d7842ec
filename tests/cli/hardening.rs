//! Hardening regressions (issue 14, weakness 1): a float WAV with huge
//! finite samples analyses with finite levels instead of panicking, a batch
//! holding such a file finishes in order instead of hanging, and a panic
//! injected into one file's analysis becomes that file's `internal` error.

use std::path::{Path, PathBuf};
use std::process::Output;

use voxcap_dsp::synth::{self, WavSpec};

use crate::harness::{json_lines, voxcap_env};

/// Runs `voxcap args...` with extra environment; fails the test on a hang.
/// Returns the output and the seconds it took.
fn voxcap(args: &[&str], env: &[(&str, &str)]) -> (Output, f64) {
    let (out, took) = voxcap_env(args, env);
    (out, took.as_secs_f64())
}

/// A float WAV (32 or 64 bits) of 1 s of a -12 dBFS tone at `rate`, with
/// `poison` written over a few samples: a run of four at a third (two whole
/// frames in stereo), its negative and a NaN at the middle, and one more at
/// two thirds. Two adjacent samples of `f32::MAX` made rubato panic.
fn float_wav(bits: u16, channels: u16, rate: u32, poison: Option<f64>) -> Vec<u8> {
    let n = rate as usize;
    let tone = synth::sine(440.0, -12.0, n, rate, 0.0);
    let mut x: Vec<f64> = tone
        .iter()
        .flat_map(|&v| std::iter::repeat_n(f64::from(v), usize::from(channels)))
        .collect();
    if let Some(p) = poison {
        let len = x.len();
        x[len / 3..len / 3 + 4].fill(p);
        x[len / 2] = -p;
        x[len / 2 + 1] = f64::NAN;
        x[2 * len / 3] = p;
    }
    let data: Vec<u8> = x
        .iter()
        .flat_map(|&v| match bits {
            32 => (v as f32).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        })
        .collect();
    let spec = WavSpec {
        format_tag: 3,
        channels,
        sample_rate: rate,
        bits,
        extensible: false,
    };
    synth::wav_file(&spec, &data)
}

fn assert_finite_levels(line: &serde_json::Value) {
    for key in ["peak_dbfs", "rms_dbfs"] {
        let v = line[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is not a number: {line}"));
        assert!(
            v.is_finite() && (-200.0..=24.09).contains(&v),
            "{key} = {v}"
        );
    }
}

fn no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_float_wav_with_a_1e30_sample_analyses_alone_with_finite_levels() {
    let dir = tempfile::tempdir().unwrap();
    let max = f64::from(f32::MAX);
    for (name, bits, channels, rate, poison) in [
        ("f32_48k_mono_1e30.wav", 32, 1, 48_000, 1e30),
        ("f32_48k_mono_max.wav", 32, 1, 48_000, max),
        ("f32_44k_stereo_1e30.wav", 32, 2, 44_100, 1e30),
        ("f32_8k_stereo_max.wav", 32, 2, 8000, max),
        ("f64_16k_mono_1e30.wav", 64, 1, 16_000, 1e30),
        ("f64_16k_mono_1e300.wav", 64, 1, 16_000, 1e300),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, float_wav(bits, channels, rate, Some(poison))).unwrap();
        let path = path.to_str().unwrap();
        let (out, _) = voxcap(&["analyze", "--format", "json", path], &[]);
        no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 1);
        assert_finite_levels(&lines[0]);
        // The poison is clamped to the decoder's limit, 16.0 (+24.08 dBFS).
        assert_eq!(lines[0]["peak_dbfs"], 24.08, "{name}");
    }
}

#[test]
fn a_batch_with_poisoned_files_finishes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let poisoned = [1, 12];
    let mut names = Vec::new();
    for i in 0..24 {
        let bytes = if poisoned.contains(&i) {
            float_wav(32, 1, 48_000, Some(f64::from(f32::MAX)))
        } else {
            float_wav(32, 1, 16_000, None)
        };
        let path = dir.path().join(format!("{i:03}.wav"));
        std::fs::write(&path, bytes).unwrap();
        names.push(path.display().to_string());
    }
    let d = dir.path().to_str().unwrap();
    let (out, secs) = voxcap(&["analyze", "-j", "2", "--format", "json", d], &[]);
    eprintln!("batch of 24 files, 2 poisoned, -j 2: finished in {secs:.2} s");
    no_panic(&out);
    let lines = json_lines(&out);
    assert_eq!(
        lines.len(),
        names.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (i, (line, name)) in lines.iter().zip(&names).enumerate() {
        assert_eq!(line["file"], name.as_str(), "line {i}");
        if line.get("error").is_some() {
            // Were it to fail, the poisoned file must fail as an error object.
            assert!(poisoned.contains(&i), "good file {i} failed: {line}");
            assert!(line["error"]["kind"].is_string() && line["error"]["message"].is_string());
        } else {
            assert_finite_levels(line);
        }
    }
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_panic_in_one_files_analysis_is_its_internal_error_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut names = Vec::new();
    for i in 0..20 {
        let path: PathBuf = dir.path().join(format!("{i:03}.wav"));
        std::fs::write(&path, float_wav(32, 1, 16_000, None)).unwrap();
        names.push(path.display().to_string());
    }
    let (read, job) = (3, 7);
    let env = [
        ("VOXCAP_TEST_PANIC_READ", names[read].as_str()),
        ("VOXCAP_TEST_PANIC_JOB", names[job].as_str()),
    ];
    let d = dir.path().to_str().unwrap();
    let (out, secs) = voxcap(&["analyze", "-j", "2", "--format", "json", d], &env);
    eprintln!("batch of 20 files, 2 panicking, -j 2: finished in {secs:.2} s");
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), names.len());
    for (i, (line, name)) in lines.iter().zip(&names).enumerate() {
        assert_eq!(line["file"], name.as_str());
        let expect = match i {
            3 => Some("injected panic while reading"),
            7 => Some("injected panic in the job"),
            _ => None,
        };
        match expect {
            Some(phrase) => {
                assert_eq!(line["error"]["kind"], "internal", "{line}");
                let msg = line["error"]["message"].as_str().unwrap();
                assert!(msg.contains(phrase), "{msg:?} lacks {phrase:?}");
            }
            None => assert_finite_levels(line),
        }
    }

    // Alone, in text mode: exit code 1 with the file named, not a crash (101).
    let (out, _) = voxcap(&["analyze", &names[read]], &env);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("voxcap: {}: internal error", names[read])),
        "{stderr}"
    );
}

#[test]
fn the_fault_hooks_name_one_file_only() {
    // Without a match the hooks do nothing: the same file analyses.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.wav");
    std::fs::write(&path, float_wav(32, 1, 8000, None)).unwrap();
    let other = Path::new("/nonexistent/b.wav").display().to_string();
    let env = [
        ("VOXCAP_TEST_PANIC_READ", other.as_str()),
        ("VOXCAP_TEST_PANIC_JOB", other.as_str()),
    ];
    let (out, _) = voxcap(
        &["analyze", "--format", "json", path.to_str().unwrap()],
        &env,
    );
    no_panic(&out);
    assert_eq!(out.status.code(), Some(0));
}

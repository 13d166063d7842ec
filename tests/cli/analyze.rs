//! End-to-end tests of the `voxcap` binary: exit codes, output formats, the
//! malformed corpus, stdin and directory walking.

use std::path::{Path, PathBuf};

use crate::harness::{json_lines, testdata, voxcap_with_stdin};

fn wav_names(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    v.sort();
    v
}

#[test]
fn clips_directory_analyses_cleanly_as_ndjson() {
    let dir = testdata().join("clips");
    let out = voxcap_with_stdin(&["analyze", "--format", "json", dir.to_str().unwrap()], b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    let files = wav_names(&dir);
    assert_eq!(lines.len(), files.len());
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.display().to_string());
        let obj = line.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        for key in [
            "file",
            "format",
            "duration_s",
            "peak_dbfs",
            "rms_dbfs",
            "clipped_samples",
            "truncated",
        ] {
            assert!(keys.contains(&key), "{file:?} lacks {key}");
        }
        let format = line["format"].as_object().unwrap();
        for key in ["codec", "sample_rate", "channels", "bits"] {
            assert!(format.contains_key(key), "{file:?} lacks format.{key}");
        }
    }
}

#[test]
fn known_clips_report_expected_values() {
    let check = |name: &str, codec: &str, rate: u64, dur: f64, peak: f64, clipped: u64| {
        let path = testdata().join("clips").join(name);
        let out = voxcap_with_stdin(
            &["analyze", "--format", "json", path.to_str().unwrap()],
            b"",
        );
        assert_eq!(out.status.code(), Some(0));
        let r = &json_lines(&out)[0];
        assert_eq!(r["format"]["codec"], codec, "{name}");
        assert_eq!(r["format"]["sample_rate"], rate, "{name}");
        assert!(
            (r["duration_s"].as_f64().unwrap() - dur).abs() < 1e-9,
            "{name}: {r}"
        );
        assert!(
            (r["peak_dbfs"].as_f64().unwrap() - peak).abs() < 0.05,
            "{name}: {r}"
        );
        assert_eq!(r["clipped_samples"], clipped, "{name}");
    };
    check(
        "pcm_s16le_16000_mono_tone1k.wav",
        "pcm_s16le",
        16_000,
        0.5,
        -6.0,
        0,
    );
    check(
        "pcm_s16le_8000_mono_silence.wav",
        "pcm_s16le",
        8000,
        0.5,
        -200.0,
        0,
    );
    check(
        "mulaw_8000_mono_tone1k.wav",
        "pcm_mulaw",
        8000,
        0.5,
        -5.82,
        0,
    );
    // A +6 dB sine clamped at full scale: every sample beyond ±1 is clipped.
    let path = testdata().join("clips/pcm_s16le_8000_mono_clipped.wav");
    let out = voxcap_with_stdin(
        &["analyze", "--format", "json", path.to_str().unwrap()],
        b"",
    );
    let clipped = json_lines(&out)[0]["clipped_samples"].as_u64().unwrap();
    assert!(clipped > 500, "only {clipped} clipped samples");
}

#[test]
fn every_malformed_file_fails_with_its_name_and_no_panic() {
    let files = wav_names(&testdata().join("malformed"));
    assert!(
        files.len() >= 20,
        "malformed corpus has only {} files",
        files.len()
    );
    for file in &files {
        let name = file.to_str().unwrap();
        let out = voxcap_with_stdin(&["analyze", name], b"");
        assert_eq!(out.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(name),
            "{name}: stderr {stderr:?} does not name the file"
        );

        let out = voxcap_with_stdin(&["analyze", "--format", "json", name], b"");
        assert_eq!(out.status.code(), Some(1), "{name}");
        let lines = json_lines(&out);
        assert_eq!(lines.len(), 1, "{name}");
        assert_eq!(lines[0]["file"], name);
        assert!(
            lines[0]["error"]["kind"].is_string(),
            "{name}: {}",
            lines[0]
        );
        assert!(!lines[0]["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[test]
fn a_failed_file_does_not_stop_the_others() {
    let good = testdata().join("clips/alaw_8000_mono_tone1k.wav");
    let bad = testdata().join("malformed/random_bytes.wav");
    let args = [
        "analyze",
        "--format",
        "json",
        bad.to_str().unwrap(),
        "missing.wav",
        good.to_str().unwrap(),
    ];
    let out = voxcap_with_stdin(&args, b"");
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["error"]["kind"], "not_wav");
    assert_eq!(lines[1]["error"]["kind"], "io");
    assert_eq!(lines[2]["format"]["codec"], "pcm_alaw");
}

#[test]
fn stdin_pipe_wav_decodes_to_its_end() {
    let clip =
        std::fs::read(testdata().join("clips/pipe_pcm_s16le_16000_mono_datasize0_tone1k.wav"))
            .unwrap();
    let out = voxcap_with_stdin(&["analyze", "--format", "json", "-"], &clip);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = &json_lines(&out)[0];
    assert_eq!(r["file"], "-");
    assert_eq!(r["duration_s"], 0.25);
}

#[test]
fn lenient_analyses_a_truncated_file_and_flags_it() {
    let path = testdata().join("malformed/truncated_data.wav");
    let out = voxcap_with_stdin(
        &[
            "analyze",
            "--lenient",
            "--format",
            "json",
            path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json_lines(&out)[0]["truncated"], true);
    let out = voxcap_with_stdin(&["analyze", "--lenient", path.to_str().unwrap()], b"");
    assert!(String::from_utf8_lossy(&out.stdout).contains("(truncated)"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(voxcap_with_stdin(&["analyze"], b"").status.code(), Some(2));
    assert_eq!(
        voxcap_with_stdin(&["analyze", "--format", "xml", "x.wav"], b"")
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        voxcap_with_stdin(&["frobnicate"], b"").status.code(),
        Some(2)
    );
}

#[test]
fn directories_are_walked_for_wav_in_sorted_order_ignoring_case() {
    let dir = tempfile::tempdir().unwrap();
    let wav = voxcap_dsp::synth::wav_pcm16_mono(&[0.0; 80], 8000);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    for name in ["b.wav", "A.WAV", "sub/c.Wav", "notes.txt", "d.wav.bak"] {
        std::fs::write(dir.path().join(name), &wav).unwrap();
    }
    let out = voxcap_with_stdin(
        &["analyze", "--format", "json", dir.path().to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let names: Vec<String> = json_lines(&out)
        .iter()
        .map(|l| {
            Path::new(l["file"].as_str().unwrap())
                .strip_prefix(dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["A.WAV", "b.wav", "sub/c.Wav"]);
}

#[test]
fn text_output_is_one_short_block_per_file() {
    let path = testdata().join("clips/pcm_s16le_16000_mono_tone1k.wav");
    let out = voxcap_with_stdin(&["analyze", path.to_str().unwrap()], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "{}\n  format    pcm_s16le, 16000 Hz, 1 ch, 16 bit\n  duration  0.500 s\n  levels    peak -6.00 dBFS, rms -9.01 dBFS, 0 clipped\n  speech    0.00 s in 0 segment(s)\n  trim      nothing worth keeping\n  labels    silent\n  completion reported -, inferred -: unverifiable\n\n",
        path.display()
    );
    assert_eq!(text, expected);
}

#[test]
fn parallel_batch_keeps_input_order_and_survives_bad_files() {
    // Good and bad files interleaved, so out-of-order completion would show.
    let dir = tempfile::tempdir().unwrap();
    let mut expected = Vec::new();
    let malformed = wav_names(&testdata().join("malformed"));
    let clips = wav_names(&testdata().join("clips"));
    for (i, src) in clips
        .iter()
        .zip(malformed.iter().cycle())
        .flat_map(|(a, b)| [a, b])
        .enumerate()
    {
        let name = format!("{i:03}.wav");
        std::fs::copy(src, dir.path().join(&name)).unwrap();
        expected.push((name, src.parent().unwrap().ends_with("malformed")));
    }
    let summary = dir.path().join("summary.json");
    let out = voxcap_with_stdin(
        &[
            "analyze",
            "-j",
            "3",
            "--format",
            "json",
            "--summary-json",
            summary.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), expected.len());
    for (line, (name, bad)) in lines.iter().zip(&expected) {
        assert!(
            line["file"].as_str().unwrap().ends_with(name.as_str()),
            "{line}"
        );
        assert_eq!(line.get("error").is_some(), *bad, "{line}");
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    let bad = expected.iter().filter(|(_, b)| *b).count() as u64;
    assert_eq!(s["files"], expected.len() as u64);
    assert_eq!(s["failed"], bad);
    assert_eq!(s["analysed"], expected.len() as u64 - bad);
    let per_kind: u64 = s["errors"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(per_kind, bad);
    let verdicts: u64 = s["verdicts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(verdicts, expected.len() as u64 - bad);
}

#[test]
fn analyze_reports_digits_speech_trim_and_verdict() {
    let path = testdata().join("clips/pcm_s16le_8000_mono_dtmf_123hash.wav");
    let out = voxcap_with_stdin(
        &[
            "analyze",
            "--format",
            "json",
            "--stop-tones",
            "#",
            "--reported",
            "8514",
            path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let r = &json_lines(&out)[0];
    let digits: String = r["dtmf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["digit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(digits, "123#");
    assert_eq!(r["completion"]["reported"], "stopToneDetected");
    assert!(r["completion"]["verdict"].is_string());
    assert!(r["speech"].as_array().unwrap().is_empty());
    assert_eq!(r["quality"]["labels"][0], "dtmf_only");
    let bad = voxcap_with_stdin(
        &["analyze", "--stop-tones", "#x", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn trim_out_writes_a_trimmed_wav_atomically() {
    let path = testdata().join("speech/alsa_front_center.wav");
    let dir = tempfile::tempdir().unwrap();
    let out = voxcap_with_stdin(
        &[
            "analyze",
            "--format",
            "json",
            "--trim-out",
            dir.path().to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0));
    let r = &json_lines(&out)[0];
    let (start, end) = (
        r["trim"]["start_s"].as_f64().unwrap(),
        r["trim"]["end_s"].as_f64().unwrap(),
    );
    let written = dir.path().join("alsa_front_center.trimmed.wav");
    let reader = hound::WavReader::open(&written).unwrap();
    assert_eq!(reader.spec().bits_per_sample, 16);
    assert_eq!(reader.spec().sample_rate, 8000);
    let secs = f64::from(reader.duration()) / 8000.0;
    assert!(
        (secs - (end - start)).abs() < 0.002,
        "{secs} vs {start}..{end}"
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// `--speech-model` (and `VOXCAP_SPEECH_MODEL`): a missing or corrupt model is
/// an error naming the file (exit 1, nothing analysed); the real model
/// (VOXCAP_SILERO_MODEL, which scripts/test sets) gives a fused analysis
/// whose trim and DTMF are the classical ones.
#[test]
fn speech_model_is_loaded_from_its_path_only() {
    let clip = testdata().join("speech/espeak_en_m1_s150.wav");
    let clip = clip.to_str().unwrap();
    let out = voxcap_with_stdin(
        &["analyze", "--speech-model", "/nonexistent/m.onnx", clip],
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("speech model /nonexistent/m.onnx: cannot be opened"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x08\x07junk").unwrap();
    let (out, _) = crate::harness::voxcap_env(
        &["analyze", clip],
        &[("VOXCAP_SPEECH_MODEL", junk.to_str().unwrap())],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("junk.onnx: not a usable Silero VAD model"),
        "{err}"
    );

    let model = std::env::var("VOXCAP_SILERO_MODEL").expect(
        "VOXCAP_SILERO_MODEL must name silero_vad.onnx (scripts/speech-set/fetch-silero.sh)",
    );
    let classical = json_lines(&voxcap_with_stdin(
        &["analyze", "--format", "json", clip],
        b"",
    ));
    let fused = json_lines(&voxcap_with_stdin(
        &[
            "analyze",
            "--format",
            "json",
            "--speech-model",
            &model,
            clip,
        ],
        b"",
    ));
    assert_eq!(fused[0]["dtmf"], classical[0]["dtmf"]);
    assert_eq!(fused[0]["trim"], classical[0]["trim"]);
    assert!(fused[0]["speech"].as_array().is_some_and(|s| !s.is_empty()));
}

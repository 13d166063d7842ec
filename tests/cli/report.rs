//! `voxcap report` and `analyze --html`: the committed clips with malformed
//! files among them give one atomically written page with a row per input
//! (failed ones included); the report's flag combinations that make no
//! sense are usage errors.

use std::path::{Path, PathBuf};

use crate::harness::{assert_success, json_lines, testdata, voxcap};

/// A folder with the committed clips and three malformed files; their count.
fn mixed_folder(dir: &Path) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(testdata().join("clips")).expect("clips") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "wav") {
            std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
            n += 1;
        }
    }
    for bad in [
        "empty.wav",
        "fmt_channels_0.wav",
        "data_size_larger_than_file.wav",
    ] {
        std::fs::copy(
            testdata().join("malformed").join(bad),
            dir.join(format!("bad_{bad}")),
        )
        .expect("copy a malformed file");
        n += 1;
    }
    n
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn report_over_a_folder_has_every_row_and_the_failed_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wavs = dir.path().join("wavs");
    std::fs::create_dir(&wavs).expect("mkdir");
    let n = mixed_folder(&wavs);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let html_path = out_dir.join("review.html");
    let args = [
        "report",
        "--stop-tones",
        "#",
        "--out",
        html_path.to_str().unwrap(),
        wavs.to_str().unwrap(),
    ];
    let out = voxcap(&args);
    assert_eq!(out.status.code(), Some(1), "some inputs failed");
    assert!(out.stdout.is_empty(), "report prints no per-file results");
    let html = std::fs::read_to_string(&html_path).expect("the report");
    assert_eq!(
        html.matches("<tr data-verdict=").count(),
        n,
        "a row per input"
    );
    let failed = html.matches("<tr data-verdict=\"failed\"").count();
    assert!(failed >= 2, "the malformed files are failed rows: {failed}");
    assert!(html.contains("bad_empty.wav") && html.contains("bad_fmt_channels_0.wav"));
    assert_eq!(html.matches("<section class=\"rec\"").count(), n);
    assert!(
        html.contains("\nkey #\n"),
        "the # of the DTMF clip is labelled"
    );
    assert!(
        !html.to_ascii_lowercase().contains("http"),
        "no link was supplied"
    );
    // Written atomically: no temp file is left beside it.
    assert_eq!(names_in(&out_dir), ["review.html"]);
}

#[test]
fn analyze_html_writes_the_report_beside_the_normal_output() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = testdata().join("clips/pcm_s16le_8000_mono_dtmf_123hash.wav");
    let html_path = dir.path().join("a.html");
    let args = [
        "analyze",
        "--format",
        "json",
        "--html",
        html_path.to_str().unwrap(),
        "--title",
        "Batch <7>",
        "--title-link",
        "https://tickets.example.org/7",
        "--link-base",
        "https://rec.example.org/wav/",
        clip.to_str().unwrap(),
    ];
    let out = voxcap(&args);
    assert_success(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["dtmf"].as_array().map(Vec::len), Some(4));
    let html = std::fs::read_to_string(&html_path).expect("the report");
    assert!(html.contains("<h1><a href=\"https://tickets.example.org/7\">Batch &lt;7&gt;</a></h1>"));
    // Outside the report's folder: the WAV is linked by its name under the base.
    assert!(
        html.contains("src=\"https://rec.example.org/wav/pcm_s16le_8000_mono_dtmf_123hash.wav\"")
    );
    assert_eq!(html.matches("http").count(), 2, "only the supplied links");
    assert!(html.contains("<td class=\"digits\">123#</td>"));
}

#[test]
fn large_reports_put_recordings_on_pages() {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = mixed_folder(dir.path());
    let html_path = dir.path().join("big.html");
    let out = voxcap(&[
        "report",
        "--one-page",
        "false",
        "--embed-audio",
        "false",
        "--out",
        html_path.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let index = std::fs::read_to_string(&html_path).expect("the index");
    assert_eq!(index.matches("<tr data-verdict=").count(), n);
    assert!(!index.contains("<section"), "sections are on the pages");
    let page =
        std::fs::read_to_string(dir.path().join("big_files/page-0001.html")).expect("page 1");
    assert_eq!(page.matches("<section class=\"rec\"").count(), n);
    assert!(
        page.contains("src=\"../pcm_s16le_8000_mono_silence.wav\""),
        "audio linked from the page"
    );
}

#[test]
fn report_usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = testdata().join("clips/pcm_s16le_8000_mono_silence.wav");
    let (clip, out): (&str, PathBuf) = (clip.to_str().unwrap(), dir.path().join("r.html"));
    let out = out.to_str().unwrap();
    let cases: [&[&str]; 7] = [
        &["report", clip],
        &["report", "--out", out],
        &["report", "--out", out, "-"],
        &[
            "report",
            "--out",
            out,
            "--title-link",
            "javascript:alert(1)",
            clip,
        ],
        &[
            "report",
            "--out",
            out,
            "--link-base",
            "https://a.example",
            "--embed-audio",
            "true",
            clip,
        ],
        &["analyze", "--embed-audio", "true", clip],
        &["analyze", "--title-link", "https://a.example", clip],
    ];
    for args in cases {
        let run = voxcap(args);
        assert_eq!(
            run.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    assert_eq!(
        names_in(dir.path()),
        Vec::<String>::new(),
        "nothing written"
    );
}

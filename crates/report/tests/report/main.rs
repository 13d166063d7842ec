//! Integration tests of voxcap-report: a batch of generated recordings
//! (speech, a `#` stop tone, silence, a lying reason, hostile names, a
//! broken file) analysed and written into a report, checked as text and in
//! a headless chromium.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod browser;
mod fixture;

use std::path::Path;

use fixture::Recording;
use voxcap_report::{escape, Placement, ReportOptions};

/// The recording numbered `id` (from 1) has a row naming it and its verdict.
fn row_of(html: &str, id: usize) -> &str {
    let link = format!("<a href=\"#rec-{id}\">");
    let at = html
        .find(&link)
        .unwrap_or_else(|| panic!("no row links rec-{id}"));
    let start = html[..at].rfind("<tr ").expect("the row starts");
    let end = at + html[at..].find("</tr>").expect("the row ends");
    &html[start..end]
}

fn verdict_of(r: &Recording) -> String {
    match &r.result {
        Ok(report) => serde_name(&report.completion.verdict),
        Err(_) => "failed".to_string(),
    }
}

fn serde_name(v: &voxcap_dsp::verify::CompletionVerdict) -> String {
    format!("{v:?}").to_lowercase()
}

fn name_of(r: &Recording) -> String {
    r.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Checks that every recording is in `html` with its name, verdict and digits.
fn check_every_recording(html: &str, batch: &[Recording]) {
    for (i, r) in batch.iter().enumerate() {
        let id = i + 1;
        let row = row_of(html, id);
        let verdict = verdict_of(r);
        // A DOM dump escapes text nodes' `&`, `<` and `>` only.
        let name = name_of(r);
        let text = name
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            row.contains(&escape(&name)) || row.contains(&text),
            "row {id} names {name}"
        );
        assert!(
            row.contains(&format!("data-verdict=\"{verdict}\"")),
            "row {id}: {row}"
        );
        assert!(
            row.contains(&format!(">{verdict}</td>")),
            "row {id} shows {verdict}: {row}"
        );
        assert!(html.contains(&format!("id=\"rec-{id}\"")), "section {id}");
        if let Ok(report) = &r.result {
            let digits: String = report.dtmf.iter().map(|d| d.digit).collect();
            assert!(
                row.contains(&format!("<td class=\"digits\">{}</td>", escape(&digits))),
                "{row}"
            );
        }
    }
}

fn batch_report(dir: &Path) -> (Vec<Recording>, String) {
    let batch = fixture::batch(dir);
    let out = fixture::write(
        &dir.join("report.html"),
        &batch,
        ReportOptions {
            expected_recordings: batch.len(),
            ..ReportOptions::default()
        },
    );
    let html = std::fs::read_to_string(out).expect("read the report");
    (batch, html)
}

#[test]
fn the_batch_is_analysed_as_generated() {
    let dir = tempfile::tempdir().expect("temp dir");
    let batch = fixture::batch(dir.path());
    let verdicts: Vec<String> = batch.iter().map(verdict_of).collect();
    // The stop-tone and digit recordings are consistent and found their keys; the liars are caught.
    for i in [0, 1, 2, 3, 4, 5, 6, 7, 16] {
        assert_eq!(
            verdicts[i],
            "consistent",
            "recording {i}: {:?}",
            batch[i].result.as_ref().map(|r| &r.completion)
        );
        let report = batch[i].result.as_ref().expect("analysed");
        assert_eq!(
            report.dtmf.last().map(|d| d.digit),
            Some('#'),
            "recording {i}"
        );
    }
    let digits: String = batch[5]
        .result
        .as_ref()
        .expect("analysed")
        .dtmf
        .iter()
        .map(|d| d.digit)
        .collect();
    assert_eq!(digits, "123#");
    assert_eq!(verdicts[14], "inconsistent");
    assert_eq!(verdicts[15], "inconsistent");
    assert_eq!(verdicts[18], "failed");
}

#[test]
fn every_recording_has_its_row_verdict_digits_and_section() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (batch, html) = batch_report(dir.path());
    check_every_recording(&html, &batch);
    // Figures are inline, labelled keys included; audio is embedded.
    assert_eq!(
        html.matches("<figure><svg").count(),
        19,
        "one inline figure per analysed recording"
    );
    assert!(
        html.contains("\nkey #\n"),
        "the stop tone is labelled on its figure"
    );
    assert_eq!(html.matches("data:audio/wav;base64,").count(), 19);
    assert!(
        html.contains("inconsistent</div>"),
        "the summary counts verdicts"
    );
    assert!(
        html.contains("Time to first speech (n = "),
        "the summary draws histograms"
    );
}

#[test]
fn the_page_references_nothing_on_the_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, html) = batch_report(dir.path());
    let lower = html.to_ascii_lowercase();
    // base64 has no ':', so "http:" cannot occur in an embedded payload by chance.
    assert!(!lower.contains("http:"), "found http: in the page");
    assert!(!lower.contains("https:"), "found https: in the page");
    assert!(!lower.contains("src=\"//"), "a protocol-relative reference");
}

#[test]
fn hostile_file_names_are_escaped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_, html) = batch_report(dir.path());
    assert!(
        !html.contains("<script>alert(1)"),
        "a file name injected markup"
    );
    assert!(html.contains("&lt;script&gt;alert(1).wav"));
    assert!(html.contains("a&amp;b &quot;quoted&quot; &#39;x&#39;.wav"));
    assert_eq!(
        html.matches("<script").count(),
        1,
        "only the report's own script"
    );
}

#[test]
fn nothing_appears_before_finish_and_no_temp_file_is_left() {
    let dir = tempfile::tempdir().expect("temp dir");
    let batch: Vec<Recording> = (0..2)
        .map(|i| fixture::make(dir.path(), &format!("{i}.wav"), fixture::Kind::StopTone, i))
        .collect();
    let out = dir.path().join("r.html");
    let mut report =
        voxcap_report::ReviewReport::create(&out, ReportOptions::default()).expect("create");
    let entry = voxcap_report::Entry {
        path: &batch[0].path,
        name: "0.wav",
        result: batch[0].result.as_ref().map_err(String::as_str),
        settings: &batch[0].settings,
    };
    report.add(&entry).expect("add");
    assert!(!out.exists(), "the report appears only when finished");
    report.finish().expect("finish");
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["0.wav", "1.wav", "r.html"]);
}

#[test]
fn large_batches_link_lazy_figures_and_audio_beside_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kinds = [
        fixture::Kind::StopTone,
        fixture::Kind::Silence,
        fixture::Kind::Broken,
        fixture::Kind::Digits,
    ];
    let batch: Vec<Recording> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| fixture::make(dir.path(), &format!("r {i}.wav"), k, i as u64))
        .collect();
    // Past the inline limit, Auto links (as a 10,000-recording batch would).
    let options = ReportOptions {
        expected_recordings: 4,
        inline_limit: 3,
        embed_audio_limit: 3,
        ..ReportOptions::default()
    };
    let out = fixture::write(&dir.path().join("big.html"), &batch, options);
    let html = std::fs::read_to_string(out).expect("read");
    check_every_recording(&html, &batch);
    assert_eq!(html.matches("<img loading=\"lazy\"").count(), 3);
    assert!(html.contains("src=\"big_files/000001.svg\""));
    assert!(!html.contains("data:audio"), "audio is linked");
    assert!(
        html.contains("<audio controls preload=\"none\" src=\"r%200.wav\">"),
        "relative to the report"
    );
    assert!(!html.to_ascii_lowercase().contains("http:"));
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("big_files"))
        .expect("the files folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["000001.svg", "000002.svg", "000004.svg"]);
    let svg = std::fs::read_to_string(dir.path().join("big_files/000004.svg")).expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("xmlns=") && svg.contains("\nkey 3\n"),
        "a standalone SVG: {}",
        svg.split("<text")
            .skip(1)
            .take(40)
            .collect::<Vec<_>>()
            .join("\n<text")
    );
    assert!(
        svg.contains("href=\"data:image/png;base64,"),
        "with its spectrogram"
    );
    // An explicit choice wins over Auto.
    let embedded = ReportOptions {
        images: Placement::Embed,
        audio: Placement::Embed,
        ..ReportOptions::default()
    };
    let html = std::fs::read_to_string(fixture::write(
        &dir.path().join("small.html"),
        &batch,
        ReportOptions {
            expected_recordings: 1000,
            ..embedded
        },
    ))
    .expect("read");
    assert_eq!(html.matches("<figure><svg").count(), 3);
    assert_eq!(html.matches("data:audio/wav").count(), 3);
}

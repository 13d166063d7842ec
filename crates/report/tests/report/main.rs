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

/// The recording numbered `id` (from 1) has a row naming it and its
/// verdict, linking `{page}NNNN.html#rec-{id}` (`page` empty: `#rec-{id}`).
fn row_of<'a>(html: &'a str, id: usize, page: &str) -> &'a str {
    let link = format!("#rec-{id}\">");
    let at = html
        .find(&link)
        .unwrap_or_else(|| panic!("no row links rec-{id}"));
    let start = html[..at].rfind("<tr ").expect("the row starts");
    let href = &html[html[..at].rfind("href=\"").expect("a link") + 6..at];
    assert!(
        href.starts_with(page) && (page.is_empty() || href.ends_with(".html")),
        "rec-{id} links {href}, not {page}"
    );
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

/// Checks that every recording is in `html` with its name, verdict and
/// digits, its row linking its section on the pages `page` (see [`row_of`]).
fn check_every_recording(html: &str, batch: &[Recording], page: &str) {
    for (i, r) in batch.iter().enumerate() {
        let id = i + 1;
        let row = row_of(html, id, page);
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
        if page.is_empty() {
            assert!(html.contains(&format!("id=\"rec-{id}\"")), "section {id}");
        }
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
    check_every_recording(&html, &batch, "");
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
fn large_batches_are_an_index_with_pages_and_linked_audio_beside_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let kinds = [
        fixture::Kind::StopTone,
        fixture::Kind::Silence,
        fixture::Kind::Broken,
        fixture::Kind::Digits,
        fixture::Kind::StopTone,
    ];
    let batch: Vec<Recording> = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| fixture::make(dir.path(), &format!("r {i}.wav"), k, i as u64))
        .collect();
    // A page left by an earlier, longer report of the same name goes away.
    std::fs::create_dir_all(dir.path().join("big_files")).expect("mkdir");
    std::fs::write(dir.path().join("big_files/page-0004.html"), "old").expect("stale page");
    // Past the inline limit, Auto paginates (as a 10,000-recording batch would).
    let options = ReportOptions {
        expected_recordings: 5,
        inline_limit: 3,
        page_size: 2,
        embed_audio_limit: 3,
        ..ReportOptions::default()
    };
    let out = fixture::write(&dir.path().join("big.html"), &batch, options);
    let index = std::fs::read_to_string(out).expect("read");
    check_every_recording(&index, &batch, "big_files/page-");
    assert!(!index.contains("<figure"), "the index draws no recording");
    assert!(!index.contains("<audio"), "nor plays one");
    assert!(index.contains("href=\"big_files/page-0002.html#rec-4\""));
    assert!(index.contains("Time to first speech (n = "), "the summary");
    let mut files: Vec<String> = std::fs::read_dir(dir.path().join("big_files"))
        .expect("the files folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["page-0001.html", "page-0002.html", "page-0003.html"]
    );
    let page = |n: usize| {
        std::fs::read_to_string(dir.path().join(format!("big_files/page-{n:04}.html")))
            .expect("a page")
    };
    let (first, second, last) = (page(1), page(2), page(3));
    for (text, ids) in [(&first, [1, 2]), (&second, [3, 4])] {
        for id in ids {
            assert!(text.contains(&format!("id=\"rec-{id}\"")), "rec-{id}");
        }
    }
    assert!(last.contains("id=\"rec-5\""));
    assert!(second.contains("<figure><svg") && second.contains("\nkey 3\n"));
    assert!(
        second.contains("href=\"data:image/png;base64,"),
        "with its spectrogram"
    );
    assert!(second.contains("href=\"../big.html\""), "the way back");
    assert!(second.contains("href=\"page-0001.html\">previous"));
    assert!(second.contains("href=\"page-0003.html\">next"));
    assert!(!last.contains(">next page<"), "the last page has no next");
    assert!(!second.contains("data:audio"), "audio is linked");
    assert!(
        second.contains("<audio controls preload=\"none\" src=\"../r%203.wav\">"),
        "relative to the page"
    );
    for text in [&index, &first, &second, &last] {
        let lower = text.to_ascii_lowercase();
        assert!(!lower.contains("http:") && !lower.contains("https:"));
    }
    // An explicit choice wins over Auto.
    let embedded = ReportOptions {
        sections: Placement::Embed,
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
    assert_eq!(html.matches("<figure><svg").count(), 4);
    assert_eq!(html.matches("data:audio/wav").count(), 4);
}

#[test]
fn http_links_appear_only_where_the_caller_supplied_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let batch: Vec<Recording> = (0..2)
        .map(|i| {
            fixture::make(
                dir.path(),
                &format!("r {i}.wav"),
                fixture::Kind::StopTone,
                i,
            )
        })
        .collect();
    let options = ReportOptions {
        title_link: Some("https://tickets.example.org/batch?id=7&x=\"y\"".into()),
        audio_link_base: Some("https://rec.example.org/wav".into()),
        audio: Placement::Link,
        ..ReportOptions::default()
    };
    let html = std::fs::read_to_string(fixture::write(&dir.path().join("l.html"), &batch, options))
        .expect("read");
    assert!(html
        .contains("<h1><a href=\"https://tickets.example.org/batch?id=7&amp;x=&quot;y&quot;\">"));
    for i in 0..2 {
        assert!(html.contains(&format!("src=\"https://rec.example.org/wav/r%20{i}.wav\"")));
    }
    assert_eq!(
        html.matches("http").count(),
        3,
        "the title link and two WAVs, nothing else"
    );
    // Only http(s) URLs get in: no script, no spaces to break out of an attribute.
    for bad in ["javascript:alert(1)", "https://a b", "ftp://x", "https://"] {
        let options = ReportOptions {
            title_link: Some(bad.into()),
            ..ReportOptions::default()
        };
        let err = voxcap_report::ReviewReport::create(&dir.path().join("x.html"), options)
            .expect_err(bad);
        assert!(
            matches!(err, voxcap_report::ReportError::Link { .. }),
            "{bad}: {err}"
        );
        assert!(!err.to_string().contains(bad), "the URL is not quoted");
    }
}

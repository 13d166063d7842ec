//! The report rendered by a real browser: headless chromium dumps the DOM
//! after the script ran, and takes a screenshot whose plot areas must not
//! be blank. Without chromium the test fails under CI and skips elsewhere.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{batch_report, check_every_recording};

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs chromium headless with `args` on `page`; its stdout.
fn run_chromium(bin: &Path, profile: &Path, args: &[String], page: &Path) -> Vec<u8> {
    let out_path = profile.join("stdout");
    let out = std::fs::File::create(&out_path).expect("stdout file");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .args([
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.join("profile").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read(out_path).expect("read chromium's output")
}

/// Pixels in the image at `png_path` for which `pick(r, g, b)` holds, and the image height.
fn count_pixels(png_path: &Path, pick: impl Fn(u8, u8, u8) -> bool) -> (usize, u32) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("decode the screenshot");
    let channels = info.color_type.samples();
    assert!(
        channels >= 3,
        "an RGB screenshot, got {:?}",
        info.color_type
    );
    let n = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|p| pick(p[0], p[1], p[2]))
        .count();
    (n, info.height)
}

#[test]
fn chromium_renders_every_recording_and_non_blank_plots() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let (batch, html) = batch_report(dir.path());
    let page = dir.path().join("report.html");
    let dom = run_chromium(&bin, dir.path(), &["--dump-dom".to_string()], &page);
    let dom = String::from_utf8_lossy(&dom);
    assert!(dom.contains("data-ready=\"1\""), "the inline script ran");
    check_every_recording(&dom, &batch, "");
    assert!(dom.len() > html.len() / 2, "the DOM holds the page");
    let shot = std::env::var_os("VOXCAP_REPORT_SCREENSHOT")
        .map_or_else(|| dir.path().join("shot.png"), PathBuf::from);
    let args = [
        format!("--screenshot={}", shot.display()),
        "--window-size=1280,2000".to_string(),
    ];
    run_chromium(&bin, dir.path(), &args, &page);
    // The histogram bars (30, 90, 220), and the spectrograms' purple-to-teal
    // viridis (68, 1, 84) .. (34, 167, 132), which nothing else on the page uses.
    let (bars, height) = count_pixels(&shot, |r, g, b| {
        r < 60 && (70..=110).contains(&g) && b > 190
    });
    let (spectrogram, _) = count_pixels(&shot, |r, g, b| {
        r < 110 && g < 180 && (80..=160).contains(&b)
    });
    println!("screenshot {}: {height} px high, {bars} histogram-bar pixels, {spectrogram} spectrogram pixels", shot.display());
    assert_eq!(height, 2000);
    assert!(bars > 2_000, "histograms drawn: {bars} bar pixels");
    assert!(
        spectrogram > 20_000,
        "a spectrogram drawn: {spectrogram} pixels"
    );
}

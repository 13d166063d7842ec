//! The charts, drawn with plotters' SVG backend: one figure per recording
//! (waveform over spectrogram on one time axis, with the events and timers
//! marked) and the summary histograms.

use std::io::Cursor;

use base64::Engine as _;
use plotters::coord::Shift;
use plotters::prelude::*;
use voxcap_dsp::verify::RecordSettings;
use voxcap_dsp::Report;

use crate::signal::{Picture, BINS, ENVELOPE_COLUMNS};
use crate::ReportError;

/// Width of a recording's figure in pixels.
pub(crate) const FIGURE_W: u32 = 960;
/// Height of a recording's figure in pixels.
pub(crate) const FIGURE_H: u32 = 330;
const WAVE_H: u32 = 150;
const LEFT: u32 = 56;

const TRIM: RGBColor = RGBColor(205, 225, 255);
const TRIM_EDGE: RGBColor = RGBColor(30, 90, 220);
const SPEECH: RGBColor = RGBColor(40, 160, 70);
const DTMF: RGBColor = RGBColor(240, 130, 0);
const DTMF_TEXT: RGBColor = RGBColor(150, 55, 0);
const TIMER: RGBColor = RGBColor(210, 30, 30);
const WAVE: RGBColor = RGBColor(50, 50, 60);

/// Where a Graph timer would have fired, in seconds from the start.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TimerMark {
    /// Short name shown on the figure.
    pub(crate) name: &'static str,
    /// Seconds from the start of the recording.
    pub(crate) at_s: f64,
}

/// The three timers: initial silence after the start, max silence after the
/// last activity (none without activity), max duration.
pub(crate) fn timers(report: &Report, settings: &RecordSettings) -> Vec<TimerMark> {
    let mut marks = vec![TimerMark {
        name: "initial silence",
        at_s: settings.initial_silence_s,
    }];
    if let Some(end) = report.completion.evidence.last_activity_end_s {
        marks.push(TimerMark {
            name: "max silence",
            at_s: end + settings.max_silence_s,
        });
    }
    marks.push(TimerMark {
        name: "max duration",
        at_s: settings.max_record_s,
    });
    marks
}

fn plot_err(file: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        file: file.to_string(),
        message: e.to_string(),
    }
}

/// The figure of one recording as a standalone SVG document.
pub(crate) fn recording_svg(
    report: &Report,
    settings: &RecordSettings,
    pic: &Picture,
) -> Result<String, ReportError> {
    let file = report.file.as_str();
    let duration = report.duration_s.max(0.01);
    let marks = timers(report, settings);
    // Timers just past the end are still shown; far ones are listed in the text only.
    let x_max = marks
        .iter()
        .map(|m| m.at_s)
        .filter(|&t| t <= duration + 1.5)
        .fold(duration, f64::max)
        + 0.05;
    let mut svg = String::new();
    let spec_box;
    {
        let root = SVGBackend::with_string(&mut svg, (FIGURE_W, FIGURE_H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| plot_err(file, e))?;
        let (upper, lower) = root.split_vertically(WAVE_H);
        draw_waveform(&upper, report, pic, &marks, x_max, duration)
            .map_err(|e| plot_err(file, e))?;
        spec_box = draw_spectrogram(&lower, report, &marks, x_max, duration)
            .map_err(|e| plot_err(file, e))?;
        root.present().map_err(|e| plot_err(file, e))?;
    }
    let image = spectrogram_png(pic).map_err(|e| plot_err(file, e))?;
    let (x0, y0, x1, y1) = spec_box;
    let tag = format!(
        "<image x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" preserveAspectRatio=\"none\" \
         href=\"data:image/png;base64,{image}\"/>",
        (x1 - x0).max(1),
        (y1 - y0).max(1)
    );
    // Under everything but the white background (the first element).
    let at = svg.find("/>").map(|i| i + 2).unwrap_or(svg.len());
    svg.insert_str(at, &tag);
    Ok(svg)
}

type DrawResult<T> = Result<T, DrawingAreaErrorKind<std::io::Error>>;

fn draw_waveform(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    report: &Report,
    pic: &Picture,
    marks: &[TimerMark],
    x_max: f64,
    duration: f64,
) -> DrawResult<()> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(22)
        .margin_right(12)
        .y_label_area_size(LEFT)
        .build_cartesian_2d(0f64..x_max, -1.05f64..1.05f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(0)
        .y_labels(3)
        .y_desc("amplitude")
        .draw()?;
    let (t0, t1) = (report.trim.start_s, report.trim.end_s);
    if t1 > t0 {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(t0, -1.05), (t1, 1.05)],
            TRIM.filled(),
        )))?;
        chart.draw_series(
            [t0, t1]
                .into_iter()
                .map(|t| PathElement::new(vec![(t, -1.05), (t, 1.05)], TRIM_EDGE.stroke_width(2))),
        )?;
        chart.draw_series(std::iter::once(Text::new(
            "trim",
            (t0, 1.05),
            ("sans-serif", 17)
                .into_font()
                .style(FontStyle::Bold)
                .color(&TRIM_EDGE),
        )))?;
    }
    chart.draw_series(
        report
            .speech
            .iter()
            .map(|s| Rectangle::new([(s.start_s, 0.88), (s.end_s, 1.0)], SPEECH.filled())),
    )?;
    let col_s = duration / ENVELOPE_COLUMNS as f64;
    let upper = pic
        .env_max
        .iter()
        .enumerate()
        .map(|(i, &v)| ((i as f64 + 0.5) * col_s, f64::from(v.clamp(0.0, 1.0))));
    let lower = pic
        .env_min
        .iter()
        .enumerate()
        .rev()
        .map(|(i, &v)| ((i as f64 + 0.5) * col_s, f64::from(v.clamp(-1.0, 0.0))));
    chart.draw_series(std::iter::once(Polygon::new(
        upper.chain(lower).collect::<Vec<_>>(),
        WAVE.filled(),
    )))?;
    for d in &report.dtmf {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(d.start_s, -1.05), (d.end_s, 1.05)],
            DTMF.mix(0.45).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("key {}", d.digit),
            (d.start_s, -0.6),
            ("sans-serif", 22)
                .into_font()
                .style(FontStyle::Bold)
                .color(&DTMF_TEXT),
        )))?;
    }
    for m in marks.iter().filter(|m| m.at_s <= x_max) {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(m.at_s, -1.05), (m.at_s, 1.05)],
            TIMER.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{} {:.1} s", m.name, m.at_s),
            (m.at_s, 1.05),
            ("sans-serif", 15).into_font().color(&TIMER),
        )))?;
    }
    Ok(())
}

/// Draws the spectrogram's axes and marks; returns the pixel box the
/// spectrogram image goes into.
fn draw_spectrogram(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    report: &Report,
    marks: &[TimerMark],
    x_max: f64,
    duration: f64,
) -> DrawResult<(i32, i32, i32, i32)> {
    let mut chart = ChartBuilder::on(area)
        .margin_right(12)
        .margin_top(4)
        .x_label_area_size(34)
        .y_label_area_size(LEFT)
        .build_cartesian_2d(0f64..x_max, 0f64..4000f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .y_labels(5)
        .x_desc("seconds")
        .y_desc("Hz")
        .draw()?;
    let (x0, y0) = chart.backend_coord(&(0.0, 4000.0));
    let (x1, y1) = chart.backend_coord(&(duration, 0.0));
    for d in &report.dtmf {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(d.start_s, 3700.0), (d.end_s, 4000.0)],
            DTMF.filled(),
        )))?;
    }
    let (t0, t1) = (report.trim.start_s, report.trim.end_s);
    if t1 > t0 {
        chart.draw_series(
            [t0, t1]
                .into_iter()
                .map(|t| PathElement::new(vec![(t, 0.0), (t, 4000.0)], TRIM_EDGE.stroke_width(2))),
        )?;
    }
    for m in marks.iter().filter(|m| m.at_s <= x_max) {
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(m.at_s, 0.0), (m.at_s, 4000.0)],
            TIMER.stroke_width(2),
        )))?;
    }
    Ok((x0, y0, x1, y1))
}

/// The spectrogram as a base64 PNG, high frequencies at the top: an
/// indexed image (viridis palette), two FFT bins per row and 32 levels,
/// which keeps it near 20 kB for a 5 s clip.
fn spectrogram_png(pic: &Picture) -> Result<String, png::EncodingError> {
    const ROWS: usize = BINS / 2;
    let w = pic.spec_columns;
    let mut pixels = Vec::with_capacity(w * ROWS);
    for row in 0..ROWS {
        let bin = BINS - 2 - 2 * row;
        for c in 0..w {
            let cell = &pic.spec[c * BINS + bin..][..2];
            pixels.push(cell[0].max(cell[1]) & 0xF8);
        }
    }
    let palette: Vec<u8> = (0..=255u8)
        .flat_map(|v| {
            let RGBColor(r, g, b) = ViridisRGB::get_color(f64::from(v) / 255.0);
            [r, g, b]
        })
        .collect();
    let mut bytes = Cursor::new(Vec::new());
    {
        let mut encoder = png::Encoder::new(&mut bytes, w as u32, ROWS as u32);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(palette);
        encoder.set_compression(png::Compression::Balanced);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&pixels)?;
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes.into_inner()))
}

/// A histogram of `values` as SVG, titled `title` (x in `unit`).
pub(crate) fn histogram_svg(
    title: &str,
    unit: &str,
    values: &[f64],
) -> Result<String, ReportError> {
    const BUCKETS: usize = 20;
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let width = ((hi - lo) / BUCKETS as f64).max(1e-3);
    let mut counts = [0u32; BUCKETS];
    for &v in values {
        counts[(((v - lo) / width) as usize).min(BUCKETS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (300, 200)).into_drawing_area();
        let draw = || -> DrawResult<()> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("{title} (n = {})", values.len()),
                    ("sans-serif", 14),
                )
                .margin(6)
                .x_label_area_size(30)
                .y_label_area_size(36)
                .build_cartesian_2d(lo..lo + width * BUCKETS as f64, 0u32..top + top / 10 + 1)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(5)
                .y_labels(4)
                .x_desc(unit)
                .draw()?;
            chart.draw_series(counts.iter().enumerate().filter(|(_, &n)| n > 0).map(
                |(i, &n)| {
                    let x = lo + width * i as f64;
                    Rectangle::new([(x, 0), (x + width * 0.92, n)], TRIM_EDGE.filled())
                },
            ))?;
            root.present()
        };
        draw().map_err(|e| plot_err(title, e))?;
    }
    Ok(svg)
}

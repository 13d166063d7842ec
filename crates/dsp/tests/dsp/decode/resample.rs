//! Resampler quality: a 1 kHz tone keeps its level and phase, and nothing
//! else appears, for every supported input rate to 8 kHz and 16 kHz.

use voxcap_dsp::resample::StreamResampler;
use voxcap_dsp::synth;

/// Level (dBFS peak), phase error (radians) and residual (dB relative to the
/// tone) of a `freq` tone in `y` at `rate`, by least squares over the middle
/// of the signal. The residual bounds every spurious component: no single
/// spur can hold more power than all of them together.
fn measure(y: &[f32], rate: u32, freq: f64) -> (f64, f64, f64) {
    let skip = y.len() / 8;
    let w = std::f64::consts::TAU * freq / f64::from(rate);
    let (mut ss, mut sc, mut cc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (k, &v) in y.iter().enumerate().take(y.len() - skip).skip(skip) {
        let (s, c) = (w * k as f64).sin_cos();
        let v = f64::from(v);
        ss += s * s;
        sc += s * c;
        cc += c * c;
        ys += v * s;
        yc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (ys * cc - yc * sc) / det;
    let b = (yc * ss - ys * sc) / det;
    let (mut res, mut sig) = (0.0, 0.0);
    for (k, &v) in y.iter().enumerate().take(y.len() - skip).skip(skip) {
        let (s, c) = (w * k as f64).sin_cos();
        let fit = a * s + b * c;
        res += (f64::from(v) - fit).powi(2);
        sig += fit * fit;
    }
    let amp = a.hypot(b);
    (20.0 * amp.log10(), b.atan2(a), 10.0 * (res / sig).log10())
}

fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let mut rs = StreamResampler::new(from, to).unwrap();
    let mut y = Vec::new();
    for c in x.chunks(1000) {
        rs.push(c, &mut y);
    }
    rs.finish(&mut y);
    y
}

fn check(from: u32, to: u32) -> (f64, f64, f64) {
    let level = -6.0;
    let x = synth::sine(1000.0, level as f32, from as usize, from, 0.0);
    let y = resample(&x, from, to);
    assert_eq!(
        y.len(),
        to as usize,
        "{from}->{to}: one second in, one second out"
    );
    let (got, phase, spur) = measure(&y, to, 1000.0);
    println!("{from} Hz -> {to} Hz: level error {:+.4} dB, phase error {:+.2e} rad, residual {spur:.1} dB", got - level, phase);
    assert!(
        (got - level).abs() < 0.1,
        "{from}->{to}: level {got:.3} dBFS, want {level}"
    );
    assert!(
        spur < -70.0,
        "{from}->{to}: spurious components at {spur:.1} dB"
    );
    // Delay compensation: output sample k is input time k / to.
    assert!(
        phase.abs() < 0.01,
        "{from}->{to}: phase error {phase:.4} rad"
    );
    (got - level, phase, spur)
}

#[test]
fn tone_48k_to_16k_keeps_level_without_spurs() {
    check(48_000, 16_000);
}

#[test]
fn tone_8k_to_16k_keeps_level_without_spurs() {
    check(8000, 16_000);
}

#[test]
fn every_supported_rate_reaches_the_analysis_rates() {
    for from in [8000, 11_025, 16_000, 22_050, 44_100, 48_000] {
        for to in [voxcap_dsp::ANALYSIS_RATE, 16_000] {
            check(from, to);
        }
    }
}

#[test]
fn content_above_the_new_nyquist_is_removed() {
    // A 5 kHz tone at 48 kHz cannot exist at 8 kHz; it must not alias to 3 kHz.
    let x = synth::sine(5000.0, -6.0, 48_000, 48_000, 0.0);
    let y = resample(&x, 48_000, 8000);
    let rms = synth::rms_dbfs(&y[1000..7000]);
    assert!(rms < -80.0, "alias at {rms:.1} dBFS");
}

//! DTMF receiver conformance, in the manner of the Mitel CM7291 test tape:
//! every parameter of Q.24 swept per digit, with random tone phases and
//! several seeds, printing a pass matrix (`cargo test -p voxcap-dsp --test
//! dtmf_conformance -- --nocapture --test-threads=1`). Cells show how many
//! trials produced exactly the sent digit(s) ("detected") out of all trials.
//!
//! Asserted (Q.24 envelope): 100% detection for offsets within ±1.5% in any
//! combination, twist -8..+4 dB, -3..-39 dBFS per tone, durations ≥ 36 ms,
//! white noise at SNR ≥ 8 dB (≥ 99% at 6 dB; a digit 16 dB quieter than its
//! neighbours: 100% at ≥ 7 dB of its own, ≥ 98% at 6 dB); no detection at ≥ 2.5% offset (Q.24 asks
//! 3.5%), ≤ 20 ms, or ≤ -58 dBFS per tone; dropouts ≤ 10 ms never split,
//! pauses ≥ 40 ms always separate.

use crate::dtmf_support::*;
use voxcap_dsp::dtmf::DtmfConfig;
use voxcap_dsp::keypad::DTMF_DIGITS;
use voxcap_dsp::synth::Rng;

const SEEDS: u64 = 32;

/// Runs `trial(digit, rng)` for every digit and seed; returns (detected exactly once, extra events).
fn sweep(mut trial: impl FnMut(char, &mut Rng) -> (Vec<f32>, String)) -> (Cell, u32) {
    let mut cell = Cell::default();
    let mut extra = 0;
    for (i, &d) in DTMF_DIGITS.iter().enumerate() {
        for seed in 0..SEEDS {
            let mut rng = Rng::new(seed * 1000 + i as u64 + 1);
            let (signal, want) = trial(d, &mut rng);
            let got = digits(&detect(&signal, FS));
            cell.add(got == want);
            extra += got.len().saturating_sub(want.len()) as u32;
        }
    }
    (cell, extra)
}

/// A single press with 60 ms of silence either side.
fn single(t: Tone, rng: &mut Rng) -> Vec<f32> {
    let mut s = Vec::new();
    pause(&mut s, 60.0, FS);
    render(&mut s, &t, FS, rng);
    pause(&mut s, 60.0, FS);
    s
}

fn pct(c: Cell) -> String {
    format!("{:>5.1}", 100.0 * c.rate())
}

#[test]
fn frequency_offsets_each_tone_both_directions() {
    let offs = [
        -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0, 0.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0,
    ];
    println!("\n## Frequency offset: % detected (rows: low-tone offset %, columns: high-tone offset %), 60 ms, -10 dBFS/tone, 16 digits x {SEEDS} seeds");
    print!("| low \\ high |");
    for h in offs {
        print!(" {h:+.1} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(offs.len()));
    let mut failures = Vec::new();
    for l in offs {
        print!("| {l:+.1} |");
        for h in offs {
            let (cell, _) = sweep(|d, rng| {
                let t = Tone {
                    low_offset: l / 100.0,
                    high_offset: h / 100.0,
                    ..Tone::new(d, 60.0, -10.0)
                };
                (single(t, rng), d.to_string())
            });
            print!(" {} |", pct(cell));
            let accept = l.abs() <= 1.5 && h.abs() <= 1.5;
            let reject = l.abs() >= 2.5 || h.abs() >= 2.5;
            if (accept && cell.ok != cell.n) || (reject && cell.ok != 0) {
                failures.push((l, h, cell));
            }
        }
        println!();
    }
    assert!(
        failures.is_empty(),
        "offset cells out of spec: {failures:?}"
    );
}

#[test]
fn twist() {
    println!("\n## Twist (high minus low, dB), mean -15 dBFS/tone, 60 ms");
    println!("| twist dB | detected % |\n|---|---|");
    let mut failures = Vec::new();
    for t in -12..=8 {
        let t = t as f32;
        let (cell, _) = sweep(|d, rng| {
            let tone = Tone {
                low_dbfs: -15.0 - t / 2.0,
                high_dbfs: -15.0 + t / 2.0,
                ..Tone::new(d, 60.0, 0.0)
            };
            (single(tone, rng), d.to_string())
        });
        println!("| {t:+.0} | {} |", pct(cell));
        if (-8.0..=4.0).contains(&t) && cell.ok != cell.n {
            failures.push((t, cell));
        }
    }
    assert!(failures.is_empty(), "twist out of spec: {failures:?}");
}

#[test]
fn levels_per_tone() {
    println!("\n## Level per tone (dBFS peak), no twist, 60 ms");
    println!("| level dBFS | detected % |\n|---|---|");
    let mut failures = Vec::new();
    let mut levels: Vec<u32> = (0..=60).step_by(3).chain([58]).collect();
    levels.sort_unstable();
    for lv in levels {
        let lv = -(lv as f32);
        let (cell, extra) = sweep(|d, rng| (single(Tone::new(d, 60.0, lv), rng), d.to_string()));
        println!("| {lv:.0} | {} |", pct(cell));
        if (-39.0..=-3.0).contains(&lv) && cell.ok != cell.n {
            failures.push((lv, cell));
        }
        if lv <= -58.0 && (cell.ok != 0 || extra != 0) {
            failures.push((lv, cell));
        }
    }
    assert!(failures.is_empty(), "levels out of spec: {failures:?}");
}

#[test]
fn envelope_corners_level_twist_offset() {
    // Each tone within -3..-39 dBFS, twist at its limits, offsets at ±1.5% in all four
    // direction combinations: the hardest accepted cases.
    println!("\n## Envelope corners (low/high dBFS, offsets ±1.5% in all 4 combinations), 40 ms");
    println!("| low dBFS | high dBFS | detected % |\n|---|---|---|");
    let mut failures = Vec::new();
    let corners = [
        (-3.0, -3.0),
        (-3.0, -11.0),
        (-7.0, -3.0),
        (-39.0, -39.0),
        (-31.0, -39.0),
        (-39.0, -35.0),
    ];
    for (lo, hi) in corners {
        let mut all = Cell::default();
        for (lo_off, hi_off) in [
            (0.015, 0.015),
            (0.015, -0.015),
            (-0.015, 0.015),
            (-0.015, -0.015),
        ] {
            let (cell, _) = sweep(|d, rng| {
                let t = Tone {
                    low_dbfs: lo,
                    high_dbfs: hi,
                    low_offset: lo_off,
                    high_offset: hi_off,
                    ..Tone::new(d, 40.0, 0.0)
                };
                (single(t, rng), d.to_string())
            });
            all.ok += cell.ok;
            all.n += cell.n;
        }
        println!("| {lo:.0} | {hi:.0} | {} |", pct(all));
        if all.ok != all.n {
            failures.push((lo, hi, all));
        }
    }
    assert!(failures.is_empty(), "corners out of spec: {failures:?}");
}

#[test]
fn durations() {
    println!("\n## Duration (ms), -10 dBFS/tone");
    println!("| ms | detected % |\n|---|---|");
    let mut failures = Vec::new();
    for ms in (10..=80).step_by(2) {
        let (cell, extra) = sweep(|d, rng| {
            (
                single(Tone::new(d, f64::from(ms), -10.0), rng),
                d.to_string(),
            )
        });
        println!("| {ms} | {} |", pct(cell));
        if ms >= 36 && cell.ok != cell.n {
            failures.push((ms, cell));
        }
        if ms <= 20 && (cell.ok != 0 || extra != 0) {
            failures.push((ms, cell));
        }
    }
    assert!(failures.is_empty(), "durations out of spec: {failures:?}");
}

#[test]
fn pauses_between_two_presses_of_one_digit() {
    println!("\n## Pause between two 50 ms presses of the same digit: % giving two digits");
    println!("| pause ms | separated % |\n|---|---|");
    let mut failures = Vec::new();
    for p in (4..=60).step_by(4) {
        let (cell, _) = sweep(|d, rng| {
            let mut s = Vec::new();
            pause(&mut s, 60.0, FS);
            render(&mut s, &Tone::new(d, 50.0, -10.0), FS, rng);
            pause(&mut s, f64::from(p), FS);
            render(&mut s, &Tone::new(d, 50.0, -10.0), FS, rng);
            pause(&mut s, 60.0, FS);
            (s, format!("{d}{d}"))
        });
        println!("| {p} | {} |", pct(cell));
        if p >= 40 && cell.ok != cell.n {
            failures.push((p, cell));
        }
    }
    assert!(failures.is_empty(), "pauses out of spec: {failures:?}");
}

#[test]
fn dropouts_inside_a_digit() {
    println!(
        "\n## Dropout inside an 80 ms press: % reported as one digit (phase kept / phase jump)"
    );
    println!("| dropout ms | one digit, phase kept % | one digit, phase jump % |\n|---|---|---|");
    let mut failures = Vec::new();
    for gap in 2..=20 {
        let (kept, _) = sweep(|d, rng| {
            let mut s = single(Tone::new(d, 80.0, -10.0), rng);
            let at = ms_to_samples(60.0 + 35.0, FS);
            s[at..at + ms_to_samples(f64::from(gap), FS)]
                .iter_mut()
                .for_each(|v| *v = 0.0);
            (s, d.to_string())
        });
        let (jump, _) = sweep(|d, rng| {
            let mut s = Vec::new();
            pause(&mut s, 60.0, FS);
            render(&mut s, &Tone::new(d, 35.0, -10.0), FS, rng);
            pause(&mut s, f64::from(gap), FS);
            render(&mut s, &Tone::new(d, 45.0 - f64::from(gap), -10.0), FS, rng);
            pause(&mut s, 60.0, FS);
            (s, d.to_string())
        });
        println!("| {gap} | {} | {} |", pct(kept), pct(jump));
        if gap <= 10 && (kept.ok != kept.n || jump.ok != jump.n) {
            failures.push((gap, kept, jump));
        }
    }
    assert!(failures.is_empty(), "dropouts out of spec: {failures:?}");
}

#[test]
fn white_noise() {
    println!("\n## White noise over 0-4 kHz, SNR = tone-pair power / noise power, 60 ms at -20 dBFS/tone");
    println!("| SNR dB | detected % | extra digits |\n|---|---|---|");
    let mut failures = Vec::new();
    for snr in (8..=30).rev().step_by(2).chain([6, 5, 4]) {
        let (cell, extra) = sweep(|d, rng| {
            let mut s = single(Tone::new(d, 60.0, -20.0), rng);
            add_noise(&mut s, -20.0, -20.0, snr as f32, rng);
            (s, d.to_string())
        });
        println!("| {snr} | {} | {extra} |", pct(cell));
        // 100% down to 8 dB; at 6 dB (19.9% before the background floor was
        // taken off the energy-share checks) at least 99%; never an extra digit.
        if (snr >= 8 && cell.ok != cell.n) || (snr == 6 && cell.rate() < 0.99) || extra != 0 {
            failures.push((snr, cell));
        }
    }
    assert!(failures.is_empty(), "noise out of spec: {failures:?}");
}

/// Adds white noise so that the tone pair (peaks `lo`, `hi` dBFS) is `snr` dB above it.
fn add_noise(s: &mut [f32], lo: f32, hi: f32, snr: f32, rng: &mut Rng) {
    let tone_power = 0.5 * (10f64.powf(f64::from(lo) / 10.0) + 10f64.powf(f64::from(hi) / 10.0));
    let sigma = (tone_power / 10f64.powf(f64::from(snr) / 10.0)).sqrt();
    for v in s.iter_mut() {
        *v += (rng.next_gaussian() * sigma) as f32;
    }
}

#[test]
fn white_noise_at_envelope_corners() {
    println!(
        "\n## SNR 10 dB combined with twist -8/+4 and offsets ±1.5% (all direction pairs), 60 ms"
    );
    println!("| twist dB | detected % |\n|---|---|");
    let mut failures = Vec::new();
    for twist in [-8.0f32, 4.0] {
        let mut all = Cell::default();
        for (lo_off, hi_off) in [
            (0.015, 0.015),
            (0.015, -0.015),
            (-0.015, 0.015),
            (-0.015, -0.015),
        ] {
            let (cell, _) = sweep(|d, rng| {
                let (lo, hi) = (-20.0 - twist / 2.0, -20.0 + twist / 2.0);
                let t = Tone {
                    low_dbfs: lo,
                    high_dbfs: hi,
                    low_offset: lo_off,
                    high_offset: hi_off,
                    ..Tone::new(d, 60.0, 0.0)
                };
                let mut s = single(t, rng);
                add_noise(&mut s, lo, hi, 10.0, rng);
                (s, d.to_string())
            });
            all.ok += cell.ok;
            all.n += cell.n;
        }
        println!("| {twist:+.0} | {} |", pct(all));
        if all.ok != all.n {
            failures.push((twist, all));
        }
    }
    assert!(
        failures.is_empty(),
        "noisy corners out of spec: {failures:?}"
    );
}

#[test]
fn sixteen_digit_strings() {
    println!("\n## 16-digit strings (random order), all digits in order");
    println!("| on/off ms | strings exact % |\n|---|---|");
    let mut failures = Vec::new();
    for (on, off) in [(40.0, 40.0), (50.0, 50.0), (100.0, 100.0)] {
        let mut cell = Cell::default();
        for seed in 0..32u64 {
            let mut rng = Rng::new(seed + 77);
            let mut order = DTMF_DIGITS;
            for i in (1..16).rev() {
                order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
            }
            let mut s = Vec::new();
            pause(&mut s, off, FS);
            for &d in &order {
                let lv = -6.0 - 30.0 * rng.next_f64() as f32;
                render(&mut s, &Tone::new(d, on, lv), FS, &mut rng);
                pause(&mut s, off, FS);
            }
            let want: String = order.iter().collect();
            cell.add(digits(&detect(&s, FS)) == want);
        }
        println!("| {on:.0}/{off:.0} | {} |", pct(cell));
        if cell.ok != cell.n {
            failures.push((on, cell));
        }
    }
    assert!(failures.is_empty(), "strings out of spec: {failures:?}");
}

#[test]
fn edge_timing() {
    println!("\n## Edge timing: |reported - true| start and end, ms (60 ms presses, 16 digits x {SEEDS} seeds)");
    println!("| condition | max start err | max end err | mean start err | mean end err |\n|---|---|---|---|---|");
    let mut worst = 0f64;
    for (name, level, snr) in [
        ("-3 dBFS/tone", -3.0f32, None),
        ("-20 dBFS/tone", -20.0, None),
        ("-39 dBFS/tone", -39.0, None),
        ("-20 dBFS/tone, SNR 10 dB", -20.0, Some(10.0f32)),
    ] {
        let (mut max_s, mut max_e, mut sum_s, mut sum_e, mut n) = (0f64, 0f64, 0f64, 0f64, 0u32);
        for (i, &d) in DTMF_DIGITS.iter().enumerate() {
            for seed in 0..SEEDS {
                let mut rng = Rng::new(seed * 31 + i as u64);
                let mut s = Vec::new();
                pause(&mut s, 60.0 + 0.37 * (i as f64 + seed as f64), FS);
                let r = render(&mut s, &Tone::new(d, 60.0, level), FS, &mut rng);
                pause(&mut s, 60.0, FS);
                if let Some(snr) = snr {
                    add_noise(&mut s, level, level, snr, &mut rng);
                }
                let ev = detect(&s, FS);
                assert_eq!(digits(&ev), d.to_string(), "{name}");
                let es = (ev[0].start as f64 - r.start as f64).abs() / 8.0;
                let ee = (ev[0].end as f64 - r.end as f64).abs() / 8.0;
                max_s = max_s.max(es);
                max_e = max_e.max(ee);
                sum_s += es;
                sum_e += ee;
                n += 1;
            }
        }
        println!(
            "| {name} | {max_s:.2} | {max_e:.2} | {:.2} | {:.2} |",
            sum_s / f64::from(n),
            sum_e / f64::from(n)
        );
        worst = worst.max(max_s).max(max_e);
    }
    assert!(worst <= 5.0, "edge error {worst} ms > 5 ms");
}

/// One white-noise recording: loud digits (-10 dBFS/tone) around a digit 16 dB
/// quieter, the noise set by the quiet digit's own SNR. The loud digits set no
/// threshold for the quiet one: the energy-share checks measure against the
/// background floor, which the gaps between digits show.
fn quiet_between_loud(quiet: char, snr: f32, rng: &mut Rng) -> (Vec<f32>, String) {
    let loud = ['1', '9', '#', '4'];
    let mut s = Vec::new();
    pause(&mut s, 200.0, FS);
    for &d in &loud[..2] {
        render(&mut s, &Tone::new(d, 70.0, -10.0), FS, rng);
        pause(&mut s, 70.0, FS);
    }
    render(&mut s, &Tone::new(quiet, 70.0, -26.0), FS, rng);
    for &d in &loud[2..] {
        pause(&mut s, 70.0, FS);
        render(&mut s, &Tone::new(d, 70.0, -10.0), FS, rng);
    }
    pause(&mut s, 200.0, FS);
    add_noise(&mut s, -26.0, -26.0, snr, rng);
    let want = format!("19{quiet}#4");
    (s, want)
}

#[test]
fn quiet_digit_between_loud_digits() {
    println!("\n## A digit 16 dB quieter than its neighbours (-26 vs -10 dBFS/tone, 70 ms on/off) in one white-noise recording; SNR of the quiet digit");
    println!("| SNR dB | all five digits exact % | floor weight 0 (no floor) % |\n|---|---|---|");
    let plain = DtmfConfig {
        noise_floor_weight: 0.0,
        ..DtmfConfig::default()
    };
    let mut failures = Vec::new();
    for snr in [8.0f32, 7.0, 6.0, 5.0, 4.0] {
        let mut cell = Cell::default();
        let mut cell_plain = Cell::default();
        let mut extra = 0;
        for (i, &d) in DTMF_DIGITS.iter().enumerate() {
            for seed in 0..SEEDS {
                let mut rng = Rng::new(seed * 7919 + i as u64 + 3);
                let (s, want) = quiet_between_loud(d, snr, &mut rng);
                let got = digits(&detect(&s, FS));
                cell.add(got == want);
                extra += got.len().saturating_sub(want.len());
                cell_plain.add(digits(&detect_with(plain, &s)) == want);
            }
        }
        println!("| {snr:.0} | {} | {} |", pct(cell), pct(cell_plain));
        // Measured: 100% at 7 dB and above, 98.6% at 6 dB (20.9% without the
        // floor); the misses at 6 dB drop the quiet digit, never add one.
        if (snr >= 7.0 && cell.ok != cell.n) || (snr == 6.0 && cell.rate() < 0.98) || extra != 0 {
            failures.push((snr, cell, extra));
        }
    }
    assert!(
        failures.is_empty(),
        "quiet digit missed or extra digits: {failures:?}"
    );
}

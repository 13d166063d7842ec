//! Codec robustness: digit sequences survive G.711 µ-law and A-law (encoder
//! and decoder implemented here per ITU-T G.711) and GSM 06.10 full rate (via
//! `sox`). Asserted: G.711 ≥ 99% detected and no extras; GSM ≥ 90% detected
//! and at most 1 extra per 300 digits. Without `sox`, the GSM test fails when
//! `CI` is set and otherwise says how to install it.

use crate::dtmf_support::*;
use voxcap_dsp::events::DtmfEvent;
use voxcap_dsp::keypad::DTMF_DIGITS;
use voxcap_dsp::synth::{to_i16, wav_pcm16_mono, Rng};

const DIGITS: usize = 320;

/// A long call: digits with varied level, twist, offsets and timing inside
/// the acceptance envelope (kept below clipping), and where each was sent.
fn sequence(seed: u64) -> (Vec<f32>, Vec<(char, usize, usize)>) {
    let mut rng = Rng::new(seed);
    let mut s = Vec::new();
    let mut sent = Vec::new();
    pause(&mut s, 100.0, FS);
    for _ in 0..DIGITS {
        let d = DTMF_DIGITS[(rng.next_u64() % 16) as usize];
        let twist = -8.0 + 12.0 * rng.next_f64() as f32;
        let mean = -9.0 - 26.0 * rng.next_f64() as f32;
        let off = |r: &mut Rng| (r.next_f64() * 2.0 - 1.0) * 0.015;
        let t = Tone {
            digit: d,
            ms: 40.0 + 60.0 * rng.next_f64(),
            low_dbfs: mean - twist / 2.0,
            high_dbfs: mean + twist / 2.0,
            low_offset: off(&mut rng),
            high_offset: off(&mut rng),
        };
        let r = render(&mut s, &t, FS, &mut rng);
        sent.push((d, r.start, r.end));
        pause(&mut s, 50.0 + 100.0 * rng.next_f64(), FS);
    }
    (s, sent)
}

/// (detected, extra): a sent digit is detected if an event of that digit overlaps it.
fn score(sent: &[(char, usize, usize)], got: &[DtmfEvent]) -> (usize, usize) {
    let mut used = vec![false; got.len()];
    let mut detected = 0;
    for &(d, a, b) in sent {
        if let Some(i) = got
            .iter()
            .position(|e| e.digit == d && (e.start as usize) < b && (e.end as usize) > a)
        {
            detected += 1;
            used[i] = true;
        }
    }
    (detected, used.iter().filter(|u| !**u).count())
}

/// G.711 µ-law encode of a 16-bit sample (bias 0x84, segment search, inverted bits).
fn ulaw_encode(x: i16) -> u8 {
    let mut v = i32::from(x);
    let sign = if v < 0 { 0x80 } else { 0 };
    if v < 0 {
        v = -v;
    }
    v = (v + 0x84).min(0x7FFF);
    let mut seg = 0;
    while seg < 7 && v > (0xFF << seg) {
        seg += 1;
    }
    let mant = (v >> (seg + 3)) & 0x0F;
    !(sign | (seg << 4) | mant) as u8
}

fn ulaw_decode(c: u8) -> i16 {
    let c = !c;
    let seg = i32::from((c >> 4) & 7);
    let mant = i32::from(c & 0x0F);
    let v = (((mant << 3) + 0x84) << seg) - 0x84;
    (if c & 0x80 != 0 { -v } else { v }) as i16
}

/// G.711 A-law encode of a 16-bit sample (13-bit magnitude, even bits inverted).
fn alaw_encode(x: i16) -> u8 {
    let v = i32::from(x) >> 3;
    let (sign, mag) = if v >= 0 { (0x80, v) } else { (0, -v - 1) };
    let mag = mag.min(0x0FFF);
    let code = if mag < 32 {
        mag >> 1
    } else {
        let mut seg = 1;
        while seg < 7 && mag >= (32 << seg) {
            seg += 1;
        }
        (seg << 4) | ((mag >> seg) & 0x0F)
    };
    ((sign | code) ^ 0x55) as u8
}

fn alaw_decode(c: u8) -> i16 {
    let c = i32::from(c ^ 0x55);
    let seg = (c >> 4) & 7;
    let mant = c & 0x0F;
    let mag = if seg == 0 {
        (mant << 4) + 8
    } else {
        ((mant << 4) + 0x108) << (seg - 1)
    };
    (if c & 0x80 != 0 { mag } else { -mag }) as i16
}

fn through(s: &[f32], enc: fn(i16) -> u8, dec: fn(u8) -> i16) -> Vec<f32> {
    to_i16(s)
        .into_iter()
        .map(|x| f32::from(dec(enc(x))) / 32768.0)
        .collect()
}

#[test]
fn g711_round_trip_is_accurate() {
    for x in [-32768i16, -1000, -1, 0, 1, 7, 100, 1000, 32767] {
        let u = ulaw_decode(ulaw_encode(x));
        let a = alaw_decode(alaw_encode(x));
        let tol = (i32::from(x).abs() / 16).max(8);
        assert!(
            (i32::from(u) - i32::from(x)).abs() <= tol.max(132),
            "µ {x} -> {u}"
        );
        assert!(
            (i32::from(a) - i32::from(x)).abs() <= tol.max(16),
            "A {x} -> {a}"
        );
    }
}

#[test]
fn g711_mu_law_and_a_law() {
    let (s, sent) = sequence(11);
    for (name, enc, dec) in [
        (
            "mu-law",
            ulaw_encode as fn(i16) -> u8,
            ulaw_decode as fn(u8) -> i16,
        ),
        ("A-law", alaw_encode, alaw_decode),
    ] {
        let got = detect(&through(&s, enc, dec), FS);
        let (det, extra) = score(&sent, &got);
        println!(
            "G.711 {name}: {det}/{} detected ({:.1}%), {extra} extra",
            sent.len(),
            100.0 * det as f64 / sent.len() as f64
        );
        assert!(det * 100 >= sent.len() * 99, "{name}: {det}/{}", sent.len());
        assert_eq!(extra, 0, "{name}: extra digits");
    }
}

#[test]
fn gsm_06_10_full_rate() {
    let sox_ok = std::process::Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !sox_ok {
        let msg = "sox missing: install sox (and libsox-fmt-all) to run the GSM 06.10 test";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        println!("{msg}");
        return;
    }
    let (s, sent) = sequence(12);
    let dir = tempfile_dir();
    let wav = dir.join("in.wav");
    let gsm = dir.join("out.gsm");
    let back = dir.join("back.wav");
    std::fs::write(&wav, wav_pcm16_mono(&s, FS)).expect("write wav");
    let run = |args: &[&std::path::Path]| {
        let st = std::process::Command::new("sox")
            .args(args)
            .status()
            .expect("run sox");
        assert!(st.success(), "sox {args:?} failed");
    };
    run(&[&wav, &gsm]);
    run(&[&gsm, "-b".as_ref(), "16".as_ref(), &back]);
    let mut r = hound::WavReader::open(&back).expect("decoded gsm");
    let x: Vec<f32> = r
        .samples::<i16>()
        .map(|v| f32::from(v.expect("sample")) / 32768.0)
        .collect();
    let got = detect(&x, FS);
    let (det, extra) = score(&sent, &got);
    println!(
        "GSM 06.10: {det}/{} detected ({:.1}%), {extra} extra",
        sent.len(),
        100.0 * det as f64 / sent.len() as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert!(det * 10 >= sent.len() * 9, "GSM: {det}/{}", sent.len());
    assert!(extra * 300 <= sent.len(), "GSM: {extra} extra digits");
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("voxcap-dtmf-gsm-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

//! The detector's events do not depend on how the stream is chunked, and the
//! native 16 kHz mode makes the same decisions as 8 kHz.

use crate::dtmf_support::*;
use proptest::prelude::*;
use voxcap_dsp::keypad::DTMF_DIGITS;
use voxcap_dsp::synth::Rng;

/// Speech-like noise with digits of varied length, level and pauses, plus a
/// digit cut short by the end of the stream.
fn signal(rate: u32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut s = Vec::new();
    pause(&mut s, 37.0, rate);
    for (i, &d) in DTMF_DIGITS.iter().enumerate() {
        let ms = 40.0 + 10.0 * (i % 5) as f64;
        let lv = -5.0 - 2.0 * i as f32;
        render(&mut s, &Tone::new(d, ms, lv), rate, &mut rng);
        pause(&mut s, 45.0 + 3.0 * i as f64, rate);
    }
    render(&mut s, &Tone::new('#', 50.0, -12.0), rate, &mut rng);
    for v in s.iter_mut() {
        *v += (rng.next_gaussian() * 0.003) as f32;
    }
    s
}

#[test]
fn explicit_chunk_sizes_give_identical_events() {
    let s = signal(FS, 1);
    let whole = detect(&s, FS);
    assert_eq!(digits(&whole), "123A456B789C*0#D#", "{whole:?}");
    for chunk in [1, 80, 160, 1000] {
        assert_eq!(detect_chunked(&s, FS, chunk), whole, "chunk {chunk}");
    }
}

#[test]
fn digit_cut_by_end_of_stream_is_reported_by_finish() {
    let ev = detect(&signal(FS, 2), FS);
    let last = ev.last().expect("events");
    assert_eq!(last.digit, '#');
    // The tone runs to the last sample; its end edge is found within 2 ms.
    let n = signal(FS, 2).len() as i64;
    assert!(
        (last.end as i64 - n).abs() <= 16 && last.end as i64 <= n,
        "{last:?} vs {n}"
    );
}

#[test]
fn sixteen_khz_decides_like_eight_khz() {
    let e8 = detect(&signal(8000, 3), 8000);
    let e16 = detect(&signal(16000, 3), 16000);
    assert_eq!(digits(&e8), digits(&e16));
    for (a, b) in e8.iter().zip(&e16) {
        // Same decisions; edges within 1 ms of each other (16 samples at 16 kHz).
        assert!(
            (a.start as i64 * 2 - b.start as i64).abs() <= 16,
            "{a:?} {b:?}"
        );
        assert!((a.end as i64 * 2 - b.end as i64).abs() <= 16, "{a:?} {b:?}");
        assert!((a.level_dbfs - b.level_dbfs).abs() < 0.5, "{a:?} {b:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_chunking_gives_identical_events(seed in 0u64..1000, sizes in proptest::collection::vec(1usize..700, 1..20)) {
        let s = signal(FS, seed);
        let whole = detect(&s, FS);
        let mut d = voxcap_dsp::dtmf::DtmfDetector::new(voxcap_dsp::dtmf::DtmfConfig::default()).unwrap();
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < s.len() {
            let n = sizes[i % sizes.len()].min(s.len() - at);
            d.push(&s[at..at + n], &mut out);
            at += n;
            i += 1;
        }
        d.finish(&mut out);
        prop_assert_eq!(out, whole);
    }
}

//! Completion verification on 240 generated recordings: each is built, from
//! random settings, to end the way one reason would end it (real speech from
//! the fixtures, line noise, key presses), then the speech detector and the
//! verifier run on it. A third are reported with a wrong verifiable reason and
//! a tenth with a reason the audio cannot speak to. Half start with the tail
//! of Graph's beep.

use crate::speech_set::*;
use voxcap_dsp::events::DtmfEvent;
use voxcap_dsp::synth::{self, DtmfPress, Rng};
use voxcap_dsp::vad::detect_speech;
use voxcap_dsp::verify::{
    verify_completion, AudioEvidence, CompletionReason, CompletionVerdict, RecordSettings,
    ReportedOutcome, VerifyTolerances,
};

const REASONS: [CompletionReason; 4] = [
    CompletionReason::StopToneDetected,
    CompletionReason::MaxRecordDurationReached,
    CompletionReason::InitialSilenceTimeout,
    CompletionReason::MaxSilenceTimeout,
];

struct Case {
    truth: CompletionReason,
    settings: RecordSettings,
    samples: Vec<f32>,
    dtmf: Vec<DtmfEvent>,
}

/// Lays utterances from `start` with gaps in `gap` seconds until `until`;
/// returns the end of the last truth span placed.
fn speak(
    fx: &[Fixture],
    rng: &mut Rng,
    x: &mut Vec<f32>,
    start: usize,
    until: usize,
    gap: (f64, f64),
    level: f32,
) -> usize {
    let mut at = start;
    let mut last_end = start;
    while at < until {
        let k = (rng.next_u64() % fx.len() as u64) as usize;
        let f = &fx[k];
        let first = f.truth[0].0;
        let g = synth::dbfs_to_amplitude(level - speech_power_db(&f.samples, &f.truth));
        let end_truth = f.truth.iter().map(|t| t.1).max().unwrap();
        // Only the labelled part: the recorded fixtures carry their own room noise.
        for (i, &v) in f.samples[first..end_truth].iter().enumerate() {
            let j = at + i;
            if j >= until {
                break;
            }
            if j >= x.len() {
                x.resize(j + 1, 0.0);
            }
            x[j] += g * v;
        }
        last_end = (at + end_truth - first).min(until);
        at += end_truth - first + secs(gap.0 + (gap.1 - gap.0) * rng.next_f64());
    }
    last_end
}

fn make_case(fx: &[Fixture], i: usize) -> Case {
    let mut rng = Rng::new(0x5EED_0000 + i as u64);
    let truth = REASONS[i % 4].clone();
    let pick = |rng: &mut Rng, lo: u64, hi: u64| (lo + rng.next_u64() % (hi - lo + 1)) as f64;
    let mut settings = RecordSettings {
        stop_tones: match rng.next_u64() % 3 {
            0 => vec!['#'],
            1 => vec!['*', '#'],
            _ => vec!['0'],
        },
        initial_silence_s: pick(&mut rng, 2, 8),
        max_silence_s: pick(&mut rng, 1, 4),
        max_record_s: pick(&mut rng, 5, 15),
    };
    // Graph ends a timer-driven operation a little after the nominal time.
    let jitter = -0.2 + 0.6 * rng.next_f64();
    let level = -30.0 + 15.0 * rng.next_f64() as f32;
    let mut x: Vec<f32> = Vec::new();
    let mut dtmf = Vec::new();
    let onset = secs(0.3 + (settings.initial_silence_s - 1.0).clamp(0.0, 1.7) * rng.next_f64());
    // Gaps between utterances stay well below max silence.
    let gap_max = (settings.max_silence_s - 0.9).max(0.15);
    let gap = (0.1, gap_max);
    match truth {
        CompletionReason::InitialSilenceTimeout => {
            settings.max_record_s = settings.max_record_s.max(settings.initial_silence_s + 3.0);
            x.resize(secs(settings.initial_silence_s + jitter), 0.0);
        }
        CompletionReason::MaxSilenceTimeout => {
            let talk = secs(1.0 + 3.0 * rng.next_f64());
            let end = speak(fx, &mut rng, &mut x, onset, onset + talk, gap, level);
            let total = end + secs(settings.max_silence_s + jitter);
            x.resize(total, 0.0);
            settings.max_record_s = settings
                .max_record_s
                .max((total as f64 / 8000.0).ceil() + 2.0);
        }
        CompletionReason::StopToneDetected => {
            let talk = secs(1.0 + 3.0 * rng.next_f64());
            let end = speak(fx, &mut rng, &mut x, onset, onset + talk, gap, level);
            let at = end + secs(0.3 + (settings.max_silence_s - 1.0).max(0.2) * rng.next_f64());
            let digit =
                settings.stop_tones[(rng.next_u64() % settings.stop_tones.len() as u64) as usize];
            // Graph stops once it recognises the key: the tone is cut short.
            let kept = 0.05 + 0.15 * rng.next_f64();
            x.resize(at, 0.0);
            dtmf.push(put_dtmf(&mut x, &DtmfPress::new(digit, kept), at));
            x.resize(x.len() + secs(0.1 * rng.next_f64()), 0.0);
            settings.max_record_s = settings
                .max_record_s
                .max((x.len() as f64 / 8000.0).ceil() + 2.0);
        }
        CompletionReason::MaxRecordDurationReached => {
            settings.max_silence_s = settings.max_silence_s.max(2.0);
            let total = secs(settings.max_record_s + jitter);
            speak(fx, &mut rng, &mut x, onset, total, (0.1, 0.8), level);
            x.resize(total, 0.0);
            // A key press that is not a stop tone, mid-recording.
            if rng.next_u64().is_multiple_of(2) {
                let at = total / 2;
                dtmf.push(put_dtmf(&mut x, &DtmfPress::new('5', 0.1), at));
                x.truncate(total);
            }
        }
        _ => unreachable!(),
    }
    // Half the recordings start with the tail of Graph's beep (1 kHz): it is
    // neither speech nor activity.
    if i % 8 < 4 {
        let tail = synth::sine(1000.0, -12.0, secs(0.05 + 0.1 * rng.next_f64()), RATE, 0.0);
        for (v, t) in x.iter_mut().zip(tail) {
            *v += t;
        }
    }
    // Line noise 15 to 35 dB below the speech.
    let n = x.len();
    let noise_db = level - 15.0 - 20.0 * rng.next_f64() as f32;
    let noise = if i.is_multiple_of(2) {
        synth::white_noise(i as u64, noise_db, n)
    } else {
        synth::pink_noise(i as u64, noise_db, n)
    };
    x.iter_mut().zip(noise).for_each(|(v, w)| *v += w);
    Case {
        truth,
        settings,
        samples: x,
        dtmf,
    }
}

#[test]
fn verification_accuracy_on_generated_recordings() {
    let fx = fixtures();
    let tol = VerifyTolerances::default();
    let n_cases = 240;
    // (truth, report kind) -> counts of verdicts [consistent, inconsistent, unverifiable]
    let mut table: Vec<(String, [usize; 3])> = Vec::new();
    let (mut correct, mut total, mut bad_consistent) = (0, 0, Vec::new());
    for i in 0..n_cases {
        let case = make_case(&fx, i);
        let act = detect_speech(&case.samples, RATE, &case.dtmf).unwrap();
        let audio = AudioEvidence {
            sample_rate: RATE,
            total_samples: case.samples.len() as u64,
            speech: &act.segments,
            dtmf: &case.dtmf,
        };
        // Every third case is mislabelled; every tenth reports a non-audio reason.
        let (reported, expect, kind) = if i % 10 == 9 {
            let r = [
                "operationCanceled",
                "8511",
                "playBeepFailed",
                "8528",
                "8513",
            ][(i / 10) % 5];
            (
                CompletionReason::parse(r),
                CompletionVerdict::Unverifiable,
                "non-audio",
            )
        } else if i % 3 == 2 {
            let wrong = REASONS[(i % 4 + 1 + (i / 3) % 3) % 4].clone();
            assert_ne!(wrong, case.truth);
            (wrong, CompletionVerdict::Inconsistent, "mislabelled")
        } else {
            (case.truth.clone(), CompletionVerdict::Consistent, "correct")
        };
        // Alternate the wire forms: name, subcode, both.
        let subcode = match reported {
            CompletionReason::StopToneDetected => Some(8514),
            CompletionReason::MaxRecordDurationReached => Some(8515),
            CompletionReason::InitialSilenceTimeout => Some(8510),
            CompletionReason::MaxSilenceTimeout => Some(8509),
            _ => None,
        };
        let outcome = match (i % 3, subcode) {
            (0, Some(c)) => ReportedOutcome {
                completion_reason: None,
                subcode: Some(c),
            },
            (1, c) => ReportedOutcome {
                completion_reason: Some(reported.as_str().to_string()),
                subcode: c,
            },
            _ => ReportedOutcome {
                completion_reason: Some(reported.as_str().to_string()),
                subcode: None,
            },
        };
        let c = verify_completion(&case.settings, &outcome, &audio, &tol);
        total += 1;
        if c.verdict == expect {
            correct += 1;
        } else {
            println!(
                "case {i}: truth {} reported {} ({kind}) -> {:?}, plausible {:?}\n  settings {:?}\n  evidence {:?}",
                case.truth.as_str(),
                reported.as_str(),
                c.verdict,
                c.plausible,
                case.settings,
                c.evidence
            );
            if kind == "mislabelled" && c.verdict == CompletionVerdict::Consistent {
                bad_consistent.push(i);
            }
        }
        let key = format!("{:<26} {kind}", case.truth.as_str());
        let col = match c.verdict {
            CompletionVerdict::Consistent => 0,
            CompletionVerdict::Inconsistent => 1,
            CompletionVerdict::Unverifiable => 2,
        };
        match table.iter_mut().find(|r| r.0 == key) {
            Some(r) => r.1[col] += 1,
            None => {
                let mut v = [0; 3];
                v[col] = 1;
                table.push((key, v));
            }
        }
    }
    table.sort_by(|a, b| a.0.cmp(&b.0));
    println!("\n| true reason, report | consistent | inconsistent | unverifiable |");
    println!("|---|---|---|---|");
    for (k, v) in &table {
        println!("| {k} | {} | {} | {} |", v[0], v[1], v[2]);
    }
    let acc = correct as f64 / total as f64;
    println!("correct verdicts: {correct}/{total} = {:.1}%", 100.0 * acc);
    assert!(total >= 200);
    assert!(acc >= 0.98, "accuracy {:.3} < 0.98", acc);
    assert!(
        bad_consistent.is_empty(),
        "mislabelled cases judged consistent: {bad_consistent:?}"
    );
}

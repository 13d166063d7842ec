//! Live events while a recording is still arriving (a recording streamed
//! while the caller speaks): digits as each key press ends, provisional
//! speech starts and ends, and the audio's progress.
//!
//! Digits are final: they are the DTMF detector's own events, reported as
//! soon as a key press has ended (the audio is decoded in 20 ms blocks, so
//! a block's events come out as soon as its last byte arrives). Speech starts and ends are *hints*: the
//! speech detector decides at the end of the stream, from percentiles over
//! the whole clip, so while audio arrives only a causal rule can run. It
//! reads the detector's per-frame record (webrtc-vad's decision, the
//! frame's power and the tone flag) against a trailing noise floor. The
//! report's `speech` segments, decided at the end, are the final word.

use std::collections::VecDeque;
use std::io::Read;

use serde::Serialize;

use crate::analysis::{analyze_stream, Analysed, AnalysisConfig, AnalysisError, Analyzer};
use crate::ANALYSIS_RATE;

/// Something the analysis noticed while the audio was still arriving.
/// Times are seconds from the start of the recording.
///
/// Serialised as one JSON object with an `event` tag, e.g.
/// `{"event":"digit","digit":"5","startS":1.2,"endS":1.32}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum LiveEvent {
    /// A key press ended (final, as in the report).
    #[serde(rename_all = "camelCase")]
    Digit {
        /// The key: `0`-`9`, `*`, `#` or `A`-`D`.
        digit: char,
        /// Start of the tone.
        start_s: f64,
        /// End of the tone.
        end_s: f64,
    },
    /// The caller seems to have started speaking (a provisional hint).
    #[serde(rename_all = "camelCase")]
    SpeechStart {
        /// Where the speech began.
        at_s: f64,
    },
    /// The caller seems to have stopped speaking (a provisional hint).
    #[serde(rename_all = "camelCase")]
    SpeechEnd {
        /// Where the speech ended.
        at_s: f64,
    },
    /// This much audio has been analysed (about once a second of audio).
    #[serde(rename_all = "camelCase")]
    Progress {
        /// Seconds of audio analysed.
        audio_s: f64,
    },
}

/// [`analyze_stream`] with live events: `on_event` is called, on the
/// caller's thread, as digits end, speech seems to start or stop, and each
/// second of audio is analysed; the last ones when the stream ends.
///
/// A panic while doing so is caught and returned as
/// [`AnalysisError::Internal`].
pub fn analyze_live<R: Read + Send + 'static>(
    reader: R,
    config: &AnalysisConfig,
    on_event: &mut dyn FnMut(LiveEvent),
) -> Result<Analysed, AnalysisError> {
    let mut tracker = LiveTracker::default();
    let analysed = analyze_stream(reader, config, Some(LIVE_BLOCK_S), &mut |an| {
        tracker.poll(an, on_event)
    })?;
    tracker.finish(&analysed, on_event);
    Ok(analysed)
}

/// Audio per decoded block: a block waits for its last byte, so this
/// bounds how late an event can be, beyond the detectors' own delay.
const LIVE_BLOCK_S: f64 = 0.02;
/// 10 ms frames in the trailing window of the live noise floor (3 s).
const FLOOR_FRAMES: usize = 300;
/// Frames averaged into the power the floor is the minimum of (50 ms).
const SMOOTH_FRAMES: usize = 5;
/// Frames looked at for an onset (100 ms), of which `ONSET_VOICED` must be voiced.
const ONSET_WINDOW: usize = 10;
/// Voiced frames in the onset window that start speech (60 ms).
const ONSET_VOICED: usize = 6;
/// Seconds between two progress events.
const PROGRESS_EVERY: u64 = ANALYSIS_RATE as u64;
/// Samples per 10 ms frame at the analysis rate.
const FRAME: u64 = ANALYSIS_RATE as u64 / 100;

/// Follows an [`Analyzer`] and turns what is new since the last look into
/// events.
#[derive(Debug, Default)]
struct LiveTracker {
    digits_seen: usize,
    frames_seen: usize,
    next_progress: u64,
    speech: LiveSpeech,
}

impl LiveTracker {
    fn poll(&mut self, an: &Analyzer, on_event: &mut dyn FnMut(LiveEvent)) {
        self.digits(an.dtmf_events(), on_event);
        let vad = an.speech_detector();
        let (gate_db, floor_dbfs, hangover) = {
            let c = vad.config();
            (c.gate_db, c.abs_floor_dbfs, (c.merge_gap_ms / 10) as usize)
        };
        let mut n = 0;
        for (power, voice, tonal) in vad.classified_frames(self.frames_seen) {
            let frame = (self.frames_seen + n) as u64;
            n += 1;
            let rule = SpeechRule {
                gate_db,
                abs_floor_dbfs: floor_dbfs,
                hangover,
            };
            if let Some(e) = self.speech.push(frame, power, voice, tonal, &rule) {
                on_event(e);
            }
        }
        self.frames_seen += n;
        if self.next_progress == 0 {
            self.next_progress = PROGRESS_EVERY;
        }
        while an.analysis_samples() >= self.next_progress {
            on_event(LiveEvent::Progress {
                audio_s: seconds(self.next_progress),
            });
            self.next_progress += PROGRESS_EVERY;
        }
    }

    fn digits(&mut self, events: &[crate::events::DtmfEvent], on_event: &mut dyn FnMut(LiveEvent)) {
        for e in events.iter().skip(self.digits_seen) {
            on_event(LiveEvent::Digit {
                digit: e.digit,
                start_s: seconds(e.start),
                end_s: seconds(e.end),
            });
        }
        self.digits_seen = self.digits_seen.max(events.len());
    }

    /// The digits that ended with the stream, a speech still open, and the
    /// final progress.
    fn finish(&mut self, analysed: &Analysed, on_event: &mut dyn FnMut(LiveEvent)) {
        self.digits(&analysed.findings.dtmf, on_event);
        let total = analysed.findings.speech.total_samples;
        if let Some(e) = self.speech.flush(total) {
            on_event(e);
        }
        on_event(LiveEvent::Progress {
            audio_s: seconds(total),
        });
    }
}

/// The detector's settings the live rule uses.
struct SpeechRule {
    gate_db: f32,
    abs_floor_dbfs: f32,
    /// Frames without voice that end a speech (the detector's merge gap).
    hangover: usize,
}

/// Frames on each side whose tone flag masks a frame: the per-frame flag
/// flickers within a key press, so a tone is a run with gaps.
const TONE_REACH: usize = 3;

/// The causal speech rule: a frame is voiced when webrtc-vad says voice, no
/// frame within [`TONE_REACH`] is a tone, and its power stands the
/// detector's gate above the minimum of the 50 ms-smoothed power over the
/// last 3 s (and above the absolute floor). Speech starts at the first
/// voiced frame of a 100 ms window with 60 ms voiced, and ends after the
/// detector's merge gap with no voiced frame. Frames are judged
/// [`TONE_REACH`] frames late, once the frames after them are known.
#[derive(Debug, Default)]
struct LiveSpeech {
    /// (frame, power, voice, tonal) not judged yet, and the frames before.
    window: VecDeque<(u64, f32, bool, bool)>,
    smooth: VecDeque<f32>,
    /// (frame, smoothed power), increasing powers: the trailing minimum.
    floor: VecDeque<(u64, f32)>,
    recent: VecDeque<(u64, bool)>,
    in_speech: bool,
    last_voiced: u64,
}

impl LiveSpeech {
    fn push(
        &mut self,
        frame: u64,
        power: f32,
        voice: bool,
        tonal: bool,
        rule: &SpeechRule,
    ) -> Option<LiveEvent> {
        self.window.push_back((frame, power, voice, tonal));
        if self.window.len() < 2 * TONE_REACH + 1 {
            // The stream's first frames: judged once enough follow them.
            return if self.window.len() > TONE_REACH {
                self.judge(self.window.len() - 1 - TONE_REACH, rule)
            } else {
                None
            };
        }
        let e = self.judge(TONE_REACH, rule);
        self.window.pop_front();
        e
    }

    /// Judges `window[i]`, with the frames around it for the tone mask.
    fn judge(&mut self, i: usize, rule: &SpeechRule) -> Option<LiveEvent> {
        let (frame, power, voice, _) = self.window[i];
        let near_tone = self
            .window
            .range(i.saturating_sub(TONE_REACH)..(i + TONE_REACH + 1).min(self.window.len()))
            .any(|f| f.3);
        self.smooth.push_back(power);
        if self.smooth.len() > SMOOTH_FRAMES {
            self.smooth.pop_front();
        }
        let smoothed = self.smooth.iter().sum::<f32>() / self.smooth.len() as f32;
        while self.floor.back().is_some_and(|&(_, p)| p >= smoothed) {
            self.floor.pop_back();
        }
        self.floor.push_back((frame, smoothed));
        while self
            .floor
            .front()
            .is_some_and(|&(f, _)| f + (FLOOR_FRAMES as u64) < frame)
        {
            self.floor.pop_front();
        }
        let floor = self.floor.front().map_or(smoothed, |&(_, p)| p);
        let db = |p: f32| 10.0 * p.max(1e-12).log10();
        let voiced = voice
            && !near_tone
            && db(power) > rule.abs_floor_dbfs
            && db(power) > db(floor) + rule.gate_db;
        self.recent.push_back((frame, voiced));
        if self.recent.len() > ONSET_WINDOW {
            self.recent.pop_front();
        }
        if voiced {
            self.last_voiced = frame;
        }
        if !self.in_speech {
            let count = self.recent.iter().filter(|(_, v)| *v).count();
            if count >= ONSET_VOICED {
                self.in_speech = true;
                let first = self
                    .recent
                    .iter()
                    .find(|(_, v)| *v)
                    .map_or(frame, |&(f, _)| f);
                return Some(LiveEvent::SpeechStart {
                    at_s: seconds(first * FRAME),
                });
            }
        } else if frame.saturating_sub(self.last_voiced) > rule.hangover as u64 {
            return self.close(u64::MAX);
        }
        None
    }

    /// At the end of the stream: the frames not judged yet are let go (a
    /// speech still open ends at its last voiced frame, no later than
    /// `total` samples).
    fn flush(&mut self, total: u64) -> Option<LiveEvent> {
        self.close(total)
    }

    /// Ends an open speech at its last voiced frame (no later than `limit`).
    fn close(&mut self, limit: u64) -> Option<LiveEvent> {
        if !self.in_speech {
            return None;
        }
        self.in_speech = false;
        Some(LiveEvent::SpeechEnd {
            at_s: seconds(((self.last_voiced + 1) * FRAME).min(limit)),
        })
    }
}

fn seconds(samples: u64) -> f64 {
    samples as f64 / f64::from(ANALYSIS_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    fn events_of(wav: Vec<u8>) -> (Vec<LiveEvent>, Analysed) {
        let mut events = Vec::new();
        let a = analyze_live(
            std::io::Cursor::new(wav),
            &AnalysisConfig::default(),
            &mut |e| events.push(e),
        )
        .unwrap();
        (events, a)
    }

    #[test]
    fn digits_speech_and_progress_arrive_in_order_and_match_the_report() {
        let rate = 8000;
        let mut x = synth::white_noise(1, -60.0, rate as usize / 2);
        x.extend(synth::dtmf_press(&synth::DtmfPress::new('5', 0.1), rate));
        x.extend(synth::white_noise(2, -60.0, rate as usize));
        x.extend(synth::dtmf_press(&synth::DtmfPress::new('#', 0.1), rate));
        x.extend(synth::white_noise(3, -60.0, rate as usize / 2));
        let (events, a) = events_of(synth::wav_pcm16_mono(&x, rate));
        let digits: Vec<char> = events
            .iter()
            .filter_map(|e| match e {
                LiveEvent::Digit { digit, .. } => Some(*digit),
                _ => None,
            })
            .collect();
        let report: Vec<char> = a.findings.dtmf.iter().map(|d| d.digit).collect();
        assert_eq!(digits, report);
        assert_eq!(digits, vec!['5', '#']);
        // Tones are not speech, even as hints.
        assert!(!events
            .iter()
            .any(|e| matches!(e, LiveEvent::SpeechStart { .. })));
        let progress: Vec<f64> = events
            .iter()
            .filter_map(|e| match e {
                LiveEvent::Progress { audio_s } => Some(*audio_s),
                _ => None,
            })
            .collect();
        assert_eq!(progress.first(), Some(&1.0));
        assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
        // The first digit is reported before the stream's first second ends.
        let first_digit = events
            .iter()
            .position(|e| matches!(e, LiveEvent::Digit { .. }))
            .unwrap();
        let first_progress = events
            .iter()
            .position(|e| matches!(e, LiveEvent::Progress { .. }))
            .unwrap();
        assert!(first_digit < first_progress, "{events:?}");
    }

    #[test]
    fn speech_hints_bracket_the_speech_the_report_finds() {
        let rate = 16_000;
        // Syllable bursts from 0.3 s on (then a key press), after 1 s of line noise.
        let mut x = synth::white_noise(4, -55.0, rate as usize);
        x.extend(synth::caller_bursts(9, 2.0, rate));
        let wav = synth::wav_pcm16_mono(&x, rate);
        let (events, a) = events_of(wav.clone());
        // Small live blocks change nothing in the findings.
        let config = AnalysisConfig::default();
        let whole = crate::analyze_reader("x.wav", std::io::Cursor::new(wav), &config).unwrap();
        assert_eq!(a.report("x.wav", &config), whole);
        let first = a
            .findings
            .speech
            .segments
            .first()
            .expect("the report finds speech");
        let start = events.iter().find_map(|e| match e {
            LiveEvent::SpeechStart { at_s } => Some(*at_s),
            _ => None,
        });
        let end = events.iter().find_map(|e| match e {
            LiveEvent::SpeechEnd { at_s } => Some(*at_s),
            _ => None,
        });
        let (start, end) = (start.expect("a start hint"), end.expect("an end hint"));
        let report_start = seconds(first.start);
        assert!(
            (start - report_start).abs() < 0.15,
            "hint {start}, report {report_start}"
        );
        assert!(end > start + 0.2, "end {end}");
    }

    #[test]
    fn events_serialise_as_tagged_json_lines() {
        let e = LiveEvent::Digit {
            digit: '5',
            start_s: 1.25,
            end_s: 1.5,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"event":"digit","digit":"5","startS":1.25,"endS":1.5}"#
        );
        assert_eq!(
            serde_json::to_string(&LiveEvent::SpeechStart { at_s: 0.5 }).unwrap(),
            r#"{"event":"speechStart","atS":0.5}"#
        );
    }
}

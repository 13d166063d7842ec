//! The emulator's own timer rules: how one run of a scenario ends
//! (stop tone, max duration, initial or max silence, prompt or beep failure,
//! hang-up) and when, decided from the script's knowledge of when speech and
//! keys occur, never from analysing audio.

use crate::timeline::{
    ms_to_samples, seconds_to_samples, Activity, PreparedScenario, BEEP_MS, DEFAULT_PROMPT_MS,
    SAMPLE_RATE, STOP_TONE_MIN_MS, STOP_TONE_TAIL_MS,
};
use crate::wire::CompletionReason;

/// The recording parameters of one request, after defaults and validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordParams {
    /// Whether a prompt was given.
    pub has_prompt: bool,
    /// Whether the beep is played.
    pub play_beep: bool,
    /// Initial silence timeout in seconds.
    pub initial_silence_s: u32,
    /// Max silence timeout in seconds.
    pub max_silence_s: u32,
    /// Max record duration in seconds.
    pub max_duration_s: u32,
    /// Upper-case DTMF stop keys.
    pub stop_tones: Vec<char>,
}

impl Default for RecordParams {
    fn default() -> Self {
        RecordParams {
            has_prompt: true,
            play_beep: true,
            initial_silence_s: 5,
            max_silence_s: 5,
            max_duration_s: 5,
            stop_tones: Vec::new(),
        }
    }
}

/// How a run of the scenario ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// The operation completes with `reason`; the recording holds
    /// `recorded` samples (0 when nothing was recorded).
    Completed {
        /// Why it ended.
        reason: CompletionReason,
        /// Samples in the recording.
        recorded: usize,
    },
    /// The caller hung up first; no completion is ever reported.
    HungUp {
        /// Samples from recording start to the hang-up.
        at: usize,
    },
}

/// When things happen in simulated time, from the POST.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// How the run ends.
    pub outcome: Outcome,
    /// Simulated seconds from the POST to recording start.
    pub lead_in_s: f64,
    /// Simulated seconds from the POST to the end (completion or hang-up).
    pub total_s: f64,
}

impl PreparedScenario {
    /// Applies Graph's documented timer rules to the script.
    ///
    /// Recording starts after the prompt and the beep. The initial-silence
    /// timer runs from there until the caller's first activity (speech or a
    /// key); after that, any gap of `max_silence_s` ends the recording. A key
    /// in `stop_tones` held at least [`STOP_TONE_MIN_MS`] ends it
    /// [`STOP_TONE_TAIL_MS`] after the key went down. Max duration caps it.
    /// Ties go to the stop tone, then max duration, then the silence timers,
    /// and a hang-up only wins when strictly first.
    pub fn plan(&self, params: &RecordParams) -> Plan {
        let sr = SAMPLE_RATE as f64;
        let prompt_s = if params.has_prompt {
            f64::from(self.prompt_ms.unwrap_or(DEFAULT_PROMPT_MS)) / 1000.0
        } else {
            0.0
        };
        if params.has_prompt && self.prompt_fails {
            return Plan {
                outcome: Outcome::Completed {
                    reason: CompletionReason::PlayPromptFailed,
                    recorded: 0,
                },
                lead_in_s: prompt_s,
                total_s: prompt_s,
            };
        }
        let beep_s = if params.play_beep {
            f64::from(BEEP_MS) / 1000.0
        } else {
            0.0
        };
        let lead_in_s = prompt_s + beep_s;
        if params.play_beep && self.beep_fails {
            return Plan {
                outcome: Outcome::Completed {
                    reason: CompletionReason::PlayBeepFailed,
                    recorded: 0,
                },
                lead_in_s,
                total_s: lead_in_s,
            };
        }
        let outcome = self.decide(params);
        let end = match outcome {
            Outcome::Completed { recorded, .. } => recorded,
            Outcome::HungUp { at } => at,
        };
        Plan {
            outcome,
            lead_in_s,
            total_s: lead_in_s + end as f64 / sr,
        }
    }

    fn decide(&self, params: &RecordParams) -> Outcome {
        let initial = seconds_to_samples(f64::from(params.initial_silence_s));
        let max_silence = seconds_to_samples(f64::from(params.max_silence_s));
        let max_duration = seconds_to_samples(f64::from(params.max_duration_s));
        let tail = ms_to_samples(STOP_TONE_TAIL_MS);

        // The earliest timer or stop-tone event, walking the activity in order.
        let mut last_end: Option<usize> = None;
        let mut event: Option<(usize, CompletionReason)> = None;
        for seg in &self.segments {
            let deadline = match last_end {
                None => (initial, CompletionReason::InitialSilenceTimeout),
                Some(e) => (e + max_silence, CompletionReason::MaxSilenceTimeout),
            };
            if seg.start >= deadline.0 {
                event = Some(deadline);
                break;
            }
            if let Activity::Key { digit, duration_ms } = seg.activity {
                if duration_ms >= STOP_TONE_MIN_MS && params.stop_tones.contains(&digit) {
                    event = Some((seg.start + tail, CompletionReason::StopToneDetected));
                    break;
                }
            }
            last_end = Some(last_end.map_or(seg.end, |e| e.max(seg.end)));
        }
        let (mut at, mut reason) = event.unwrap_or(match last_end {
            None => (initial, CompletionReason::InitialSilenceTimeout),
            Some(e) => (e + max_silence, CompletionReason::MaxSilenceTimeout),
        });
        let stop_tone_first = reason == CompletionReason::StopToneDetected && at <= max_duration;
        if !stop_tone_first && max_duration <= at {
            at = max_duration;
            reason = CompletionReason::MaxRecordDurationReached;
        }
        match self.hangup {
            Some(h) if h < at => Outcome::HungUp { at: h },
            _ => Outcome::Completed {
                reason,
                recorded: at,
            },
        }
    }
}

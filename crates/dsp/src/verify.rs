//! Completion verification: is the reason Graph reported for the end of a
//! `recordResponse` operation consistent with the audio?
//!
//! What a Graph recording holds: recording starts after the beep, so the
//! file's time zero is when the initial-silence timer starts, and the file's
//! duration is (within Graph's own latency) when the operation ended. Each
//! timer-driven reason therefore predicts the duration and the activity:
//! - `initialSilenceTimeout`: no activity before `initial_silence_s`, and the
//!   file lasts about `initial_silence_s`;
//! - `maxSilenceTimeout`: activity, then a trailing silence of about
//!   `max_silence_s`, and no earlier silence that long;
//! - `maxRecordDurationReached`: the file lasts about `max_record_s` and no
//!   silence timer could have fired first;
//! - `stopToneDetected`: a configured stop tone at the very end, possibly cut
//!   short because Graph stops as soon as it recognises it.
//!
//! Reasons that describe failures outside the audio (`operationCanceled`,
//! `playPromptFailed`, `playBeepFailed`, `mediaReceiveTimeout`, unknown ...)
//! are `unverifiable`. Activity is speech plus, by default, DTMF presses that
//! are not the stop tone (a key press is not silence to a telephony timer).

use crate::events::{DtmfEvent, SpeechSegment};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The settings the operation was made with (Graph's defaults: 5, 5, 5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordSettings {
    /// Configured stop tones (`0`-`9`, `*`, `#`, `A`-`D`); empty for none.
    pub stop_tones: Vec<char>,
    /// `initialSilenceTimeoutInSeconds`.
    pub initial_silence_s: f64,
    /// `maxSilenceTimeoutInSeconds`.
    pub max_silence_s: f64,
    /// `maxRecordDurationInSeconds`.
    pub max_record_s: f64,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            stop_tones: Vec::new(),
            initial_silence_s: 5.0,
            max_silence_s: 5.0,
            max_record_s: 5.0,
        }
    }
}

/// Why a recording operation ended, as Graph reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompletionReason {
    /// `operationCanceled` (subcode 8508).
    OperationCanceled,
    /// `stopToneDetected` (8514).
    StopToneDetected,
    /// `maxRecordDurationReached` (8515).
    MaxRecordDurationReached,
    /// `initialSilenceTimeout` (8510).
    InitialSilenceTimeout,
    /// `maxSilenceTimeout` (8509).
    MaxSilenceTimeout,
    /// `playPromptFailed` (8511).
    PlayPromptFailed,
    /// `playBeepFailed` (8512).
    PlayBeepFailed,
    /// `mediaReceiveTimeout` (8513; 8588 is "record completed, and the media
    /// receive timed out").
    MediaReceiveTimeout,
    /// `unspecifiedError`.
    UnspecifiedError,
    /// `none`, listed on some pages: Graph gave no reason. Named so that
    /// it does not shadow `Option::None` under `use CompletionReason::*`.
    NoReason,
    /// Anything else, kept verbatim (a string, or `subcode NNNN`).
    Unknown(String),
}

impl CompletionReason {
    /// Parses a `completionReason` value, case-insensitively; unknown values
    /// become [`CompletionReason::Unknown`].
    pub fn from_name(s: &str) -> Self {
        use CompletionReason::*;
        match s.trim().to_ascii_lowercase().as_str() {
            "operationcanceled" | "operationcancelled" => OperationCanceled,
            "stoptonedetected" => StopToneDetected,
            "maxrecorddurationreached" => MaxRecordDurationReached,
            "initialsilencetimeout" => InitialSilenceTimeout,
            "maxsilencetimeout" => MaxSilenceTimeout,
            "playpromptfailed" => PlayPromptFailed,
            "playbeepfailed" => PlayBeepFailed,
            "mediareceivetimeout" => MediaReceiveTimeout,
            "unspecifiederror" => UnspecifiedError,
            "none" => NoReason,
            _ => Unknown(s.trim().to_string()),
        }
    }

    /// Maps a `resultInfo.subcode` (see `graph-spec.md`).
    pub fn from_subcode(code: u32) -> Self {
        use CompletionReason::*;
        match code {
            8508 => OperationCanceled,
            8509 => MaxSilenceTimeout,
            8510 => InitialSilenceTimeout,
            8511 => PlayPromptFailed,
            8512 => PlayBeepFailed,
            8513 | 8588 => MediaReceiveTimeout,
            8514 => StopToneDetected,
            8515 => MaxRecordDurationReached,
            other => Unknown(format!("subcode {other}")),
        }
    }

    /// Parses `--reported`: a subcode if it is all digits, else a reason name.
    pub fn parse(s: &str) -> Self {
        match s.trim().parse::<u32>() {
            Ok(code) => Self::from_subcode(code),
            Err(_) => Self::from_name(s),
        }
    }

    /// The wire name (camelCase), or the verbatim unknown value.
    pub fn as_str(&self) -> &str {
        use CompletionReason::*;
        match self {
            OperationCanceled => "operationCanceled",
            StopToneDetected => "stopToneDetected",
            MaxRecordDurationReached => "maxRecordDurationReached",
            InitialSilenceTimeout => "initialSilenceTimeout",
            MaxSilenceTimeout => "maxSilenceTimeout",
            PlayPromptFailed => "playPromptFailed",
            PlayBeepFailed => "playBeepFailed",
            MediaReceiveTimeout => "mediaReceiveTimeout",
            UnspecifiedError => "unspecifiedError",
            NoReason => "none",
            Unknown(s) => s,
        }
    }

    /// True for the four reasons the audio can confirm or contradict.
    pub fn is_verifiable(&self) -> bool {
        use CompletionReason::*;
        matches!(
            self,
            StopToneDetected | MaxRecordDurationReached | InitialSilenceTimeout | MaxSilenceTimeout
        )
    }
}

impl<'de> Deserialize<'de> for CompletionReason {
    /// Reads a `completionReason` string; never fails on an unknown value.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self::from_name(&s))
    }
}

impl Serialize for CompletionReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What Graph said: a `completionReason`, a subcode, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReportedOutcome {
    /// The beta `completionReason` string.
    pub completion_reason: Option<String>,
    /// `resultInfo.subcode`.
    pub subcode: Option<u32>,
}

impl ReportedOutcome {
    /// The reason: the string when it is a known reason (a numeric string is
    /// read as a subcode), else the subcode's, else the string kept as
    /// unknown; `None` when neither is given.
    pub fn reason(&self) -> Option<CompletionReason> {
        let by_name = self
            .completion_reason
            .as_deref()
            .map(CompletionReason::parse);
        let by_code = self.subcode.map(CompletionReason::from_subcode);
        match (by_name, by_code) {
            (Some(CompletionReason::Unknown(_)), Some(c)) => Some(c),
            (Some(n), _) => Some(n),
            (None, c) => c,
        }
    }
}

/// A recording setting given as text or a number that is not valid; the
/// message names the value and the rule, not how it was given (a CLI flag, a
/// Python keyword).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingError {
    /// A stop tone that is not a DTMF key.
    #[error("{0:?} is not a DTMF key (0-9, *, #, A-D)")]
    NotADtmfKey(char),
    /// A timer outside Graph's range.
    #[error("{0} s is outside 0..=7200 s")]
    TimerOutOfRange(f64),
}

/// Parses stop tones written as keys (`"#*"`, `"1, #"`): whitespace and
/// commas are ignored, letters are upper-cased, repeats dropped.
pub fn parse_stop_tones(s: &str) -> Result<Vec<char>, SettingError> {
    let mut keys = Vec::new();
    for c in s.chars().filter(|c| !c.is_whitespace() && *c != ',') {
        let c = c.to_ascii_uppercase();
        if !(c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')) {
            return Err(SettingError::NotADtmfKey(c));
        }
        if !keys.contains(&c) {
            keys.push(c);
        }
    }
    Ok(keys)
}

/// Checks a timer in seconds (`initialSilenceTimeoutInSeconds` and the
/// others): more than 0 and at most 7,200 s (two hours, well past Graph's
/// own limits, so a typo is caught but any real setting passes).
pub fn check_timer_s(v: f64) -> Result<f64, SettingError> {
    if !(v > 0.0 && v <= 7200.0) {
        return Err(SettingError::TimerOutOfRange(v));
    }
    Ok(v)
}

impl ReportedOutcome {
    /// What Graph reported, given as text (a completion reason such as
    /// `stopToneDetected`, or a numeric subcode such as `8514`); empty or
    /// absent is "nothing reported".
    pub fn from_text(text: Option<&str>) -> Self {
        match text.map(str::trim) {
            None | Some("") => ReportedOutcome::default(),
            Some(r) => match r.parse::<u32>() {
                Ok(code) => ReportedOutcome {
                    completion_reason: None,
                    subcode: Some(code),
                },
                Err(_) => ReportedOutcome {
                    completion_reason: Some(CompletionReason::parse(r).as_str().to_string()),
                    subcode: None,
                },
            },
        }
    }
}

/// Tolerances of the checks; documented in `docs/speech.md`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyTolerances {
    /// A timer-driven end may differ from its nominal time by this much
    /// (Graph's detection latency, our segment edges) ...
    pub timer_abs_s: f64,
    /// ... or by this fraction of the timer, whichever is larger.
    pub timer_rel: f64,
    /// A stop tone must end within this of the end of the file.
    pub tone_end_s: f64,
    /// Whether DTMF presses other than the stop tone count as activity.
    pub dtmf_is_activity: bool,
}

impl Default for VerifyTolerances {
    fn default() -> Self {
        VerifyTolerances {
            timer_abs_s: 0.75,
            timer_rel: 0.05,
            tone_end_s: 0.5,
            dtmf_is_activity: true,
        }
    }
}

impl VerifyTolerances {
    fn timer(&self, seconds: f64) -> f64 {
        self.timer_abs_s.max(self.timer_rel * seconds)
    }
}

/// The audio evidence, in absolute samples at `sample_rate`.
#[derive(Debug, Clone, Copy)]
pub struct AudioEvidence<'a> {
    /// Rate of every position below (the analysis rate).
    pub sample_rate: u32,
    /// Length of the recording.
    pub total_samples: u64,
    /// Speech segments, sorted.
    pub speech: &'a [SpeechSegment],
    /// DTMF events, sorted.
    pub dtmf: &'a [DtmfEvent],
}

/// The measured numbers behind a verdict, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletionEvidence {
    /// Length of the recording.
    pub duration_s: f64,
    /// Start of the first activity (speech, or a non-stop key press).
    pub first_activity_s: Option<f64>,
    /// End of the last activity.
    pub last_activity_end_s: Option<f64>,
    /// From the last activity (a stop tone included) or the start, to the end.
    pub trailing_silence_s: f64,
    /// Longest silence between two activities.
    pub longest_inner_silence_s: f64,
    /// Start of the configured stop tone found at the end.
    pub tone_at_s: Option<f64>,
    /// That tone's digit.
    pub tone_digit: Option<char>,
    /// From the end of that tone to the end of the file.
    pub tone_end_gap_s: Option<f64>,
    /// Total speech.
    pub speech_s: f64,
}

/// The three possible verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CompletionVerdict {
    /// The reported reason is among those the audio allows.
    Consistent,
    /// The audio rules the reported reason out.
    Inconsistent,
    /// The reason is not about the audio, or nothing was reported.
    Unverifiable,
}

/// The `completion` object of the analysis report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Completion {
    /// The reported reason, if any.
    pub reported: Option<CompletionReason>,
    /// The most likely reason from the audio alone, if any fits.
    pub inferred: Option<CompletionReason>,
    /// Every reason the audio allows, most specific first.
    pub plausible: Vec<CompletionReason>,
    /// The verdict on `reported`.
    pub verdict: CompletionVerdict,
    /// The numbers it rests on.
    pub evidence: CompletionEvidence,
    /// The tolerances used.
    pub tolerances: VerifyTolerances,
}

/// Checks `reported` against the audio.
pub fn verify_completion(
    settings: &RecordSettings,
    reported: &ReportedOutcome,
    audio: &AudioEvidence<'_>,
    tol: &VerifyTolerances,
) -> Completion {
    let evidence = gather(settings, audio, tol);
    let plausible = plausible_reasons(settings, &evidence, tol);
    let reported = reported.reason();
    let verdict = match &reported {
        Some(r) if r.is_verifiable() => {
            if plausible.contains(r) {
                CompletionVerdict::Consistent
            } else {
                CompletionVerdict::Inconsistent
            }
        }
        _ => CompletionVerdict::Unverifiable,
    };
    Completion {
        reported,
        inferred: plausible.first().cloned(),
        plausible,
        verdict,
        evidence,
        tolerances: tol.clone(),
    }
}

fn gather(
    settings: &RecordSettings,
    audio: &AudioEvidence<'_>,
    tol: &VerifyTolerances,
) -> CompletionEvidence {
    let rate = f64::from(audio.sample_rate.max(1));
    let sec = |s: u64| s as f64 / rate;
    let duration_s = sec(audio.total_samples);
    let is_stop = |d: char| {
        settings
            .stop_tones
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&d))
    };
    // The stop tone: the last configured key press, if it ends near the end.
    let stop = audio
        .dtmf
        .iter()
        .filter(|e| is_stop(e.digit))
        .max_by_key(|e| e.end)
        .filter(|e| duration_s - sec(e.end) <= tol.tone_end_s);
    // The stop tone is always activity: it is sound, and it ends the silence
    // that a silence timer would have measured.
    let mut activity: Vec<(u64, u64)> = audio.speech.iter().map(|s| (s.start, s.end)).collect();
    activity.extend(
        audio
            .dtmf
            .iter()
            .filter(|e| tol.dtmf_is_activity || stop.is_some_and(|s| s == *e))
            .map(|e| (e.start, e.end)),
    );
    activity.sort_unstable();
    let silence_end = audio.total_samples;
    let mut longest_inner = 0f64;
    let mut reach = None::<u64>;
    for &(s, e) in &activity {
        if let Some(r) = reach {
            longest_inner = longest_inner.max(sec(s.saturating_sub(r)));
        }
        reach = Some(reach.map_or(e, |r| r.max(e)));
    }
    let trailing_silence_s = sec(silence_end.saturating_sub(reach.unwrap_or(0)));
    CompletionEvidence {
        duration_s,
        first_activity_s: activity.first().map(|a| sec(a.0)),
        last_activity_end_s: reach.map(sec),
        trailing_silence_s,
        longest_inner_silence_s: longest_inner,
        tone_at_s: stop.map(|s| sec(s.start)),
        tone_digit: stop.map(|s| s.digit),
        tone_end_gap_s: stop.map(|s| (duration_s - sec(s.end)).max(0.0)),
        speech_s: sec(audio
            .speech
            .iter()
            .map(|s| s.end.saturating_sub(s.start))
            .sum()),
    }
}

fn plausible_reasons(
    settings: &RecordSettings,
    ev: &CompletionEvidence,
    tol: &VerifyTolerances,
) -> Vec<CompletionReason> {
    let mut out = Vec::new();
    let d = ev.duration_s;
    let t_init = tol.timer(settings.initial_silence_s);
    let t_sil = tol.timer(settings.max_silence_s);
    let t_rec = tol.timer(settings.max_record_s);
    let within_max_record = d <= settings.max_record_s + t_rec;
    // A pause longer than max silence would have ended the operation there.
    let no_early_pause = ev.longest_inner_silence_s <= settings.max_silence_s + t_sil;
    // Activity that began after the initial-silence timer was too late.
    let started_in_time = ev
        .first_activity_s
        .is_some_and(|f| f <= settings.initial_silence_s + t_init);

    if ev.tone_at_s.is_some() && within_max_record && no_early_pause {
        out.push(CompletionReason::StopToneDetected);
    }
    if started_in_time
        && within_max_record
        && no_early_pause
        && (ev.trailing_silence_s - settings.max_silence_s).abs() <= t_sil
    {
        out.push(CompletionReason::MaxSilenceTimeout);
    }
    let silent_start = ev
        .first_activity_s
        .is_none_or(|f| f >= settings.initial_silence_s - t_init);
    if silent_start && (d - settings.initial_silence_s).abs() <= t_init {
        out.push(CompletionReason::InitialSilenceTimeout);
    }
    // Max record: no silence timer can have fired before the end.
    let silence_timers_quiet = if ev.first_activity_s.is_some() {
        started_in_time && no_early_pause && ev.trailing_silence_s < settings.max_silence_s + t_sil
    } else {
        settings.initial_silence_s >= settings.max_record_s - t_rec
    };
    if (d - settings.max_record_s).abs() <= t_rec && silence_timers_quiet {
        out.push(CompletionReason::MaxRecordDurationReached);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_given_as_text_are_checked() {
        for (text, want) in [
            ("", Ok(vec![])),
            ("#*", Ok(vec!['#', '*'])),
            ("1, #, a, 1", Ok(vec!['1', '#', 'A'])),
            ("#x", Err(SettingError::NotADtmfKey('X'))),
        ] {
            assert_eq!(parse_stop_tones(text), want, "{text:?}");
        }
        for (v, ok) in [
            (0.0, false),
            (0.5, true),
            (7200.0, true),
            (7200.1, false),
            (f64::NAN, false),
        ] {
            assert_eq!(check_timer_s(v).is_ok(), ok, "{v}");
        }
        assert_eq!(
            check_timer_s(-1.0).unwrap_err().to_string(),
            "-1 s is outside 0..=7200 s"
        );
        assert_eq!(
            ReportedOutcome::from_text(Some(" 8514 ")).subcode,
            Some(8514)
        );
        let r = ReportedOutcome::from_text(Some("stopToneDetected"));
        assert_eq!(r.completion_reason.as_deref(), Some("stopToneDetected"));
        assert_eq!(ReportedOutcome::from_text(None), ReportedOutcome::default());
    }

    const R: u32 = 8000;

    fn s(a: f64, b: f64) -> SpeechSegment {
        SpeechSegment {
            start: (a * 8000.0) as u64,
            end: (b * 8000.0) as u64,
        }
    }

    fn check(
        settings: &RecordSettings,
        dur: f64,
        speech: &[SpeechSegment],
        dtmf: &[DtmfEvent],
        reported: &str,
    ) -> Completion {
        let audio = AudioEvidence {
            sample_rate: R,
            total_samples: (dur * 8000.0) as u64,
            speech,
            dtmf,
        };
        let rep = ReportedOutcome {
            completion_reason: Some(reported.into()),
            subcode: None,
        };
        verify_completion(settings, &rep, &audio, &VerifyTolerances::default())
    }

    #[test]
    fn parses_names_and_subcodes() {
        assert_eq!(
            CompletionReason::parse("8514"),
            CompletionReason::StopToneDetected
        );
        assert_eq!(
            CompletionReason::parse("8588"),
            CompletionReason::MediaReceiveTimeout
        );
        assert_eq!(
            CompletionReason::parse("MAXSILENCETIMEOUT"),
            CompletionReason::MaxSilenceTimeout
        );
        assert_eq!(
            CompletionReason::parse("8528"),
            CompletionReason::Unknown("subcode 8528".into())
        );
        assert_eq!(CompletionReason::parse("weird").as_str(), "weird");
        // The wire keeps spelling `NoReason` as Graph does.
        assert_eq!(CompletionReason::parse("none"), CompletionReason::NoReason);
        assert_eq!(
            serde_json::to_string(&CompletionReason::NoReason).unwrap(),
            r#""none""#
        );
        let r = ReportedOutcome {
            completion_reason: Some("somethingNew".into()),
            subcode: Some(8509),
        };
        assert_eq!(r.reason(), Some(CompletionReason::MaxSilenceTimeout));
        assert_eq!(ReportedOutcome::default().reason(), None);
    }

    /// Name, duration, speech, DTMF, reported reason, expected verdict.
    type Case<'a> = (
        &'a str,
        f64,
        &'a [SpeechSegment],
        &'a [DtmfEvent],
        &'a str,
        CompletionVerdict,
    );

    #[test]
    fn table_of_verdicts() {
        use CompletionVerdict::*;
        let st = RecordSettings {
            stop_tones: vec!['#'],
            initial_silence_s: 5.0,
            max_silence_s: 2.0,
            max_record_s: 10.0,
        };
        let hash = DtmfEvent {
            digit: '#',
            start: 4 * 8000,
            end: 4 * 8000 + 600,
            level_dbfs: -10.0,
        };
        let speech = [s(0.5, 2.5)];
        let cases: &[Case] = &[
            (
                "tone at end",
                4.1,
                &speech,
                &[hash],
                "stopToneDetected",
                Consistent,
            ),
            (
                "tone at end, said max silence",
                4.1,
                &speech,
                &[hash],
                "maxSilenceTimeout",
                Inconsistent,
            ),
            (
                "2 s trailing silence",
                4.6,
                &speech,
                &[],
                "maxSilenceTimeout",
                Consistent,
            ),
            (
                "2 s trailing silence, said tone",
                4.6,
                &speech,
                &[],
                "stopToneDetected",
                Inconsistent,
            ),
            (
                "silent 5 s",
                5.1,
                &[],
                &[],
                "initialSilenceTimeout",
                Consistent,
            ),
            (
                "silent 5 s, said max record",
                5.1,
                &[],
                &[],
                "maxRecordDurationReached",
                Inconsistent,
            ),
            (
                "speech to 10 s",
                10.0,
                &[s(0.3, 9.9)],
                &[],
                "maxRecordDurationReached",
                Consistent,
            ),
            (
                "speech to 10 s, said initial",
                10.0,
                &[s(0.3, 9.9)],
                &[],
                "initialSilenceTimeout",
                Inconsistent,
            ),
            (
                "canceled",
                3.0,
                &speech,
                &[],
                "operationCanceled",
                Unverifiable,
            ),
        ];
        for (name, dur, sp, dt, rep, want) in cases {
            let c = check(&st, *dur, sp, dt, rep);
            assert_eq!(c.verdict, *want, "{name}: {c:#?}");
        }
    }

    #[test]
    fn serializes_without_non_finite_numbers() {
        let c = check(&RecordSettings::default(), 0.0, &[], &[], "8515");
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"verdict\":\"inconsistent\""), "{json}");
        assert!(
            json.contains("\"reported\":\"maxRecordDurationReached\""),
            "{json}"
        );
    }
}

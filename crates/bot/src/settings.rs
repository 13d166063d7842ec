//! From what the bot asked Graph for, and what Graph reported, to what the
//! analysis checks: the `recordResponse` request's timers and stop tones
//! become [`RecordSettings`], the completion's reason and subcode become
//! [`ReportedOutcome`], so the completion verdict checks the real claim.

use voxcap_capture::tracker::CompletedRecording;
use voxcap_capture::wire::RecordResponseRequest;
use voxcap_dsp::verify::{RecordSettings, ReportedOutcome};
use voxcap_dsp::AnalysisConfig;

/// The settings a recording made with `request` was made under.
pub fn record_settings(request: &RecordResponseRequest) -> RecordSettings {
    RecordSettings {
        stop_tones: request
            .stop_tones
            .iter()
            .flat_map(|t| t.chars())
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        initial_silence_s: f64::from(request.initial_silence_timeout_in_seconds),
        max_silence_s: f64::from(request.max_silence_timeout_in_seconds),
        max_record_s: f64::from(request.max_record_duration_in_seconds),
    }
}

/// The analysis settings for a recording made with `request` that Graph
/// reported as `rec`.
pub fn analysis_config(
    request: &RecordResponseRequest,
    rec: &CompletedRecording,
) -> AnalysisConfig {
    AnalysisConfig {
        settings: record_settings(request),
        reported: ReportedOutcome {
            completion_reason: rec.reason.as_ref().map(|r| r.as_str().to_string()),
            subcode: rec
                .result_info
                .as_ref()
                .and_then(|r| r.subcode)
                .and_then(|s| u32::try_from(s).ok()),
        },
        ..AnalysisConfig::default()
    }
}

/// SHA-256 of the canonical JSON of every analysis setting, for the
/// report's provenance: two reports with the same hash were analysed the
/// same way.
pub fn settings_sha256(config: &AnalysisConfig) -> String {
    let value = serde_json::json!({
        "lenient": config.lenient,
        "settings": config.settings,
        "reported": config.reported,
        "tolerances": config.tolerances,
        "padStartMs": config.pad_start_ms,
        "padEndMs": config.pad_end_ms,
    });
    // A fused model changes the speech decision: it is part of the settings.
    #[cfg(feature = "neural")]
    let value = match (&config.speech_model, value) {
        (Some(m), serde_json::Value::Object(mut o)) => {
            o.insert("speechModel".into(), serde_json::json!(m));
            serde_json::Value::Object(o)
        }
        (_, v) => v,
    };
    voxcap_records::provenance::settings_sha256(&value)
}

/// What Graph reported, given as text (a completion reason such as
/// `stopToneDetected`, or a numeric subcode such as `8514`), as the
/// completion check wants it; empty or absent is "nothing reported".
pub fn reported_outcome(text: Option<&str>) -> ReportedOutcome {
    ReportedOutcome::from_text(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_text_is_a_subcode_or_a_reason() {
        assert_eq!(reported_outcome(Some(" 8514 ")).subcode, Some(8514));
        let r = reported_outcome(Some("stopToneDetected"));
        assert_eq!(r.completion_reason.as_deref(), Some("stopToneDetected"));
        assert_eq!(reported_outcome(Some("")), ReportedOutcome::default());
    }

    #[test]
    fn stop_tones_are_upper_cased_and_timers_carried() {
        let request = RecordResponseRequest {
            stop_tones: vec!["#".into(), "a".into()],
            initial_silence_timeout_in_seconds: 3,
            max_silence_timeout_in_seconds: 2,
            max_record_duration_in_seconds: 30,
            ..RecordResponseRequest::default()
        };
        let s = record_settings(&request);
        assert_eq!(s.stop_tones, vec!['#', 'A']);
        assert_eq!(
            (s.initial_silence_s, s.max_silence_s, s.max_record_s),
            (3.0, 2.0, 30.0)
        );
    }
}

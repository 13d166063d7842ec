//! Display names of the report's enums (their JSON spelling), without serde_json.

use voxcap_dsp::quality::QualityLabel;
use voxcap_dsp::verify::CompletionVerdict;

/// A value with a lower-case display name.
pub(crate) trait Named {
    /// The name.
    fn name(&self) -> String;
}

impl Named for CompletionVerdict {
    fn name(&self) -> String {
        match self {
            CompletionVerdict::Consistent => "consistent",
            CompletionVerdict::Inconsistent => "inconsistent",
            CompletionVerdict::Unverifiable => "unverifiable",
        }
        .to_string()
    }
}

impl Named for QualityLabel {
    fn name(&self) -> String {
        match self {
            QualityLabel::Silent => "silent",
            QualityLabel::DtmfOnly => "dtmf_only",
            QualityLabel::Speech => "speech",
            QualityLabel::Clipped => "clipped",
            QualityLabel::LowLevel => "low_level",
            QualityLabel::Truncated => "truncated",
        }
        .to_string()
    }
}

/// The display name of `v`.
pub(crate) fn name_of<T: Named>(v: &T) -> String {
    v.name()
}

/// Every quality label, for the filter.
pub(crate) const LABELS: [&str; 6] = [
    "silent",
    "dtmf_only",
    "speech",
    "clipped",
    "low_level",
    "truncated",
];

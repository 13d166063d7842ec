//! Keyword settings (`stop_tones=`, `max_silence=` ...) to an
//! [`AnalysisConfig`], with the CLI's names, defaults and checks (the checks
//! are voxcap-dsp's, shared with the CLI's flag parsers).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use voxcap_dsp::verify::{check_timer_s, parse_stop_tones, ReportedOutcome};
use voxcap_dsp::AnalysisConfig;

/// The settings `analyze`, `analyze_many` and `Analyzer` take.
pub(crate) const BATCH_KEYS: &[&str] = &[
    "stop_tones",
    "initial_silence",
    "max_silence",
    "max_record",
    "reported",
    "lenient",
    "pad_start_ms",
    "pad_end_ms",
];

/// The analysis settings the keywords in `kwargs` describe; a missing
/// keyword, or `None`, is the CLI's default. Unknown keywords are a
/// `TypeError`, bad values a `ValueError` naming the keyword.
pub(crate) fn config(
    kwargs: Option<&Bound<'_, PyDict>>,
    known: &[&str],
) -> PyResult<AnalysisConfig> {
    let mut config = AnalysisConfig::default();
    let Some(kwargs) = kwargs else {
        return Ok(config);
    };
    for (key, value) in kwargs.iter() {
        let key: String = key.extract()?;
        if !known.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "unexpected keyword argument {key:?} (settings: {})",
                known.join(", ")
            )));
        }
        if value.is_none() {
            continue;
        }
        let s = &mut config.settings;
        match key.as_str() {
            "stop_tones" => s.stop_tones = stop_tones(&value)?,
            "initial_silence" => s.initial_silence_s = timer(&key, &value)?,
            "max_silence" => s.max_silence_s = timer(&key, &value)?,
            "max_record" => s.max_record_s = timer(&key, &value)?,
            "reported" => config.reported = reported(&value)?,
            "lenient" => config.lenient = typed(&key, &value, "a bool")?,
            "pad_start_ms" => config.pad_start_ms = milliseconds(&key, &value)?,
            "pad_end_ms" => config.pad_end_ms = milliseconds(&key, &value)?,
            _ => unreachable!("every known key is handled"),
        }
    }
    Ok(config)
}

/// `"#*"`, `"1, #"` or `["#", "*"]`.
fn stop_tones(value: &Bound<'_, PyAny>) -> PyResult<Vec<char>> {
    let text = if value.is_instance_of::<PyString>() {
        value.extract::<String>()?
    } else {
        let keys: Vec<String> = typed("stop_tones", value, "a str or a list of str")?;
        keys.concat()
    };
    parse_stop_tones(&text).map_err(|e| PyValueError::new_err(format!("stop_tones: {e}")))
}

/// Seconds, as the CLI's timer flags take them.
fn timer(key: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    let v: f64 = typed(key, value, "a number of seconds")?;
    check_timer_s(v).map_err(|e| PyValueError::new_err(format!("{key}: {e}")))
}

/// A completion reason name (`"stopToneDetected"`) or a subcode (`8514`).
fn reported(value: &Bound<'_, PyAny>) -> PyResult<ReportedOutcome> {
    let text = match value.extract::<u32>() {
        Ok(code) if !value.is_instance_of::<PyString>() => code.to_string(),
        _ => typed::<String>("reported", value, "a reason name (str) or a subcode (int)")?,
    };
    Ok(ReportedOutcome::from_text(Some(&text)))
}

fn milliseconds(key: &str, value: &Bound<'_, PyAny>) -> PyResult<u32> {
    let v: i128 = typed(key, value, "an int")?;
    u32::try_from(v)
        .map_err(|_| PyValueError::new_err(format!("{key}: {v} ms is outside 0..=4294967295")))
}

/// `value` as a `T`, or a `TypeError` naming the keyword and what it takes.
fn typed<T: for<'py> FromPyObjectOwned<'py>>(
    key: &str,
    value: &Bound<'_, PyAny>,
    what: &str,
) -> PyResult<T> {
    value.extract::<T>().map_err(|_| {
        let got = value
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default();
        PyTypeError::new_err(format!("{key}: expected {what}, got {got}"))
    })
}

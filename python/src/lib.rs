//! `voxcap._voxcap`, the native module behind `import voxcap`: type
//! conversion between Python and voxcap-dsp, nothing else.
//!
//! Every analysis is a voxcap-dsp entry point (`analyze_reader`,
//! `analyze_samples`, `decode_reader`, `Analyzer`) run with the GIL released,
//! so Python threads analyse in parallel; reports become dicts from the same
//! serde form `voxcap analyze --format json` prints. The batch
//! (`analyze_many`) is the CLI's own ordered runner from voxcap-batch.

mod errors;
mod many;
mod settings;
mod source;
mod stream;

use numpy::{PyArray1, PyUntypedArray};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use voxcap_dsp::decode::{decode_reader, DecodeOptions};
use voxcap_dsp::{catch_panics, AnalysisError, Report};

use crate::errors::{Failure, NOT_SAMPLES};
use crate::source::Source;

/// Analyses one recording; see `voxcap/__init__.pyi` for the contract.
#[pyfunction]
#[pyo3(signature = (source, *, sample_rate=None, **settings))]
fn analyze(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    sample_rate: Option<u32>,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let config = settings::config(settings, settings::BATCH_KEYS)?;
    let source = Source::from_py(source, sample_rate)?;
    let (name, file) = (source.name(), source.file());
    let result = py.detach(move || source.analyze(&config));
    match result {
        Ok(report) => report_dict(py, &report, file.as_deref()),
        Err(failure) => Err(failure.into_pyerr(py, &name, file.as_deref())),
    }
}

/// Decodes one WAV into mono float32 samples and its sample rate.
#[pyfunction]
#[pyo3(signature = (source, *, lenient=false))]
fn decode<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    lenient: bool,
) -> PyResult<(Bound<'py, PyArray1<f32>>, u32)> {
    if source.cast::<PyUntypedArray>().is_ok() {
        return Err(PyTypeError::new_err(NOT_SAMPLES));
    }
    let source = Source::from_py(source, None)?;
    let (name, file) = (source.name(), source.file());
    let options = DecodeOptions { lenient };
    let result = py.detach(move || {
        let reader = source.into_reader()?;
        catch_panics(|| decode_reader(reader, options).map_err(AnalysisError::from))
            .map_err(Failure::Analysis)
    });
    match result {
        Ok((info, samples)) => Ok((PyArray1::from_vec(py, samples), info.sample_rate)),
        Err(failure) => Err(failure.into_pyerr(py, &name, file.as_deref())),
    }
}

/// A report as the dict the CLI's JSON line parses to; `file` is the path
/// as given, or `None` for a source that is not a path.
pub(crate) fn report_dict(
    py: Python<'_>,
    report: &Report,
    file: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let dict = pythonize::pythonize(py, report)?;
    if file.is_none() {
        dict.set_item("file", py.None())?;
    }
    Ok(dict.unbind())
}

/// The module: functions, the streaming analyser, the batch iterator, the
/// exceptions and the crate's version.
#[pymodule]
fn _voxcap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(many::analyze_many, m)?)?;
    m.add_class::<many::AnalyzeMany>()?;
    m.add_class::<stream::StreamAnalyzer>()?;
    errors::add_to(m)
}

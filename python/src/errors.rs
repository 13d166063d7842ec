//! The exceptions (`VoxcapError`, `DecodeError`) and how a failed input
//! becomes one: the CLI's error kind and message, plus the input's name.

use std::io;

use pyo3::exceptions::{PyException, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use voxcap_dsp::decode::DecodeError;
use voxcap_dsp::AnalysisError;

pyo3::create_exception!(
    voxcap,
    VoxcapError,
    PyException,
    "Base of voxcap's errors; `.kind` is the CLI's error kind, `.file` the path (or None), `.message` the CLI's message."
);

/// `DecodeError(VoxcapError, ValueError)`: two bases, so it is made with
/// `type()` when the module loads.
static DECODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Adds the exception types to the module.
pub(crate) fn add_to(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<VoxcapError>();
    m.add("VoxcapError", &base)?;
    let decode = DECODE_ERROR.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let bases = PyTuple::new(py, [base.as_any(), py.get_type::<PyValueError>().as_any()])?;
        let attrs = PyDict::new(py);
        attrs.set_item("__module__", "voxcap")?;
        attrs.set_item(
            "__doc__",
            "The input is not a WAV voxcap can analyse (also a ValueError); `.kind` is the CLI's error kind.",
        )?;
        let t = py.get_type::<PyType>().call1(("DecodeError", bases, attrs))?;
        Ok(t.cast_into::<PyType>()?.unbind())
    })?;
    m.add("DecodeError", decode.bind(py))
}

/// What `decode` says when given samples.
pub(crate) const NOT_SAMPLES: &str =
    "decode: the source must be a WAV (a path, bytes or a binary file-like object), not samples";

/// Why one input could not be analysed or decoded.
pub(crate) enum Failure {
    /// The path could not be opened.
    Open(io::Error),
    /// voxcap-dsp refused or failed the input.
    Analysis(AnalysisError),
    /// `decode()` was given samples, not a WAV.
    NotAWav,
}

impl Failure {
    /// The CLI's `{kind, message}` for this failure.
    pub(crate) fn kind_and_message(&self) -> (&'static str, String) {
        match self {
            Failure::Open(e) => ("io", e.to_string()),
            Failure::Analysis(e) => (e.kind(), e.to_string()),
            Failure::NotAWav => ("not_wav", "decode() takes a WAV, not samples".to_string()),
        }
    }

    /// The Python exception for this failure of input `name`: an `OSError`
    /// for a path that cannot be opened, the file-like object's own
    /// exception when its `read` raised, `DecodeError` for an input problem,
    /// `VoxcapError` (kind `internal`) for a bug.
    pub(crate) fn into_pyerr(self, py: Python<'_>, name: &str, file: Option<&str>) -> PyErr {
        if let Failure::Open(e) = &self {
            if let Some(code) = e.raw_os_error() {
                return PyOSError::new_err((code, e.to_string(), name.to_string()));
            }
        }
        if let Failure::NotAWav = self {
            return PyTypeError::new_err(NOT_SAMPLES);
        }
        if let Failure::Analysis(AnalysisError::Decode(DecodeError::Io { source, .. })) = &self {
            if let Some(err) = source.get_ref().and_then(|e| e.downcast_ref::<PyErr>()) {
                return err.clone_ref(py);
            }
        }
        let (kind, message) = self.kind_and_message();
        let class = if kind == "internal" || kind == "io" {
            py.get_type::<VoxcapError>()
        } else {
            match DECODE_ERROR.get(py) {
                Some(t) => t.bind(py).clone(),
                None => py.get_type::<VoxcapError>(),
            }
        };
        raise(&class, name, file, kind, &message).unwrap_or_else(|e| e)
    }
}

/// An instance of `class` with `kind`, `file` and `message` set.
fn raise(
    class: &Bound<'_, PyType>,
    name: &str,
    file: Option<&str>,
    kind: &str,
    message: &str,
) -> PyResult<PyErr> {
    let exc = class.call1((format!("{name}: {message}"),))?;
    exc.setattr("kind", kind)?;
    exc.setattr("file", file)?;
    exc.setattr("message", message)?;
    Ok(PyErr::from_value(exc))
}

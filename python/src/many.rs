//! `analyze_many`: the CLI's ordered batch (voxcap-batch's `expand_inputs`
//! and `run_ordered`) on native threads, handed to Python as an iterator.
//!
//! The batch runs on a thread of its own and sends each result, in input
//! order, through a channel as small as the batch's window, so at most a
//! few results wait for Python whatever the number of paths. Dropping the
//! iterator early cancels the jobs not yet started.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use voxcap_batch::{expand_inputs, run_ordered, Input};
use voxcap_dsp::analysis::panic_message;
use voxcap_dsp::{analyze_reader, Report};

use crate::errors::Failure;
use crate::source::Source;
use crate::{report_dict, settings};

/// One input's outcome: its name and the report or the CLI's error pair.
type Outcome = (String, Result<Report, (&'static str, String)>);

/// Analyses every path on `jobs` threads; yields dicts in input order.
#[pyfunction]
#[pyo3(signature = (paths, *, jobs=None, **settings))]
pub(crate) fn analyze_many(
    paths: &Bound<'_, PyAny>,
    jobs: Option<i64>,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<AnalyzeMany> {
    let config = settings::config(settings, settings::BATCH_KEYS)?;
    if paths.is_instance_of::<PyString>() || paths.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "paths: expected an iterable of paths, got one path (wrap it in a list)",
        ));
    }
    let paths = paths
        .try_iter()?
        .map(|p| p.and_then(|p| p.extract::<PathBuf>()))
        .collect::<PyResult<Vec<PathBuf>>>()?;
    let workers = match jobs {
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Some(n @ 1..=1024) => n as usize,
        Some(n) => {
            return Err(PyValueError::new_err(format!(
                "jobs: {n} is outside 1..=1024"
            )))
        }
    };
    let inputs = expand_inputs(&paths);
    let workers = workers.min(inputs.len().max(1));
    let names: Vec<String> = inputs.iter().map(Input::name).collect();
    let cancelled = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel::<Outcome>(workers * 2);
    let stop = Arc::clone(&cancelled);
    std::thread::spawn(move || {
        run_ordered(
            inputs,
            workers,
            |input| analyze_input(input, &config, &stop),
            |index, payload| {
                let message = format!("internal error: panicked: {}", panic_message(payload));
                (names[index].clone(), Err(("internal", message)))
            },
            |outcome| {
                if tx.send(outcome).is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        );
    });
    Ok(AnalyzeMany {
        results: Mutex::new(rx),
        cancelled,
    })
}

/// One input, as `voxcap analyze` handles it (stdin included).
fn analyze_input(input: Input, config: &voxcap_dsp::AnalysisConfig, stop: &AtomicBool) -> Outcome {
    let name = input.name();
    if stop.load(Ordering::Relaxed) {
        return (
            name,
            Err(("cancelled", "the iterator was dropped".to_string())),
        );
    }
    let result = match input {
        Input::Stdin => analyze_reader("-", io::stdin(), config).map_err(Failure::Analysis),
        Input::File(path) => Source::Path(path).analyze(config),
        Input::Unreadable(_, e) => Err(Failure::Open(e)),
    };
    (name, result.map_err(|f| f.kind_and_message()))
}

/// The iterator `analyze_many` returns.
#[pyclass(module = "voxcap", name = "AnalyzeMany", frozen)]
pub(crate) struct AnalyzeMany {
    results: Mutex<mpsc::Receiver<Outcome>>,
    cancelled: Arc<AtomicBool>,
}

#[pymethods]
impl AnalyzeMany {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// The next input's report, or `{"file", "error": {"kind", "message"}}`.
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        // Waits without the GIL, taking the lock there too, so another
        // Python thread can run (or wait on this iterator) meanwhile.
        let next = py.detach(|| self.results.lock().ok().and_then(|rx| rx.recv().ok()));
        let Some((name, result)) = next else {
            return Ok(None);
        };
        match result {
            Ok(report) => report_dict(py, &report, Some(&name)).map(Some),
            Err((kind, message)) => {
                let error = PyDict::new(py);
                error.set_item("kind", kind)?;
                error.set_item("message", message)?;
                let line = PyDict::new(py);
                line.set_item("file", name)?;
                line.set_item("error", error)?;
                Ok(Some(line.into_any().unbind()))
            }
        }
    }
}

impl Drop for AnalyzeMany {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

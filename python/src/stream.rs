//! `voxcap.Analyzer`: voxcap-dsp's push-model [`Analyzer`] for a stream of
//! samples pushed from Python.
//!
//! The dsp analyser lives on a thread of its own and each call is a message
//! to it (it was not `Send` while it held libfvad's C state; the thread
//! stays because it also keeps the work off the caller's thread): Python waits for the
//! answer with the GIL released, and the object may be used from any
//! Python thread. The analyser is built for the first push's sample type
//! (the level meter's clip threshold depends on it), so int16 PCM pushed
//! from a file gives that file's report.

use std::sync::{mpsc, Mutex};

use numpy::{PyArray1, PyUntypedArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use voxcap_dsp::analysis::build_report;
use voxcap_dsp::decode::{convert_frames, Codec};
use voxcap_dsp::report::DtmfSeconds;
use voxcap_dsp::{catch_panics, AnalysisConfig, AnalysisError, Analyzer, Report, ANALYSIS_RATE};

use crate::errors::Failure;
use crate::source::{array_info, frames};
use crate::{report_dict, settings};

/// A call to the analyser's thread.
enum Call {
    /// Samples decoded from `Codec`; answered with the digits completed since the last push.
    Push(Codec, Vec<f32>),
    /// The end of the stream; answered with the report.
    Finish,
}

/// The analyser thread's answer.
enum Answer {
    Digits(Vec<DtmfSeconds>),
    Report(Box<Report>),
    /// A push whose sample type differs from the stream's.
    Mixed(Codec, Codec),
    Failed(AnalysisError),
}

struct Channel {
    calls: mpsc::Sender<Call>,
    answers: mpsc::Receiver<Answer>,
}

/// The streaming analyser (`voxcap.Analyzer` in Python).
#[pyclass(module = "voxcap", name = "Analyzer", frozen)]
pub(crate) struct StreamAnalyzer {
    channel: Mutex<Option<Channel>>,
}

#[pymethods]
impl StreamAnalyzer {
    #[new]
    #[pyo3(signature = (sample_rate, **settings))]
    fn new(
        py: Python<'_>,
        sample_rate: u32,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let config = settings::config(settings, settings::BATCH_KEYS)?;
        let (calls, call_rx) = mpsc::channel();
        let (answer_tx, answers) = mpsc::channel();
        let started = py.detach(move || {
            let (ready_tx, ready) = mpsc::channel();
            std::thread::spawn(move || {
                serve(sample_rate, &config, &call_rx, &answer_tx, &ready_tx)
            });
            ready.recv().unwrap_or_else(|_| {
                Err(AnalysisError::Internal {
                    message: "the analyser thread did not start".to_string(),
                })
            })
        });
        started.map_err(|e| Failure::Analysis(e).into_pyerr(py, "<stream>", None))?;
        Ok(StreamAnalyzer {
            channel: Mutex::new(Some(Channel { calls, answers })),
        })
    }

    /// Feeds samples (a 1-D float32, float64 or int16 array, or bytes of
    /// 16-bit little-endian PCM); returns the DTMF digits completed by this
    /// push, as the report's `dtmf` entries.
    fn push(&self, py: Python<'_>, samples: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let (codec, samples) = pushed_samples(samples)?;
        match self.call(py, Call::Push(codec, samples))? {
            Answer::Digits(digits) => {
                let list = PyList::empty(py);
                for d in &digits {
                    list.append(pythonize::pythonize(py, d)?)?;
                }
                Ok(list.into_any().unbind())
            }
            other => Err(self.unexpected(py, other)),
        }
    }

    /// Ends the stream and returns the report dict (`file` is None); the
    /// analyser cannot be used afterwards.
    fn finish(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let answer = self.call(py, Call::Finish)?;
        self.close();
        match answer {
            Answer::Report(report) => report_dict(py, &report, None),
            other => Err(self.unexpected(py, other)),
        }
    }
}

impl StreamAnalyzer {
    /// Sends `call` and waits for the answer, both without the GIL.
    fn call(&self, py: Python<'_>, call: Call) -> PyResult<Answer> {
        let answer = py.detach(|| {
            let guard = self.channel.lock().ok()?;
            let channel = guard.as_ref()?;
            channel.calls.send(call).ok()?;
            channel.answers.recv().ok()
        });
        answer.ok_or_else(|| {
            PyValueError::new_err(
                "Analyzer: the stream is finished (or failed); make a new Analyzer",
            )
        })
    }

    fn close(&self) {
        if let Ok(mut guard) = self.channel.lock() {
            guard.take();
        }
    }

    /// The exception for an answer that is not the one asked for.
    fn unexpected(&self, py: Python<'_>, answer: Answer) -> PyErr {
        match answer {
            Answer::Mixed(first, now) => PyValueError::new_err(format!(
                "push: samples are {} but the stream started with {}",
                now.name(),
                first.name()
            )),
            Answer::Failed(e) => {
                self.close();
                Failure::Analysis(e).into_pyerr(py, "<stream>", None)
            }
            Answer::Digits(_) | Answer::Report(_) => {
                PyTypeError::new_err("Analyzer: internal error: an answer out of turn")
            }
        }
    }
}

/// The samples of one push, converted as the decoder converts a file's.
fn pushed_samples(obj: &Bound<'_, PyAny>) -> PyResult<(Codec, Vec<f32>)> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        let bytes = bytes.as_bytes();
        if bytes.len() % 2 != 0 {
            return Err(PyValueError::new_err(format!(
                "push: {} bytes is not a whole number of 16-bit samples",
                bytes.len()
            )));
        }
        let mut out = Vec::with_capacity(bytes.len() / 2);
        convert_frames(Codec::PcmS16Le, 1, bytes, &mut out);
        return Ok((Codec::PcmS16Le, out));
    }
    let array = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err("push: expected a 1-D numpy array or bytes of 16-bit PCM")
    })?;
    if let Ok(a) = array.cast::<PyArray1<f32>>() {
        Ok((
            Codec::PcmF32Le,
            frames(a, Codec::PcmF32Le, f32::to_le_bytes)?,
        ))
    } else if let Ok(a) = array.cast::<PyArray1<f64>>() {
        Ok((
            Codec::PcmF64Le,
            frames(a, Codec::PcmF64Le, f64::to_le_bytes)?,
        ))
    } else if let Ok(a) = array.cast::<PyArray1<i16>>() {
        Ok((
            Codec::PcmS16Le,
            frames(a, Codec::PcmS16Le, i16::to_le_bytes)?,
        ))
    } else {
        Err(PyValueError::new_err(
            "push: a numpy array must be 1-D float32, float64 or int16",
        ))
    }
}

/// The analyser thread: one dsp [`Analyzer`], rebuilt for the first push's
/// sample type (nothing has been pushed into it yet, so nothing is lost).
fn serve(
    rate: u32,
    config: &AnalysisConfig,
    calls: &mpsc::Receiver<Call>,
    answers: &mpsc::Sender<Answer>,
    ready: &mpsc::Sender<Result<(), AnalysisError>>,
) {
    let mut codec = Codec::PcmF32Le;
    let mut analyzer = match Analyzer::new(&array_info(codec, rate, 0), config) {
        Ok(a) => a,
        Err(e) => {
            ready.send(Err(e)).ok();
            return;
        }
    };
    ready.send(Ok(())).ok();
    let (mut pushed, mut reported, mut samples) = (false, 0, 0usize);
    for call in calls {
        let answer = match call {
            Call::Push(kind, block) if !pushed || kind == codec => catch_panics(|| {
                if !pushed && kind != codec {
                    codec = kind;
                    analyzer = Analyzer::new(&array_info(codec, rate, 0), config)?;
                }
                pushed = true;
                samples += block.len();
                analyzer.push(&block);
                let done = analyzer.dtmf_events();
                let digits = done[reported..]
                    .iter()
                    .map(|e| DtmfSeconds::new(e, ANALYSIS_RATE))
                    .collect();
                reported = done.len();
                Ok(Answer::Digits(digits))
            }),
            Call::Push(kind, _) => Ok(Answer::Mixed(codec, kind)),
            Call::Finish => {
                let info = array_info(codec, rate, samples);
                let report = catch_panics(|| {
                    let findings = analyzer.finish();
                    Ok(build_report(String::new(), &info, &findings, false, config))
                });
                answers
                    .send(report.map_or_else(Answer::Failed, |r| Answer::Report(Box::new(r))))
                    .ok();
                return;
            }
        };
        let failed = answer.is_err();
        answers.send(answer.unwrap_or_else(Answer::Failed)).ok();
        if failed {
            // A panic may have left the analyser half-updated: end the stream.
            return;
        }
    }
}

//! What `analyze` and `decode` accept as a source: a path, WAV bytes, a
//! binary file-like object (read in chunks through [`PyReader`]), or a 1-D
//! numpy array of samples; and how each reaches voxcap-dsp.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::PathBuf;

use numpy::{Element, PyArray1, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};
use voxcap_dsp::decode::{convert_frames, Codec, StreamInfo};
use voxcap_dsp::{analyze_reader, analyze_samples, AnalysisConfig, Report};

use crate::errors::Failure;

/// One input, converted out of its Python form (so it can cross into a
/// thread without the GIL).
pub(crate) enum Source {
    /// A path, as the user gave it.
    Path(PathBuf),
    /// A whole WAV file held in memory.
    Bytes(Vec<u8>),
    /// A binary file-like object, read in chunks.
    Reader(PyReader),
    /// Samples without a header, as a WAV with this format would decode.
    Samples(StreamInfo, Vec<f32>),
}

impl Source {
    /// Converts `obj`; `sample_rate` is required for, and only for, an array.
    pub(crate) fn from_py(obj: &Bound<'_, PyAny>, sample_rate: Option<u32>) -> PyResult<Self> {
        let source = if let Ok(bytes) = obj.cast::<PyBytes>() {
            Source::Bytes(bytes.as_bytes().to_vec())
        } else if obj.is_instance_of::<PyByteArray>() || obj.is_instance_of::<PyMemoryView>() {
            let bytes = obj.py().get_type::<PyBytes>().call1((obj,))?;
            Source::Bytes(bytes.cast::<PyBytes>()?.as_bytes().to_vec())
        } else if let Ok(array) = obj.cast::<PyUntypedArray>() {
            let rate = sample_rate.ok_or_else(|| {
                PyValueError::new_err("sample_rate: required when the source is a numpy array")
            })?;
            return samples(array, rate);
        } else if obj.is_instance_of::<PyString>()
            || obj.hasattr(intern!(obj.py(), "__fspath__"))?
        {
            Source::Path(obj.extract::<PathBuf>()?)
        } else if obj.hasattr(intern!(obj.py(), "read"))? {
            Source::Reader(PyReader {
                file: obj.clone().unbind(),
            })
        } else {
            let got = obj.get_type().name()?.to_string();
            return Err(PyTypeError::new_err(format!(
                "source: expected a path, bytes, a binary file-like object or a numpy array, got {got}"
            )));
        };
        if sample_rate.is_some() {
            return Err(PyValueError::new_err(
                "sample_rate: only for numpy array sources (a WAV states its own rate)",
            ));
        }
        Ok(source)
    }

    /// The input's name in messages: the path, or what kind of source it is.
    pub(crate) fn name(&self) -> String {
        match self {
            Source::Path(p) => p.display().to_string(),
            Source::Bytes(_) => "<bytes>".to_string(),
            Source::Reader(_) => "<file-like>".to_string(),
            Source::Samples(..) => "<array>".to_string(),
        }
    }

    /// The report's `file`: the path as the CLI prints it, `None` otherwise.
    pub(crate) fn file(&self) -> Option<String> {
        match self {
            Source::Path(p) => Some(p.display().to_string()),
            _ => None,
        }
    }

    /// The bytes of a WAV source as a reader (a path is opened).
    pub(crate) fn into_reader(self) -> Result<Box<dyn Read + Send>, Failure> {
        Ok(match self {
            Source::Path(p) => Box::new(File::open(p).map_err(Failure::Open)?),
            Source::Bytes(b) => Box::new(Cursor::new(b)),
            Source::Reader(r) => Box::new(r),
            Source::Samples(..) => return Err(Failure::NotAWav),
        })
    }

    /// The CLI's analysis of this source.
    pub(crate) fn analyze(self, config: &AnalysisConfig) -> Result<Report, Failure> {
        let name = self.name();
        if let Source::Samples(info, samples) = &self {
            return analyze_samples(&name, info, samples, config).map_err(Failure::Analysis);
        }
        let reader = self.into_reader()?;
        analyze_reader(&name, reader, config).map_err(Failure::Analysis)
    }
}

/// The format a WAV holding these samples would have: mono, at `rate`.
pub(crate) fn array_info(codec: Codec, rate: u32, samples: usize) -> StreamInfo {
    let bits = match codec {
        Codec::PcmS16Le => 16,
        Codec::PcmF64Le => 64,
        _ => 32,
    };
    StreamInfo {
        codec,
        sample_rate: rate,
        channels: 1,
        bits,
        valid_bits: bits,
        block_align: bits / 8,
        extensible: false,
        data_len: Some(samples as u64 * u64::from(bits / 8)),
    }
}

/// A 1-D float32, float64 or int16 array as the decoder would have decoded
/// the same samples from a WAV (scaled, sanitised).
fn samples(array: &Bound<'_, PyUntypedArray>, rate: u32) -> PyResult<Source> {
    let decoded = if array.ndim() != 1 {
        None
    } else if let Ok(a) = array.cast::<PyArray1<f32>>() {
        Some((
            Codec::PcmF32Le,
            frames(a, Codec::PcmF32Le, f32::to_le_bytes)?,
        ))
    } else if let Ok(a) = array.cast::<PyArray1<f64>>() {
        Some((
            Codec::PcmF64Le,
            frames(a, Codec::PcmF64Le, f64::to_le_bytes)?,
        ))
    } else if let Ok(a) = array.cast::<PyArray1<i16>>() {
        Some((
            Codec::PcmS16Le,
            frames(a, Codec::PcmS16Le, i16::to_le_bytes)?,
        ))
    } else {
        None
    };
    let Some((codec, samples)) = decoded else {
        return Err(PyValueError::new_err(format!(
            "source: a numpy array must be 1-D float32, float64 or int16, got {}-D {}",
            array.ndim(),
            array.dtype()
        )));
    };
    Ok(Source::Samples(
        array_info(codec, rate, samples.len()),
        samples,
    ))
}

/// Converts an array through the decoder's own sample conversion, a block
/// of little-endian bytes at a time.
pub(crate) fn frames<T: Element + Copy, const N: usize>(
    array: &Bound<'_, PyArray1<T>>,
    codec: Codec,
    to_le: fn(T) -> [u8; N],
) -> PyResult<Vec<f32>> {
    let view = array.readonly();
    let view = view.as_array();
    let mut out = Vec::with_capacity(view.len());
    let mut bytes = Vec::with_capacity(8192 * N);
    let mut values = view.iter().copied().peekable();
    while values.peek().is_some() {
        bytes.clear();
        bytes.extend(values.by_ref().take(8192).flat_map(to_le));
        convert_frames(codec, 1, &bytes, &mut out);
    }
    Ok(out)
}

/// A Rust reader over a Python binary file-like object: each `read` takes
/// the GIL, calls `.read(n)` and copies the bytes, so the file is read in
/// chunks, never whole.
pub(crate) struct PyReader {
    file: Py<PyAny>,
}

impl Read for PyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Python::attach(|py| {
            let chunk = self
                .file
                .bind(py)
                .call_method1(intern!(py, "read"), (buf.len(),))
                .map_err(io::Error::other)?;
            let chunk = chunk.cast::<PyBytes>().map_err(|_| {
                io::Error::other(PyTypeError::new_err(
                    "source: read() must return bytes (open the file in binary mode)",
                ))
            })?;
            let bytes = chunk.as_bytes();
            if bytes.len() > buf.len() {
                return Err(io::Error::other(PyValueError::new_err(format!(
                    "source: read({}) returned {} bytes",
                    buf.len(),
                    bytes.len()
                ))));
            }
            buf[..bytes.len()].copy_from_slice(bytes);
            Ok(bytes.len())
        })
    }
}

//! Loading the speech model of `--speech-model` / `VOXCAP_SPEECH_MODEL`
//! (feature `neural`): Silero VAD's ONNX file, read from the path given and
//! nowhere else (never from the network), checked, and named by its SHA-256
//! so that the settings hash of a report tells which model analysed it.

use std::path::{Path, PathBuf};

use voxcap_dsp::vad::neural::NeuralVad;
use voxcap_dsp::vad::onnx;
use voxcap_dsp::vad::silero::{SileroError, SileroModel};

/// Why a speech model could not be loaded; names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeechModelError {
    /// The file could not be opened or read.
    #[error("speech model {}: cannot be opened", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file could not be read whole, is not a Silero VAD model, or is corrupt.
    #[error("speech model {}: not a usable Silero VAD model", path.display())]
    Model {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: SileroError,
    },
}

/// Loads the Silero model at `path` for the fused speech detector, with the
/// fusion's tuned thresholds; its label is `silero:<sha256 of the file>`.
pub fn load_speech_model(path: &Path) -> Result<NeuralVad, SpeechModelError> {
    let file = std::fs::File::open(path).map_err(|source| SpeechModelError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let model_error = |source: SileroError| SpeechModelError::Model {
        path: path.to_path_buf(),
        source,
    };
    let bytes = onnx::read_model(file).map_err(|e| model_error(e.into()))?;
    let model = SileroModel::from_bytes(&bytes).map_err(model_error)?;
    let label = format!("silero:{}", voxcap_records::digest::sha256_hex(&bytes));
    Ok(NeuralVad::new(model, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_corrupt_files_are_errors_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.onnx");
        let err = load_speech_model(&missing).unwrap_err();
        assert!(matches!(err, SpeechModelError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("absent.onnx"), "{err}");
        assert!(std::error::Error::source(&err).is_some());
        let junk = dir.path().join("junk.onnx");
        std::fs::write(&junk, b"not a model at all").unwrap();
        let err = load_speech_model(&junk).unwrap_err();
        assert!(matches!(err, SpeechModelError::Model { .. }), "{err:?}");
        assert!(err.to_string().contains("junk.onnx"), "{err}");
        let err = load_speech_model(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains(&dir.path().display().to_string()),
            "{err}"
        );
    }
}

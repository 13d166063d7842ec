//! Integration tests of decoding, resampling and the analysis pipeline.
//!
//! One test binary with a shared harness: `corpus` defines every committed
//! fixture (and is the generator that wrote them), the other modules check
//! behaviour against it.

mod corpus;
mod fixtures;
mod malformed;
mod resample;
mod robustness;

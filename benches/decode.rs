//! Decode benchmark (placeholder until the decoder lands).
fn main() {}

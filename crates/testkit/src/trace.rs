//! Capturing a test's `tracing` output (feature `trace`), so a test can
//! check that no secret is ever logged.

use std::sync::{Arc, Mutex};

/// A cloneable in-memory writer: every clone appends to the same buffer.
#[derive(Clone, Default)]
pub struct CapturedOutput(Arc<Mutex<Vec<u8>>>);

impl CapturedOutput {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for CapturedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber that writes every event, TRACE included, without colours,
/// into the returned [`CapturedOutput`]. Install it with
/// `tracing::subscriber::set_default` or `with_default`.
pub fn trace_capture() -> (CapturedOutput, impl tracing::Subscriber + Send + Sync) {
    let captured = CapturedOutput::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, subscriber)
}

/// The longest run of hex digits in `s`: the emulator's recording tokens
/// are 64 hex characters, while ids and client contexts are at most 32 in
/// a row, so a run of 48 or more in a log is a leaked token.
pub fn longest_hex_run(s: &str) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        best = best.max(run);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_what_the_subscriber_writes() {
        let (captured, subscriber) = trace_capture();
        tracing::subscriber::with_default(subscriber, || tracing::trace!("hello deadbeef"));
        assert!(
            captured.text().contains("hello deadbeef"),
            "{}",
            captured.text()
        );
        assert!((8..48).contains(&longest_hex_run(&captured.text())));
        assert_eq!(longest_hex_run("a 0123456789abcdef!"), 16);
        assert_eq!(longest_hex_run("xyz"), 0);
    }
}

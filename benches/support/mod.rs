//! Inputs shared by the benches: the committed real-speech fixtures.

/// The speech fixtures in `testdata/speech/` (8 kHz 16-bit mono), as `f32`, in name order.
pub fn speech_fixtures() -> Vec<Vec<f32>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/speech");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/speech")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let mut r = hound::WavReader::open(p).expect("fixture");
            assert_eq!(r.spec().sample_rate, 8000, "{}", p.display());
            r.samples::<i16>()
                .map(|s| f32::from(s.expect("sample")) / 32768.0)
                .collect()
        })
        .collect()
}

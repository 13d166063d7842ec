//! The recording host: the WAV it serves, token checks, `Range`, and the
//! per-recording download counts.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_second_scenario_serves_a_160044_byte_chunked_wav() {
    let h = Harness::start().await;
    let call = h.call_with(&scenario_file("talk_past_max_duration")).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 5, 5, "five")).await;
    let n = h.completion(&op).await;
    let d = &n["resourceData"];
    assert_eq!(d["resultInfo"]["subcode"], 8515);
    let r = h
        .download(
            d["recordingLocation"].as_str().unwrap(),
            d["recordingAccessToken"].as_str().unwrap(),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert!(r.headers().get("content-length").is_none());
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len(), 160_044);
    assert!((wav_seconds(&bytes) - 5.0).abs() < 1e-9);
    // Not silence: the caller was talking the whole time.
    let reader = hound::WavReader::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let peak = reader
        .into_samples::<i16>()
        .map(|s| s.unwrap().unsigned_abs())
        .max()
        .unwrap();
    assert!(peak > 1000, "peak {peak}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_needs_the_recording_token_and_honours_range() {
    let h = Harness::start().await;
    let (loc, tok) = finished_recording(&h, &voxcap_emulator::server::default_scenario()).await;
    let r = h.http.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // The Graph app token must not open the recording.
    assert_eq!(h.download(&loc, &h.token).await.status(), 403);
    assert_eq!(h.download(&loc, "guess").await.status(), 403);
    let full = h.download(&loc, &tok).await.bytes().await.unwrap();
    let total = full.len();
    let ranges = [
        ("bytes=0-99", 0, 100),
        ("bytes=1000-", 1000, total),
        ("bytes=-44", total - 44, total),
        ("bytes=100-999999999", 100, total),
    ];
    for (range, s, e) in ranges {
        let r = h
            .http
            .get(&loc)
            .bearer_auth(&tok)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 206, "{range}");
        assert_eq!(
            r.headers()["content-range"].to_str().unwrap(),
            format!("bytes {s}-{}/{total}", e - 1),
            "{range}"
        );
        assert_eq!(&r.bytes().await.unwrap()[..], &full[s..e], "{range}");
    }
    let r = h
        .http
        .get(&loc)
        .bearer_auth(&tok)
        .header("range", format!("bytes={total}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(
        r.headers()["content-range"].to_str().unwrap(),
        format!("bytes */{total}")
    );
    let r = h
        .http
        .get(h.url("/recordings/nope"))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

/// The counts a fleet test uses to prove "no recording downloaded twice":
/// only authorised downloads count, split by whether they start at byte 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_counted_per_recording_from_start_and_resumed() {
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "counted")).await;
    let n = h.completion(&op).await;
    let loc = n["resourceData"]["recordingLocation"].as_str().unwrap();
    let tok = n["resourceData"]["recordingAccessToken"].as_str().unwrap();
    let id = loc.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        h.emu.state.recording_id_of(&op).as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        h.emu.state.recording_id_of(&norm(&op)).as_deref(),
        Some(id.as_str()),
        "operation ids are matched normalised"
    );
    let count = |h: &Harness| h.emu.state.download_counts().get(&id).copied();

    assert_eq!(h.http.get(loc).send().await.unwrap().status(), 401);
    assert_eq!(h.download(loc, &h.token).await.status(), 403);
    assert_eq!(count(&h), None, "refused downloads are not counted");

    let full = h.download(loc, tok).await.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((1, 0)));
    h.download(loc, tok).await.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((2, 0)));

    let ranged = |range: String| {
        h.http
            .get(loc)
            .bearer_auth(tok)
            .header("range", range)
            .send()
    };
    let r = ranged(format!("bytes={}-", full.len() / 2)).await.unwrap();
    assert_eq!(r.status(), 206);
    r.bytes().await.unwrap();
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((2, 1)));
    let r = ranged("bytes=0-99".into()).await.unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((3, 1)));
    // Nothing is served past the end, so nothing is counted.
    let r = ranged(format!("bytes={}-", full.len())).await.unwrap();
    assert_eq!(r.status(), 416);
    assert_eq!(count(&h).map(|c| (c.from_start, c.resumed)), Some((3, 1)));

    let stats = h.stats().await;
    assert_eq!(
        stats["downloads"][&id],
        json!({"fromStart": 3, "resumed": 1}),
        "{stats}"
    );
    assert_eq!(stats["downloads"].as_object().unwrap().len(), 1);
}

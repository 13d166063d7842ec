//! The list's pages and filters, and bad input: every malformed request
//! gets a 4xx problem (never a 5xx), each naming what was wrong.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::Harness;

#[tokio::test]
async fn the_list_pages_with_a_cursor_and_filters_by_status_and_time() {
    let h = Harness::start().await;
    // Five recordings on a call the emulator does not know: each fails.
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = h
            .req(Method::POST, "/v1/calls/no-such-call/recordResponse")
            .json(&json!({"clientContext": format!("page-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for id in &ids {
        let done = h.wait_final(id).await;
        assert_eq!(done["status"], "failed", "{done}");
        assert!(
            done["error"].as_str().unwrap().contains("no-such-call"),
            "{done}"
        );
    }
    let mut seen = Vec::new();
    let mut path = "/v1/recordings?limit=2&status=failed".to_string();
    let mut pages = 0;
    loop {
        let (status, page) = h.get_json(&path).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(next) => path = next.to_string(),
            None => break,
        }
    }
    assert_eq!((pages, &seen), (3, &ids));
    let (_, none) = h.get_json("/v1/recordings?status=completed").await;
    assert_eq!(none["items"], json!([]));
    assert_eq!(none["nextCursor"], Value::Null);
    let (_, later) = h
        .get_json("/v1/recordings?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(later["items"], json!([]));
    let (_, all) = h
        .get_json("/v1/recordings?since=2000-01-01T00:00:00%2B02:00")
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5);
    h.stop().await;
}

/// What is wrong, the method, the path, the content type and body, the status wanted.
type Row<'a> = (&'a str, Method, String, Option<(&'a str, String)>, u16);

#[tokio::test]
async fn bad_input_gets_a_4xx_problem_never_a_5xx() {
    let h = Harness::start().await;
    let big = format!("{{\"clientContext\":\"{}\"}}", "x".repeat(70 * 1024));
    let unknown = "0123456789abcdef0123456789abcdef";
    let rr = "/v1/calls/call-1/recordResponse";
    let table: Vec<Row<'_>> = vec![
        ("bad JSON", Method::POST, rr.into(), Some(("application/json", "{".into())), 400),
        ("not an object", Method::POST, rr.into(), Some(("application/json", "[1]".into())), 422),
        ("an empty array", Method::POST, rr.into(), Some(("application/json", "[]".into())), 422),
        ("the voxcap object as an array", Method::POST, rr.into(),
            Some(("application/json", r#"{"voxcap": [null, null]}"#.into())), 422),
        ("a fractional timer", Method::POST, rr.into(),
            Some(("application/json", r#"{"maxSilenceTimeoutInSeconds": 2.5}"#.into())), 422),
        ("an empty status", Method::GET, "/v1/recordings?status=".into(), None, 400),
        ("a timer out of range", Method::POST, rr.into(),
            Some(("application/json", r#"{"maxRecordDurationInSeconds": 500}"#.into())), 422),
        ("a negative timer", Method::POST, rr.into(),
            Some(("application/json", r#"{"maxSilenceTimeoutInSeconds": -1}"#.into())), 422),
        ("a bad stop tone", Method::POST, rr.into(),
            Some(("application/json", r##"{"stopTones": ["#x"]}"##.into())), 422),
        ("an unknown voxcap field", Method::POST, rr.into(),
            Some(("application/json", r#"{"voxcap": {"retention": 3}}"#.into())), 422),
        ("a callback that is not http", Method::POST, rr.into(),
            Some(("application/json", r#"{"voxcap": {"callbackUrl": "file:///etc/passwd"}}"#.into())), 422),
        ("an oversized body", Method::POST, rr.into(), Some(("application/json", big)), 413),
        ("not JSON at all", Method::POST, rr.into(), Some(("text/plain", "hello".into())), 415),
        ("a call id with a slash", Method::POST, "/v1/calls/a%2F..%2Fb/recordResponse".into(),
            Some(("application/json", "{}".into())), 422),
        ("a bad Idempotency-Key", Method::POST, rr.into(), Some(("application/json", "{}".into())), 400),
        ("an external op without a location", Method::POST, "/v1/recordings".into(),
            Some(("application/json", r#"{"callId":"c1","recordOperation":{"id":"0fe0aa00-0000-4000-8000-000000000001"}}"#.into())), 422),
        ("an external op that is no GUID", Method::POST, "/v1/recordings".into(),
            Some(("application/json", r#"{"callId":"c1","recordOperation":{"id":"../x","recordingLocation":"https://x/y"}}"#.into())), 422),
        ("an external op that failed", Method::POST, "/v1/recordings".into(),
            Some(("application/json", r#"{"callId":"c1","recordOperation":{"id":"0fe0aa00-0000-4000-8000-000000000001","status":"failed","recordingLocation":"https://x/y"}}"#.into())), 422),
        ("an unknown id", Method::GET, format!("/v1/recordings/{unknown}"), None, 404),
        ("an id that is not one", Method::GET, "/v1/recordings/..%2F..%2Fetc".into(), None, 404),
        ("audio of an unknown id", Method::GET, format!("/v1/recordings/{unknown}/audio"), None, 404),
        ("deleting an unknown id", Method::DELETE, format!("/v1/recordings/{unknown}"), None, 404),
        ("a bad status", Method::GET, "/v1/recordings?status=done".into(), None, 400),
        ("a bad cursor", Method::GET, "/v1/recordings?cursor=zzz".into(), None, 400),
        ("a bad since", Method::GET, "/v1/recordings?since=yesterday".into(), None, 400),
        ("a limit out of range", Method::GET, "/v1/recordings?limit=1000".into(), None, 400),
        ("a limit that is no number", Method::GET, "/v1/recordings?limit=x".into(), None, 400),
        ("a method the route does not take", Method::PUT, "/v1/recordings".into(), None, 405),
        ("an unknown route", Method::GET, "/v2/anything".into(), None, 404),
    ];
    for (what, method, path, body, want) in table {
        let mut r = h.req(method.clone(), &path);
        if what == "a bad Idempotency-Key" {
            r = r.header("idempotency-key", "has space");
        }
        if let Some((ct, b)) = body {
            r = r.header("content-type", ct).body(b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string());
        let problem: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, want, "{what}: {method} {path}: {problem}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"), "{what}");
        assert_eq!(problem["status"], json!(want), "{what}: {problem}");
        assert!(
            problem["type"].as_str().unwrap().starts_with("/problems/"),
            "{what}"
        );
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
    }
    h.stop().await;
}

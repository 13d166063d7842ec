//! Unit tests of the wire types: seed bodies verbatim, lenient parsing, strict validation.

use super::*;

fn seed(name: &str) -> String {
    let path = format!("{}/testdata/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_running_operation_with_a_location_is_a_start_not_a_completion() {
    let path =
        "/app/calls/57DAB8B1894C409AB240BD8BEAE78896/operations/0FE0623FD62842EDB4BD8AC290072CC5";
    // (status, location, is a start, is a completion)
    let cases = [
        ("running", "https://file.location/1", true, false),
        ("running", "", false, false),
        ("completed", "https://file.location/1", false, true),
        ("failed", "", false, true),
    ];
    for (status, location, start, completion) in cases {
        let n: CommsNotification = serde_json::from_value(serde_json::json!({
            "changeType": "updated",
            "resource": path,
            "resourceData": {
                "@odata.type": "#microsoft.graph.recordOperation",
                "status": status,
                "recordResourceLocation": location,
                "recordResourceAccessToken": "t",
            }
        }))
        .unwrap();
        assert_eq!(
            n.recording_started().is_some(),
            start,
            "{status} {location:?}"
        );
        assert_eq!(
            n.record_completion().is_some(),
            completion,
            "{status} {location:?}"
        );
    }
}

#[test]
fn seed_request_bodies_parse_and_fail_validation_only_on_the_bad_tone() {
    for name in ["002_v1_request.json", "003_beta_request.json"] {
        let req: RecordResponseRequest = serde_json::from_str(&seed(name)).unwrap();
        assert_eq!(req.prompts.len(), 1, "{name}");
        assert_eq!(req.max_record_duration_in_seconds, 10);
        assert_eq!(req.stop_tones, ["#", "1", "*"]);
        req.validate().unwrap();
    }
}

#[test]
fn seed_001_legacy_request_has_trailing_commas_and_is_rejected_as_json() {
    let raw = seed("001_legacy_record_request.json");
    assert!(serde_json::from_str::<LegacyRecordRequest>(&raw).is_err());
    // With the typo fixed it parses; validation then names the out-of-range
    // duration and, once fixed, the two-digit stop tone.
    let fixed = raw
        .replace(",\n      }", "\n      }")
        .replace(",\n}", "\n}");
    let mut req: LegacyRecordRequest = serde_json::from_str(&fixed).unwrap();
    assert_eq!(req.prompts.len(), 2);
    assert_eq!(req.prompts[0], LegacyPrompt::Silence { duration: 5000 });
    assert_eq!(req.stop_tones, ["#", "11", "*"]);
    assert_eq!(
        req.validate().unwrap_err().field,
        "maxRecordDurationInSeconds"
    );
    req.max_record_duration_in_seconds = 120;
    let err = req.validate().unwrap_err();
    assert_eq!(err.field, "stopTones");
    assert!(err.to_string().contains("\"11\""), "{err}");
}

#[test]
fn seed_responses_parse() {
    let v1: RecordOperation = serde_json::from_str(&seed("002_v1_response.json")).unwrap();
    assert_eq!(v1.status, Some(OperationStatus::Running));
    assert_eq!(v1.location(), None);
    let beta: RecordOperation = serde_json::from_str(&seed("003_beta_response.json")).unwrap();
    assert_eq!(beta.completion_reason, None);
    let legacy: RecordOperation =
        serde_json::from_str(&seed("001_legacy_record_response.json")).unwrap();
    assert_eq!(
        legacy.created_date_time.as_deref(),
        Some("2018-09-06T15:58:41Z")
    );
    let upd: UpdateRecordingStatusOperation =
        serde_json::from_str(&seed("004_update_recording_status_response.json")).unwrap();
    assert_eq!(upd.status, Some(OperationStatus::Completed));
    // The 004 request example shows the three values joined by " | ":
    // a placeholder, so it must not parse as a status.
    assert!(serde_json::from_str::<UpdateRecordingStatusRequest>(&seed(
        "004_update_recording_status_request.json"
    ))
    .is_err());
}

#[test]
fn seed_notifications_parse_and_match_the_post_response_id() {
    let post_id = NormalizedId::new("0fe0623f-d628-42ed-b4bd-8ac290072cc5");
    let call_id = NormalizedId::new("57dab8b1-894c-409a-b240-bd8beae78896");
    let cases = [
        (
            "001_legacy_notification.json",
            Some(CompletionReason::StopToneDetected),
            false,
        ),
        (
            "002_v1_notification.json",
            Some(CompletionReason::MaxRecordDurationReached),
            true,
        ),
        (
            "003_beta_notification.json",
            Some(CompletionReason::StopToneDetected),
            true,
        ),
    ];
    for (name, reason, has_token) in cases {
        let n: CommsNotifications = serde_json::from_str(&seed(name)).unwrap();
        let (key, op) = n.value[0].record_completion().expect(name);
        assert_eq!(key.operation_id, post_id, "{name}");
        assert_eq!(key.call_id, call_id, "{name}");
        assert_eq!(op.effective_reason(), reason, "{name}");
        assert!(op.location().unwrap().starts_with("https://file.location/"));
        assert_eq!(op.access_token().is_some(), has_token, "{name}");
    }
}

#[test]
fn status_and_reason_parse_case_insensitively_and_keep_unknowns() {
    for s in ["Completed", "completed", "COMPLETED"] {
        assert_eq!(OperationStatus::parse(s), OperationStatus::Completed);
    }
    assert_eq!(
        OperationStatus::parse("NotStarted"),
        OperationStatus::NotStarted
    );
    assert_eq!(
        OperationStatus::parse("paused"),
        OperationStatus::Unknown("paused".into())
    );
    assert_eq!(
        CompletionReason::parse("StopToneDetected"),
        CompletionReason::StopToneDetected
    );
    let op: RecordOperation =
        serde_json::from_str(r#"{"status":"Failed","completionReason":"callerSneezed"}"#).unwrap();
    assert_eq!(
        op.completion_reason,
        Some(CompletionReason::Unknown("callerSneezed".into()))
    );
}

#[test]
fn normalized_ids_match_across_forms() {
    assert_eq!(
        NormalizedId::new("0fe0623f-d628-42ed-b4bd-8ac290072cc5"),
        NormalizedId::new("0FE0623FD62842EDB4BD8AC290072CC5")
    );
}

#[test]
fn resource_paths_in_every_form() {
    let want = OperationKey::new("abc", "def");
    for p in [
        "/communications/calls/ABC/operations/DEF",
        "/app/calls/abc/operations/def",
        "/applications/x/calls/abc/operations/def",
        "https://graph.microsoft.com/v1.0/communications/calls/abc/operations/def?x=1",
    ] {
        assert_eq!(OperationKey::from_resource(p), Some(want.clone()), "{p}");
    }
    for p in [
        "/communications/calls/abc",
        "/communications/calls/abc/participants/x",
        "",
    ] {
        assert_eq!(OperationKey::from_resource(p), None, "{p}");
    }
}

#[test]
fn unrelated_notifications_are_not_completions() {
    let body = r##"{"value":[
      {"changeType":"updated","resourceUrl":"/communications/calls/abc","resourceData":{"@odata.type":"#microsoft.graph.call","state":"established"}},
      {"changeType":"updated","resourceUrl":"/communications/calls/abc/participants","resourceData":[{"id":"p"}]},
      {"changeType":"deleted","resourceUrl":"/communications/calls/abc/operations/x","resourceData":{"@odata.type":"#microsoft.graph.playPromptOperation","status":"completed"}},
      {"changeType":"updated","resourceUrl":"/communications/calls/abc/operations/y","resourceData":{"@odata.type":"#microsoft.graph.recordOperation","status":"running"}},
      {"changeType":"deleted"}
    ]}"##;
    let n: CommsNotifications = serde_json::from_str(body).unwrap();
    assert!(n.value.iter().all(|v| v.record_completion().is_none()));
}

#[test]
fn validation_table() {
    let ok = RecordResponseRequest::default();
    ok.validate().unwrap();
    type Edit = fn(&mut RecordResponseRequest);
    let cases: [(&str, Edit); 8] = [
        ("initialSilenceTimeoutInSeconds", |r| {
            r.initial_silence_timeout_in_seconds = 0
        }),
        ("maxSilenceTimeoutInSeconds", |r| {
            r.max_silence_timeout_in_seconds = 121
        }),
        ("maxRecordDurationInSeconds", |r| {
            r.max_record_duration_in_seconds = 1800
        }),
        ("prompts", |r| {
            r.prompts = vec![MediaPrompt::new("a"), MediaPrompt::new("b")]
        }),
        ("prompts.mediaInfo.uri", |r| {
            r.prompts = vec![MediaPrompt::new(" ")]
        }),
        ("stopTones", |r| r.stop_tones = vec!["11".into()]),
        ("stopTones", |r| r.stop_tones = vec!["E".into()]),
        ("clientContext", |r| {
            r.client_context = Some("x".repeat(257))
        }),
    ];
    for (field, edit) in cases {
        let mut r = ok.clone();
        edit(&mut r);
        assert_eq!(r.validate().unwrap_err().field, field);
    }
    let mut r = ok.clone();
    r.client_context = Some("é".repeat(256));
    r.initial_silence_timeout_in_seconds = 120;
    r.stop_tones = parse_stop_tones("#*0D").unwrap();
    r.validate().unwrap();
    assert!(parse_stop_tones("#x").is_err());
}

#[test]
fn graph_error_body_parses() {
    let body = r#"{"error":{"code":"TooManyRequests","message":"slow down","innerError":{"request-id":"r-1","date":"2024-01-01T00:00:00","client-request-id":"c-1"}}}"#;
    let e: GraphErrorBody = serde_json::from_str(body).unwrap();
    assert_eq!(e.error.code.as_deref(), Some("TooManyRequests"));
    assert_eq!(
        e.error.inner_error.unwrap().request_id.as_deref(),
        Some("r-1")
    );
}

#[test]
fn request_serialises_with_graph_field_names() {
    let mut r = RecordResponseRequest::default();
    r.prompts.push(MediaPrompt::new("https://x/p.wav"));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["prompts"][0]["@odata.type"],
        "#microsoft.graph.mediaPrompt"
    );
    assert_eq!(v["initialSilenceTimeoutInSeconds"], 5);
    assert!(v.get("clientContext").is_none());
    let legacy = serde_json::to_value(r.to_legacy()).unwrap();
    assert_eq!(legacy["prompts"][0]["mediaInfo"]["uri"], "https://x/p.wav");
}

mod prop {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn notification_parsing_never_panics(body in ".{0,400}") {
            if let Ok(n) = serde_json::from_str::<CommsNotifications>(&body) {
                for v in &n.value {
                    let _ = v.record_completion();
                }
            }
            let _ = OperationKey::from_resource(&body);
        }

        #[test]
        fn normalisation_is_idempotent_and_ignores_case_and_dashes(id in "[0-9a-fA-F-]{0,40}") {
            let once = NormalizedId::new(&id);
            prop_assert_eq!(NormalizedId::new(once.as_str()), once.clone());
            prop_assert_eq!(NormalizedId::new(&id.to_uppercase().replace('-', "")), once);
        }

        #[test]
        fn record_operation_fields_survive_any_json_values(
            status in "[A-Za-z]{0,12}", reason in "[A-Za-z]{0,24}", sub in any::<i64>()
        ) {
            let v = serde_json::json!({"status": status, "completionReason": reason,
                "resultInfo": {"code": 200, "subcode": sub}});
            let op: RecordOperation = serde_json::from_value(v).unwrap();
            prop_assert_eq!(op.status.unwrap().as_str().to_ascii_lowercase(), status.to_ascii_lowercase());
            prop_assert_eq!(op.completion_reason.unwrap().as_str().to_ascii_lowercase(), reason.to_ascii_lowercase());
        }
    }
}

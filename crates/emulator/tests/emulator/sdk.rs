//! What the official SDKs need (the Python SDK test in `sdk-tests/` drives
//! them for real): HTTPS with a CA made at start-up, the Entra authority
//! documents MSAL reads, Graph's request ids and content type, and every
//! call route the v1.0 and beta SDKs generate.

use serde_json::{json, Value};
use voxcap_emulator::{RunningEmulator, TlsIdentity};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_with_a_fresh_ca_that_clients_must_trust() {
    let identity = TlsIdentity::generate(&["emulator.test".to_string()]).unwrap();
    assert_eq!(
        identity.names(),
        ["127.0.0.1", "localhost", "emulator.test"]
    );
    let config = voxcap_testkit::emulated::emulator_config();
    let emu = RunningEmulator::start_tls("127.0.0.1:0".parse().unwrap(), config, identity)
        .await
        .unwrap();
    assert!(emu.base_url.starts_with("https://127.0.0.1:"));
    let ca = emu.ca_pem().unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----") && !ca.contains("PRIVATE KEY"));
    let discovery = format!(
        "{}/{}/v2.0/.well-known/openid-configuration",
        emu.base_url,
        emu.state.config().tenant_id
    );

    // A client that does not trust the CA is refused the handshake...
    let untrusting = reqwest::Client::new();
    assert!(untrusting.get(&discovery).send().await.is_err());
    // ...one that does, over both names, gets https endpoints back.
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let localhost = discovery.replace("127.0.0.1", "localhost");
    for url in [&discovery, &localhost] {
        let v: Value = trusting
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://"));
    }
    emu.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entra_authority_documents_name_the_emulator() {
    let h = Harness::start().await;
    let c = h.emu.state.config().clone();
    let base = &h.emu.base_url;
    let tenant = &c.tenant_id;
    let r = h
        .http
        .get(h.url(&format!("/{tenant}/v2.0/.well-known/openid-configuration")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["issuer"], format!("{base}/{tenant}/v2.0"));
    assert_eq!(
        v["authorization_endpoint"],
        format!("{base}/{tenant}/oauth2/v2.0/authorize")
    );
    assert_eq!(v["token_endpoint"], h.emu.state.token_url());
    assert_eq!(v["jwks_uri"], h.emu.state.jwks_url());

    let r = h
        .http
        .get(h.url("/someone-else/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(v["error_description"]
        .as_str()
        .unwrap()
        .contains("someone-else"));

    let v: Value = h
        .http
        .get(h.url("/common/discovery/instance?api-version=1.1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["tenant_discovery_endpoint"],
        format!("{base}/{tenant}/v2.0/.well-known/openid-configuration")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_in_headers_and_inner_error() {
    let h = Harness::start().await;
    let r = h
        .http
        .get(h.url("/v1.0/communications/calls/no-such-call"))
        .bearer_auth(&h.token)
        .header("client-request-id", "c0ffee00-1111-2222-3333-444455556666")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let headers = r.headers().clone();
    assert_eq!(
        headers["content-type"],
        "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false"
    );
    assert_eq!(
        headers["client-request-id"],
        "c0ffee00-1111-2222-3333-444455556666"
    );
    let v: Value = r.json().await.unwrap();
    let inner = &v["error"]["innerError"];
    assert_eq!(
        inner["client-request-id"],
        "c0ffee00-1111-2222-3333-444455556666"
    );
    assert_eq!(inner["request-id"], headers["request-id"].to_str().unwrap());

    // Without one, nothing is invented; request-id is always there.
    let r = h
        .http
        .get(h.url("/v1.0/communications/calls"))
        .bearer_auth(&h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("client-request-id").is_none());
    assert!(r.headers().get("request-id").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sdk_call_route_answers() {
    let h = Harness::start().await;
    let stop_hash = json!({"steps": [{"type": "pause", "ms": 200}, {"type": "press", "digit": "#", "ms": 120}, {"type": "silence"}]});
    for (label, collection) in [
        ("v1.0", "/v1.0/communications/calls"),
        ("v1.0 app", "/v1.0/app/calls"),
        ("beta", "/beta/communications/calls"),
        ("beta app", "/beta/app/calls"),
        // The Python SDK's base URL ends with `/`, so it sends `//`.
        ("double slash", "/v1.0//communications/calls"),
    ] {
        let r = h
            .post(
                collection,
                &json!({"callbackUri": h.callback, "voxcapScenario": stop_hash}),
            )
            .await;
        assert_eq!(r.status(), 201, "{label}: create");
        let location = r.headers()["location"].to_str().unwrap().to_string();
        let call = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            location.ends_with(&format!("{}/{call}", collection.replace("//", "/"))),
            "{label}: Location {location}"
        );
        let item = format!("{collection}/{call}");
        let get = |path: String| h.http.get(h.url(&path)).bearer_auth(&h.token).send();
        assert_eq!(get(item.clone()).await.unwrap().status(), 200, "{label}");
        let listed: Value = get(collection.to_string())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            listed["value"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == call.as_str()),
            "{label}: list"
        );
        let action = if collection.starts_with("/beta") {
            "record"
        } else {
            "recordResponse"
        };
        let r = h
            .post(
                &format!("{item}/{action}"),
                &json!({"stopTones": ["#"], "playBeep": false}),
            )
            .await;
        assert!(r.status().is_success(), "{label}: {action}");
        let op = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        h.completion(&op).await;
        let ops: Value = get(format!("{item}/operations"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        // The legacy form names the operation only in `@odata.id`.
        let listed_op = &ops["value"][0];
        let names_it = listed_op["id"] == op.as_str()
            || listed_op["@odata.id"]
                .as_str()
                .is_some_and(|p| p.ends_with(&norm(&op)));
        assert!(names_it, "{label}: operations {ops}");
        assert_eq!(
            get(format!("{item}/operations/{op}"))
                .await
                .unwrap()
                .status(),
            200
        );
        let r = h
            .http
            .delete(h.url(&item))
            .bearer_auth(&h.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{label}: delete");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_paths_use_the_documented_id_forms() {
    let h = Harness::start().await;
    let call = h
        .create_call(Some(
            json!({"steps": [{"type": "press", "digit": "#", "ms": 120}, {"type": "silence"}]}),
        ))
        .await;
    let (op, _) = start_record(&h, &call, &json!({"stopTones": ["#"]})).await;
    let done = h.completion(&op).await;
    // Operation paths: upper-case dash-less ids; resourceData.id as posted.
    assert_eq!(
        done["resourceUrl"],
        format!(
            "/communications/calls/{}/operations/{}",
            norm(&call),
            norm(&op)
        )
    );
    assert_eq!(done["resourceData"]["id"], op.as_str());
    // Call-state paths: the call's lower-case GUID, as the docs show.
    let state = h
        .all_entries()
        .into_iter()
        .find(|n| n["resourceData"]["@odata.type"] == "#microsoft.graph.call")
        .expect("a call-state notification");
    assert_eq!(
        state["resourceUrl"],
        format!("/communications/calls/{call}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_while_recording_announces_the_location_early_and_grows() {
    // Slow enough (a 2.5 s recording in 0.5 s) that the download starts
    // while the caller is still speaking.
    let h = Harness::with(|c| c.time_scale = 0.2).await;
    let call = h
        .create_call(Some(json!({"steps": [
            {"type": "voice", "ms": 2000},
            {"type": "press", "digit": "#", "ms": 120},
            {"type": "silence"}
        ]})))
        .await;
    let r = h
        .post(
            &format!("/beta/app/calls/{call}/record"),
            &json!({"streamWhileRecording": true, "stopTones": ["#"], "playBeep": false, "maxRecordDurationInSeconds": 10}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let op = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let early = loop {
        let found = h.all_entries().into_iter().find(|n| {
            n["changeType"] == "updated"
                && resource_path(n).is_some_and(|p| norm(p).ends_with(&norm(&op)))
        });
        if let Some(n) = found {
            break n;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    };
    assert!(
        h.completions(&op).is_empty(),
        "the location comes before the completion"
    );
    let d = &early["resourceData"];
    assert_eq!(d["status"], "running");
    let location = d["recordResourceLocation"].as_str().unwrap();
    let token = d["recordResourceAccessToken"].as_str().unwrap();

    let r = h.download(location, token).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["accept-ranges"], "none", "served as it grows");
    let streamed = r.bytes().await.unwrap();
    // The stream's header cannot know the length; the audio is all there.
    assert_eq!(&streamed[4..8], &[0xFF; 4]);
    assert_eq!(&streamed[40..44], &[0xFF; 4]);

    let done = h.completion(&op).await;
    let dd = &done["resourceData"];
    assert_eq!(dd["recordResourceLocation"], location);
    assert_eq!(dd["completionReason"], "stopToneDetected");
    // After the end: the finished file, true sizes, ranges honoured.
    let whole = h.download(location, token).await.bytes().await.unwrap();
    assert_eq!(whole.len(), streamed.len());
    assert_eq!(&whole[44..], &streamed[44..]);
    assert!(
        (wav_seconds(&whole) - 2.08).abs() < 0.01,
        "2 s + 80 ms of tone"
    );
}

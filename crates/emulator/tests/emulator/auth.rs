//! Auth: the token endpoint, the OpenID configuration and JWKS, app-token
//! checks on the Graph endpoints, and key rotation.

use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoint_accepts_client_credentials_and_rejects_bad_ones() {
    let h = Harness::start().await;
    let c = h.emu.state.config().clone();
    let url = h.emu.state.token_url();
    let ok = [
        ("grant_type", "client_credentials"),
        ("client_id", c.client_id.as_str()),
        ("client_secret", c.client_secret.as_str()),
        ("scope", "https://graph.microsoft.com/.default"),
    ];
    let r = h.http.post(&url).form(&ok).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["expires_in"].as_u64().unwrap() > 3000);
    assert!(!v["access_token"].as_str().unwrap().is_empty());

    let cases: [(&str, &str, &str, u16, &str); 4] = [
        ("secret", "client_secret", "wrong", 401, "invalid_client"),
        (
            "client",
            "client_id",
            "someone-else",
            400,
            "unauthorized_client",
        ),
        (
            "grant",
            "grant_type",
            "password",
            400,
            "unsupported_grant_type",
        ),
        ("scope", "scope", "User.Read", 400, "invalid_scope"),
    ];
    for (label, field, value, status, code) in cases {
        let form: Vec<(&str, &str)> = ok
            .iter()
            .map(|&(k, v)| if k == field { (k, value) } else { (k, v) })
            .collect();
        let r = h.http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(r.status(), status, "case {label}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "case {label}");
    }
    let r = h
        .http
        .post(h.url("/not-the-tenant/oauth2/v2.0/token"))
        .form(&ok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_configuration_is_served_at_both_paths_with_the_signing_kid() {
    let h = Harness::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/v1/.well-known/OpenIdConfiguration",
    ] {
        let v: Value = h
            .http
            .get(h.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["issuer"], "https://graph.microsoft.com", "{path}");
        let jwks: Value = h
            .http
            .get(v["jwks_uri"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(jwks["keys"][0]["kid"], h.emu.state.key().kid());
        assert_eq!(jwks["keys"][0]["kty"], "RSA");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_endpoints_need_an_app_token_and_a_known_call() {
    let h = Harness::start().await;
    let body = record_body(5, 5, 5, "ctx");
    for token in [None, Some("not-a-token")] {
        let mut req = h
            .http
            .post(h.url("/v1.0/communications/calls"))
            .json(&json!({"callbackUri": h.callback}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "token {token:?}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "InvalidAuthenticationToken");
    }
    let r = h
        .post(
            "/v1.0/communications/calls/57dab8b1-894c-409a-b240-bd8beae78896/recordResponse",
            &body,
        )
        .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("57dab8b1"));
    assert!(v["error"]["innerError"]["request-id"].is_string());
}

/// After a key rotation, notifications carry a new kid that the bot's cached
/// JWKS lacks; refetching the JWKS finds it (and the old key stays listed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_changes_the_kid_and_a_refetch_verifies() {
    let h = Harness::start().await;
    let old = h.emu.state.key().kid().to_string();
    let r = h
        .http
        .post(h.url("/_emulator/rotate-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let new = r.json::<Value>().await.unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    let jwks: Value = h
        .http
        .get(h.emu.state.jwks_url())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new.as_str(), old.as_str()]);
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "rotated")).await;
    h.completion(&op).await;
    assert!(h.inbox.lock().unwrap().jwks_refreshes >= 1);
}

/// The request log shows what a client sent, never a secret: app tokens by
/// serial, recording tokens by recording, forms without the client secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_log_records_requests_without_secrets() {
    use voxcap_emulator::Credential;
    let h = Harness::start().await;
    let call = h.create_call(None).await;
    let (op, _) = start_record(&h, &call, &record_body(5, 2, 5, "logged")).await;
    let n = h.completion(&op).await;
    let loc = n["resourceData"]["recordingLocation"].as_str().unwrap();
    let tok = n["resourceData"]["recordingAccessToken"].as_str().unwrap();
    assert_eq!(h.download(loc, tok).await.status(), 200);
    let log = h.emu.requests();
    let token_req = log
        .iter()
        .find(|r| r.is("POST", "/oauth2/v2.0/token"))
        .expect("token request logged");
    let form = token_req.body.as_ref().unwrap();
    assert_eq!(form["grant_type"], "client_credentials");
    assert_eq!(form["client_secret"], "<redacted>");
    let record = log
        .iter()
        .find(|r| r.is("POST", "/recordResponse"))
        .expect("recordResponse logged");
    assert_eq!(record.credential, Credential::AppToken { serial: 1 });
    assert_eq!(record.body.as_ref().unwrap()["clientContext"], "logged");
    assert_eq!(record.header("content-type"), Some("application/json"));
    let get = log
        .iter()
        .find(|r| r.is("GET", "/recordings/") || r.path.starts_with("/recordings/"))
        .unwrap();
    let rec_id = loc.rsplit('/').next().unwrap();
    assert_eq!(
        get.credential,
        Credential::RecordingToken {
            recording: rec_id.to_string()
        }
    );
    let text = format!("{log:?}");
    for secret in h.emu.state.issued_secrets() {
        assert!(!text.contains(&secret), "a secret is in the request log");
    }
    assert!(!text.contains(&h.emu.state.config().client_secret));
    // Revoked tokens keep their serial in the log and are refused.
    h.emu.state.revoke_app_tokens();
    let r = h
        .post(
            &format!("/v1.0/communications/calls/{call}/recordResponse"),
            &record_body(5, 2, 5, "x"),
        )
        .await;
    assert_eq!(r.status(), 401);
    let last = h.emu.requests().pop().unwrap();
    assert_eq!(last.credential, Credential::AppToken { serial: 1 });
}

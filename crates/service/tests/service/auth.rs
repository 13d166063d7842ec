//! Keys: no key, a wrong key, a malformed header and a revoked key get 401
//! `application/problem+json` on every route (the unknown one too); both
//! rotated keys are accepted until one is removed.

use reqwest::Method;
use voxcap_service::ApiKeys;

use crate::harness::{every_route, Harness, KEY, OLD_KEY};

async fn status_with(
    h: &Harness,
    method: &Method,
    path: &str,
    auth: Option<&str>,
) -> (u16, String) {
    let mut r = h.http.request(method.clone(), h.url(path));
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    if *method == Method::POST {
        r = r.header("content-type", "application/json").body("{}");
    }
    let resp = r.send().await.unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (resp.status().as_u16(), ct)
}

#[tokio::test]
async fn no_wrong_or_revoked_key_gets_401_on_every_route() {
    let h = Harness::start().await;
    let id = "0123456789abcdef0123456789abcdef";
    let old = format!("Bearer {OLD_KEY}");
    let cases: [(&str, Option<&str>); 5] = [
        ("no key", None),
        ("wrong key", Some("Bearer test-key-wrong-0123456789")),
        ("basic scheme", Some("Basic dGVzdDp0ZXN0")),
        ("empty bearer", Some("Bearer ")),
        ("key without scheme", Some(KEY)),
    ];
    for (method, path) in every_route(id) {
        for (what, auth) in &cases {
            let (status, ct) = status_with(&h, &method, &path, *auth).await;
            assert_eq!(status, 401, "{what}: {method} {path}");
            assert_eq!(ct, "application/problem+json", "{what}: {method} {path}");
        }
        // The previous key is still active (rotation).
        let (status, _) = status_with(&h, &method, &path, Some(&old)).await;
        assert_ne!(status, 401, "old key: {method} {path}");
    }
    // Revoke the previous key: refused from the next request on.
    h.service.replace_keys(ApiKeys::from_list(KEY).unwrap());
    for (method, path) in every_route(id) {
        let (status, ct) = status_with(&h, &method, &path, Some(&old)).await;
        assert_eq!(
            (status, ct.as_str()),
            (401, "application/problem+json"),
            "revoked: {method} {path}"
        );
        let (status, _) = status_with(&h, &method, &path, Some(&format!("bearer {KEY}"))).await;
        assert_ne!(status, 401, "current key: {method} {path}");
    }
    h.stop().await;
}

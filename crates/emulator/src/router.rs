//! The router: every route of the emulator, behind the layer that writes
//! the request log.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceExt;

use crate::error::{ApiError, RequestIds, REQUEST_IDS};
use crate::state::EmulatorState;
use crate::{auth, calls, control, download, record};

/// Builds the router over `state`. Routes:
/// - `/v1.0` and `/beta`, under `/communications/calls` and the deprecated
///   `/app/calls` alike: `POST|GET` the collection, `GET|DELETE .../{id}`,
///   `POST .../{id}/recordResponse`, `POST .../{id}/updateRecordingStatus`,
///   `GET .../{id}/operations` and `.../{id}/operations/{op}`;
/// - `/beta` only: legacy `POST /app/calls/{id}/record`,
///   `/communications/calls/{id}/record` and
///   `/applications/{app}/calls/{id}/record`;
/// - `GET /recordings/{id}`: the recording host;
/// - `POST /{tenant}/oauth2/v2.0/token`, the Entra authority's
///   `GET /{tenant}/v2.0/.well-known/openid-configuration` and
///   `GET /common/discovery/instance`;
/// - `GET /.well-known/openid-configuration`,
///   `/v1/.well-known/OpenIdConfiguration`, `/v1/.well-known/keys`;
/// - `/_emulator/faults` (GET, PUT), `/_emulator/scenarios/{name}` (PUT),
///   `/_emulator/calls/{id}` (GET), `/_emulator/stats` (GET),
///   `/_emulator/fallbacks` (GET, PUT), `/_emulator/rotate-key` (POST),
///   `/_emulator/revoke-tokens` (POST), `/_emulator/requests` (GET, the
///   request log).
///
/// Runs of `/` in a path count as one, as Graph treats them: the Python SDK
/// joins its base URL (which httpx ends with `/`) and `/communications/...`
/// into `/v1.0//communications/...`.
pub fn app(state: EmulatorState) -> Router {
    Router::new().fallback_service(routes(state).map_request(collapse_slashes))
}

fn collapse_slashes(mut req: Request) -> Request {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    if let Some(q) = uri.query() {
        path.push('?');
        path.push_str(q);
    }
    let mut parts = uri.clone().into_parts();
    if let Ok(pq) = path.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(u) = Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
    req
}

fn routes(state: EmulatorState) -> Router {
    let mut r = Router::new();
    // Every route the official v1.0 and beta SDKs generate for calls and
    // their recording actions, under both collections (Graph v1.0 has no
    // `/app`, but the deprecated path is still answered there).
    for v in ["/v1.0", "/beta"] {
        for coll in ["communications/calls", "app/calls"] {
            let base = format!("{v}/{coll}");
            r = r
                .route(&base, post(calls::create_call).get(calls::list_calls))
                .route(
                    &format!("{base}/{{id}}"),
                    get(calls::get_call).delete(calls::delete_call),
                )
                .route(
                    &format!("{base}/{{id}}/recordResponse"),
                    post(record::record_response),
                )
                .route(
                    &format!("{base}/{{id}}/updateRecordingStatus"),
                    post(record::update_recording_status),
                )
                .route(
                    &format!("{base}/{{id}}/operations"),
                    get(record::list_operations),
                )
                .route(
                    &format!("{base}/{{id}}/operations/{{op}}"),
                    get(record::get_operation),
                );
        }
    }
    r.route("/beta/app/calls/{id}/record", post(record::record_response))
        .route(
            "/beta/communications/calls/{id}/record",
            post(record::record_response),
        )
        .route(
            "/beta/applications/{app}/calls/{id}/record",
            post(record::legacy_record_by_app),
        )
        .route("/recordings/{id}", get(download::download))
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(auth::tenant_openid_config),
        )
        .route("/common/discovery/instance", get(auth::instance_discovery))
        .route(
            "/.well-known/openid-configuration",
            get(auth::openid_config),
        )
        .route(
            "/v1/.well-known/OpenIdConfiguration",
            get(auth::openid_config),
        )
        .route("/v1/.well-known/keys", get(auth::jwks))
        .route(
            "/_emulator/faults",
            get(control::get_faults).put(control::put_faults),
        )
        .route(
            "/_emulator/scenarios/{name}",
            axum::routing::put(control::put_scenario),
        )
        .route("/_emulator/calls/{id}", get(control::inspect_call))
        .route("/_emulator/stats", get(control::stats))
        .route(
            "/_emulator/fallbacks",
            get(control::get_fallbacks).put(control::put_fallbacks),
        )
        .route("/_emulator/rotate-key", post(control::rotate_key))
        .route("/_emulator/revoke-tokens", post(control::revoke_tokens))
        .route("/_emulator/requests", get(control::requests))
        .fallback(|uri: Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "UnknownRoute",
                format!("No emulated Graph endpoint at {}", uri.path()),
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Largest request body the emulator reads (axum's default body limit).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// Logs the request (see [`crate::request_log`]), then runs the route.
async fn log_request(State(st): State<EmulatorState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                format!(
                    "{} {}: the body could not be read within {MAX_BODY} bytes: {e}",
                    parts.method,
                    parts.uri.path()
                ),
            )
            .into_response()
        }
    };
    st.log_request(&parts.method, parts.uri.path(), &parts.headers, &bytes);
    let ids = RequestIds::new(parts.headers.get("client-request-id"));
    let graph_api =
        parts.uri.path().starts_with("/v1.0/") || parts.uri.path().starts_with("/beta/");
    let mut resp = REQUEST_IDS
        .scope(
            ids.clone(),
            next.run(Request::from_parts(parts, Body::from(bytes))),
        )
        .await;
    graph_headers(resp.headers_mut(), &ids, graph_api);
    resp
}

/// Graph's response conventions: `request-id` and the echoed
/// `client-request-id` on every answer, and on the Graph API paths the
/// OData-parameterised JSON content type Graph sends.
fn graph_headers(h: &mut HeaderMap, ids: &RequestIds, graph_api: bool) {
    if let Ok(v) = HeaderValue::from_str(&ids.request_id) {
        h.insert("request-id", v);
    }
    if let Some(v) = ids
        .client_request_id
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok())
    {
        h.insert("client-request-id", v);
    }
    let plain_json = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json");
    if graph_api && plain_json {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(GRAPH_JSON));
    }
}

/// The content type of Graph's JSON answers.
pub(crate) const GRAPH_JSON: &str =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false";

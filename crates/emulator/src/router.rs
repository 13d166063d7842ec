//! The router: every route of the emulator, behind the layer that writes
//! the request log.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::error::ApiError;
use crate::state::EmulatorState;
use crate::{auth, calls, control, download, record};

/// Builds the router over `state`. Routes:
/// - `/v1.0` and `/beta`: `POST /communications/calls`, `GET|DELETE
///   /communications/calls/{id}`, `POST .../{id}/recordResponse`, `POST
///   .../{id}/updateRecordingStatus`, `GET .../{id}/operations/{op}`, and
///   the deprecated `/app/calls/{id}/...` forms;
/// - `/beta` only: legacy `POST /app/calls/{id}/record` and
///   `/applications/{app}/calls/{id}/record`;
/// - `GET /recordings/{id}`: the recording host;
/// - `POST /{tenant}/oauth2/v2.0/token`;
/// - `GET /.well-known/openid-configuration`,
///   `/v1/.well-known/OpenIdConfiguration`, `/v1/.well-known/keys`;
/// - `/_emulator/faults` (GET, PUT), `/_emulator/scenarios/{name}` (PUT),
///   `/_emulator/calls/{id}` (GET), `/_emulator/stats` (GET),
///   `/_emulator/fallbacks` (GET, PUT), `/_emulator/rotate-key` (POST),
///   `/_emulator/revoke-tokens` (POST), `/_emulator/requests` (GET, the
///   request log).
pub fn app(state: EmulatorState) -> Router {
    let mut r = Router::new();
    for v in ["/v1.0", "/beta"] {
        r = r
            .route(
                &format!("{v}/communications/calls"),
                post(calls::create_call),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}"),
                get(calls::get_call).delete(calls::delete_call),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/recordResponse"),
                post(record::record_response),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/recordResponse"),
                post(record::record_response),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/updateRecordingStatus"),
                post(record::update_recording_status),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/updateRecordingStatus"),
                post(record::update_recording_status),
            )
            .route(
                &format!("{v}/communications/calls/{{id}}/operations/{{op}}"),
                get(record::get_operation),
            )
            .route(
                &format!("{v}/app/calls/{{id}}/operations/{{op}}"),
                get(record::get_operation),
            );
    }
    r.route("/beta/app/calls/{id}/record", post(record::record_response))
        .route(
            "/beta/applications/{app}/calls/{id}/record",
            post(record::legacy_record_by_app),
        )
        .route("/recordings/{id}", get(download::download))
        .route("/{tenant}/oauth2/v2.0/token", post(auth::token))
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
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

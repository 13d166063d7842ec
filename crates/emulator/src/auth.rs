//! Auth routes: the OAuth2 client-credentials token endpoint (Azure AD's
//! error bodies and AADSTS codes), the OpenID configuration at both paths,
//! and the JWKS.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::error::token_error;
use crate::state::{lock, EmulatorState, NOTIFICATION_ISSUER};
use crate::wire::TokenResponse;

pub(crate) async fn token(
    State(st): State<EmulatorState>,
    Path(tenant): Path<String>,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let c = &st.inner.config;
    let Ok(Form(f)) = form else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: the request body must be application/x-www-form-urlencoded".into(),
        );
    };
    if tenant != c.tenant_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!(
                "AADSTS90002: Tenant '{tenant}' not found; the emulator's test tenant is {}",
                c.tenant_id
            ),
        );
    }
    let field = |k: &str| f.get(k).map(String::as_str);
    if field("grant_type") != Some("client_credentials") {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "AADSTS70003: grant_type must be client_credentials, got {:?}",
                field("grant_type").unwrap_or("")
            ),
        );
    }
    if field("client_id") != Some(c.client_id.as_str()) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            format!(
                "AADSTS700016: Application with identifier '{}' was not found in tenant {}",
                field("client_id").unwrap_or(""),
                c.tenant_id
            ),
        );
    }
    if field("client_secret") != Some(c.client_secret.as_str()) {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.".into(),
        );
    }
    if !field("scope").is_some_and(|s| s.ends_with("/.default")) {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!(
                "AADSTS1002012: scope must be https://graph.microsoft.com/.default, got {:?}",
                field("scope").unwrap_or("")
            ),
        );
    }
    let as_string = lock(&st.inner.faults).faults.token_expires_in_as_string;
    let (access_token, lifetime) = st.issue_app_token();
    let mut body = serde_json::to_value(TokenResponse {
        token_type: "Bearer".into(),
        expires_in: lifetime,
        ext_expires_in: lifetime,
        access_token,
    })
    .unwrap_or(Value::Null);
    if as_string {
        body["expires_in"] = json!(lifetime.to_string());
    }
    Json(body).into_response()
}

pub(crate) async fn openid_config(State(st): State<EmulatorState>) -> Response {
    Json(json!({
        "issuer": NOTIFICATION_ISSUER,
        "jwks_uri": st.jwks_url(),
        "token_endpoint": st.token_url(),
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    }))
    .into_response()
}

pub(crate) async fn jwks(State(st): State<EmulatorState>) -> Response {
    Json(st.jwks()).into_response()
}

/// Entra's tenant discovery document
/// (`/{tenant}/v2.0/.well-known/openid-configuration`), what MSAL reads
/// before its first token request: it needs `authorization_endpoint` and a
/// `token_endpoint` whose path names the tenant, on the emulator's scheme.
pub(crate) async fn tenant_openid_config(
    State(st): State<EmulatorState>,
    Path(tenant): Path<String>,
) -> Response {
    let c = &st.inner.config;
    if tenant != c.tenant_id {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            format!(
                "AADSTS90002: Tenant '{tenant}' not found; the emulator's test tenant is {}",
                c.tenant_id
            ),
        );
    }
    let authority = format!("{}/{tenant}", c.base_url);
    Json(json!({
        "issuer": format!("{authority}/v2.0"),
        "authorization_endpoint": format!("{authority}/oauth2/v2.0/authorize"),
        "token_endpoint": st.token_url(),
        "jwks_uri": st.jwks_url(),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "WW",
        "cloud_instance_name": "microsoftonline.com",
    }))
    .into_response()
}

/// Entra's instance discovery (`/common/discovery/instance`), which MSAL.NET
/// and MSAL.js may ask of the authority host (MSAL Python asks
/// login.microsoftonline.com instead, so a bot turns it off there): the
/// emulator vouches for itself as its only alias.
pub(crate) async fn instance_discovery(State(st): State<EmulatorState>) -> Response {
    let c = &st.inner.config;
    let host = c
        .base_url
        .split_once("://")
        .map_or(c.base_url.as_str(), |(_, rest)| rest);
    Json(json!({
        "tenant_discovery_endpoint":
            format!("{}/{}/v2.0/.well-known/openid-configuration", c.base_url, c.tenant_id),
        "api-version": "1.1",
        "metadata": [{
            "preferred_network": host,
            "preferred_cache": host,
            "aliases": [host],
        }],
    }))
    .into_response()
}

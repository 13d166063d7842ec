//! Notification delivery: signing each batch as an RS256 JWT, POSTing it to
//! the call's callbackUri (or, when that gets no response, to each fallback
//! in turn), and building the notification bodies Graph sends.
//!
//! Invariants: every target of one batch gets byte-identical bodies under
//! the same JWT; an HTTP error status is an answer and is never rerouted;
//! URLs are logged without their query.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use serde_json::{json, Value};

use crate::error::StateError;
use crate::faults::{Faults, NotificationJwt};
use crate::flavor::Flavor;
use crate::request_log::{self, Delivery, DeliveryTarget};
use crate::signing::NotificationClaims;
use crate::signing::{self, EmulatorKey};
use crate::state::{lock, EmulatorState, NOTIFICATION_ISSUER};
use crate::wire::{
    self, CommsNotification, CommsNotifications, CompletionReason, LegacyRecordOperation,
    RecordOperation, ResultInfo,
};

/// How the JWT of a notification batch is made: the issuer (`None` is
/// Graph's) and the JWT fault, if any.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Signature<'a> {
    pub(crate) issuer: Option<&'a str>,
    pub(crate) jwt: NotificationJwt,
}

impl<'a> Signature<'a> {
    /// The signature the faults of a call ask for.
    pub(crate) fn of(faults: &'a Faults) -> Self {
        Signature {
            issuer: faults.notification_issuer.as_deref(),
            jwt: faults.notification_jwt.unwrap_or_default(),
        }
    }
}

impl EmulatorState {
    pub(crate) async fn deliver<T: serde::Serialize>(&self, callback: &str, body: &T) {
        self.deliver_as(Signature::default(), callback, body).await;
    }

    /// The JWT of one notification batch, made as `sig` says; `None` when
    /// the fault is a missing `Authorization` header.
    fn notification_jwt(&self, sig: Signature<'_>) -> Option<String> {
        let c = &self.inner.config;
        let now = wire::unix_now();
        let iat = if sig.jwt == NotificationJwt::Expired {
            now.saturating_sub(7200)
        } else {
            now
        };
        let claims = NotificationClaims {
            aud: if sig.jwt == NotificationJwt::WrongAudience {
                "00000000-0000-0000-0000-00000000a0d1".into()
            } else {
                c.client_id.clone()
            },
            iss: sig.issuer.unwrap_or(NOTIFICATION_ISSUER).into(),
            tid: c.tenant_id.clone(),
            iat,
            nbf: iat.saturating_sub(300),
            exp: iat + 3600,
            appid: "00000003-0000-0000-c000-000000000000".into(),
        };
        let unpublished = || match EmulatorKey::unpublished() {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::warn!(error = %e, "no unpublished key for a forged JWT");
                None
            }
        };
        let jwt = match sig.jwt {
            NotificationJwt::Missing => return None,
            NotificationJwt::Unsigned => signing::unsigned(&claims),
            NotificationJwt::Forged => unpublished()?.sign_with_kid(&claims, self.key().kid()),
            NotificationJwt::UnknownKid => unpublished()?.sign(&claims),
            NotificationJwt::Valid | NotificationJwt::Expired | NotificationJwt::WrongAudience => {
                self.key().sign(&claims)
            }
        };
        self.inner.issued.push(jwt.clone());
        Some(jwt)
    }

    /// POSTs `body` to `url` once, signed as `jwt` says, outside any call,
    /// and returns the status of the answer (`None`: no answer). For tests
    /// of a webhook's checks; counted in [`Self::deliveries`] only.
    pub async fn send_notification(
        &self,
        url: &str,
        body: &Value,
        jwt: NotificationJwt,
    ) -> Option<u16> {
        let sig = Signature { issuer: None, jwt };
        let token = self.notification_jwt(sig);
        let body = Bytes::from(serde_json::to_vec(body).unwrap_or_default());
        match self
            .post_notification(url, token.as_deref(), &body, DeliveryTarget::Callback)
            .await
        {
            Attempt::Accepted(s) | Attempt::Refused(s) => Some(s.as_u16()),
            Attempt::Unreachable(_) | Attempt::Broken(_) => None,
        }
    }

    /// Delivers a notification batch signed as `sig` says.
    /// When the callbackUri cannot be reached at all, the same JWT and body
    /// go to each notification fallback in turn, as a load balancer routes
    /// around a dead instance; an HTTP error status is an answer, so it is
    /// never rerouted.
    pub(crate) async fn deliver_as<T: serde::Serialize>(
        &self,
        sig: Signature<'_>,
        callback: &str,
        body: &T,
    ) {
        let jwt = self.notification_jwt(sig);
        let jwt = jwt.as_deref();
        tracing::debug!(callback = %callback.split('?').next().unwrap_or(""), "delivering a notification batch");
        // Serialised once so that every target gets byte-identical bodies.
        let body = match serde_json::to_vec(body) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "notification batch could not be serialised");
                return;
            }
        };
        match self
            .post_notification(callback, jwt, &body, DeliveryTarget::Callback)
            .await
        {
            Attempt::Accepted(_) => {
                self.inner.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Attempt::Refused(status) => {
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%status, "notification to the callback was refused");
            }
            // No response at all: a refused or failed connect, a timeout, or
            // a pooled connection to an instance that died. A load balancer
            // would retry elsewhere; receivers must drop the duplicate that
            // results if the dead peer had processed it (Graph does retry).
            Attempt::Unreachable(e) | Attempt::Broken(e) => {
                tracing::warn!(error = %e.without_url(), "callback unreachable; trying the notification fallbacks");
                let fallbacks = lock(&self.inner.fallbacks).clone();
                for (i, url) in fallbacks.iter().enumerate() {
                    match self
                        .post_notification(url, jwt, &body, DeliveryTarget::Fallback(i))
                        .await
                    {
                        Attempt::Accepted(_) => {
                            self.inner.delivered.fetch_add(1, Ordering::Relaxed);
                            self.inner.rerouted.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Attempt::Refused(status) => {
                            tracing::warn!(fallback = i, %status, "notification fallback refused the batch");
                        }
                        Attempt::Unreachable(e) | Attempt::Broken(e) => {
                            tracing::warn!(fallback = i, error = %e.without_url(), "notification fallback failed");
                        }
                    }
                }
                self.inner.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One POST of a notification batch to `url`, logged as a delivery.
    async fn post_notification(
        &self,
        url: &str,
        jwt: Option<&str>,
        body: &Bytes,
        target: DeliveryTarget,
    ) -> Attempt {
        let at = std::time::SystemTime::now();
        let mut req = self
            .inner
            .http
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
        if let Some(jwt) = jwt {
            req = req.bearer_auth(jwt);
        }
        let attempt = match req.send().await {
            Ok(r) if r.status().is_success() => Attempt::Accepted(r.status()),
            Ok(r) => Attempt::Refused(r.status()),
            // `send` returns once the status line is in, so a timeout here
            // means no response at all.
            Err(e) if e.is_connect() || e.is_timeout() => Attempt::Unreachable(e),
            Err(e) => Attempt::Broken(e),
        };
        let status = match &attempt {
            Attempt::Accepted(s) | Attempt::Refused(s) => Some(s.as_u16()),
            Attempt::Unreachable(_) | Attempt::Broken(_) => None,
        };
        self.inner.deliveries.push(Delivery {
            at,
            target,
            status,
            resources: request_log::resource_types(body),
        });
        attempt
    }

    /// Sets the notification fallbacks: when a notification batch gets no
    /// response from its call's callbackUri (connection refused, connect
    /// error, a timeout, or a connection that broke before any response,
    /// such as a pooled one to a process that died; never an HTTP error
    /// status), the same
    /// JWT and body are POSTed to each of `urls` in order until one answers
    /// 2xx, and `notificationsRerouted` in `/_emulator/stats` counts it.
    /// An empty list (the default) turns rerouting off. Each URL must be an
    /// absolute `http` or `https` URL; otherwise nothing changes and the
    /// error names the URL. Also `PUT /_emulator/fallbacks`.
    pub fn set_notification_fallbacks(&self, urls: Vec<String>) -> Result<(), StateError> {
        for url in &urls {
            check_fallback(url).map_err(|cause| StateError::Fallback {
                url: url.clone(),
                cause,
            })?;
        }
        *lock(&self.inner.fallbacks) = urls;
        Ok(())
    }

    /// The notification fallbacks, in the order they are tried.
    pub fn notification_fallbacks(&self) -> Vec<String> {
        lock(&self.inner.fallbacks).clone()
    }
}

/// What one POST of a notification batch came to.
pub(crate) enum Attempt {
    /// A 2xx answer.
    Accepted(StatusCode),
    /// An answer with another status.
    Refused(StatusCode),
    /// No answer: the target cannot be reached (refused, connect error, or a
    /// timeout before the status line). Only this is rerouted.
    Unreachable(reqwest::Error),
    /// Any other failure (for example the connection closed mid-request).
    Broken(reqwest::Error),
}

/// Why `url` cannot be a notification fallback, if it cannot.
pub(crate) fn check_fallback(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not an absolute URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, got {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    Ok(())
}

pub(crate) fn result_info(reason: CompletionReason) -> ResultInfo {
    ResultInfo {
        odata_type: "#microsoft.graph.resultInfo".into(),
        code: reason.code(),
        subcode: reason.subcode(),
        message: reason.message().into(),
    }
}

/// The finished operation as it appears in `resourceData`.
pub(crate) fn completed_resource(
    flavor: Flavor,
    call_id: &str,
    op_id: &str,
    client_context: Option<String>,
    reason: CompletionReason,
    recording: Option<(String, String)>,
) -> Value {
    let path = flavor.operation_path(call_id, op_id);
    let etag = Some(format!("W/\"{}\"", 50_000 + (wire::unix_now() % 10_000)));
    let (loc, token) = match recording {
        Some((l, t)) => (Some(l), Some(t)),
        None => (None, None),
    };
    let v = match flavor {
        Flavor::Legacy { .. } => serde_json::to_value(LegacyRecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: Some(path),
            odata_etag: etag,
            id: None,
            status: reason.status(),
            created_date_time: None,
            last_action_date_time: None,
            client_context,
            record_resource_location: loc,
            record_resource_access_token: token,
            completion_reason: Some(reason.wire_name().into()),
            result_info: Some(result_info(reason)),
        }),
        _ => serde_json::to_value(RecordOperation {
            odata_type: "#microsoft.graph.recordOperation",
            odata_id: Some(path),
            odata_etag: etag,
            id: op_id.to_string(),
            status: reason.status(),
            completion_reason: flavor.beta().then(|| Some(reason.wire_name().into())),
            result_info: Some(result_info(reason)),
            recording_location: loc,
            recording_access_token: token,
            client_context,
        }),
    };
    v.unwrap_or(Value::Null)
}

pub(crate) fn operation_notification(
    flavor: Flavor,
    call_id: &str,
    op_id: &str,
    data: Value,
) -> CommsNotification {
    let path = flavor.operation_path(call_id, op_id);
    let legacy = flavor.is_legacy();
    CommsNotification {
        odata_type: (!legacy).then_some("#microsoft.graph.commsNotification"),
        change_type: "deleted",
        resource_url: (!legacy).then(|| path.clone()),
        resource: legacy.then_some(path),
        resource_data: data,
    }
}

pub(crate) fn call_state_notification(call_id: &str, state: &str) -> CommsNotification {
    CommsNotification {
        odata_type: Some("#microsoft.graph.commsNotification"),
        change_type: if state == "terminated" {
            "deleted"
        } else {
            "updated"
        },
        resource_url: Some(format!("/communications/calls/{call_id}")),
        resource: None,
        resource_data: json!({
            "@odata.type": "#microsoft.graph.call",
            "@odata.id": format!("/communications/calls/{call_id}"),
            "id": call_id,
            "state": state,
        }),
    }
}

pub(crate) fn batch(value: Vec<CommsNotification>, legacy: bool) -> CommsNotifications {
    CommsNotifications {
        odata_type: (!legacy).then_some("#microsoft.graph.commsNotifications"),
        value,
    }
}

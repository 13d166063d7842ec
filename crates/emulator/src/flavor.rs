//! Which API surface a request came through (v1.0, beta, the deprecated
//! `/app` path, legacy `record`); it decides the wire form of the answer and
//! of the notifications.

use axum::http::Uri;

/// Which API surface a request came through; it decides the wire form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// `/v1.0/communications/calls/{id}/recordResponse`.
    V1,
    /// `/beta/communications/calls/{id}/recordResponse`: adds `completionReason`.
    Beta,
    /// The deprecated `/app/calls/{id}/recordResponse` path.
    AppPath { beta: bool },
    /// Legacy beta `record`: `202`, `resource`, `recordResource*` names;
    /// `app` when posted under `/app/calls` (or `/applications/...`) rather
    /// than `/communications/calls`.
    Legacy { app: bool },
}

impl Flavor {
    pub(crate) fn of(uri: &Uri) -> Self {
        let p = uri.path();
        let beta = p.starts_with("/beta/");
        if p.ends_with("/record") {
            Flavor::Legacy {
                app: !p.contains("/communications/calls/"),
            }
        } else if p.contains("/app/calls/") {
            Flavor::AppPath { beta }
        } else if beta {
            Flavor::Beta
        } else {
            Flavor::V1
        }
    }

    pub(crate) fn beta(self) -> bool {
        matches!(
            self,
            Flavor::Beta | Flavor::AppPath { beta: true } | Flavor::Legacy { .. }
        )
    }

    pub(crate) fn is_legacy(self) -> bool {
        matches!(self, Flavor::Legacy { .. })
    }

    pub(crate) fn version(self) -> &'static str {
        if self.beta() {
            "beta"
        } else {
            "v1.0"
        }
    }

    pub(crate) fn resource_prefix(self) -> &'static str {
        match self {
            Flavor::V1 | Flavor::Beta | Flavor::Legacy { app: false } => "/communications/calls/",
            Flavor::AppPath { .. } | Flavor::Legacy { app: true } => "/app/calls/",
        }
    }

    /// An operation's resource path in notifications: the upper-case,
    /// dash-less ids Graph's examples show.
    pub(crate) fn operation_path(self, call_id: &str, op_id: &str) -> String {
        format!(
            "{}{}/operations/{}",
            self.resource_prefix(),
            crate::wire::upper_dashless(call_id),
            crate::wire::upper_dashless(op_id)
        )
    }
}

pub(crate) fn location(base_url: &str, flavor: Flavor, call: &str, op: &str) -> String {
    let prefix = match flavor {
        Flavor::AppPath { .. } | Flavor::Legacy { app: true } => "app/calls",
        _ => "communications/calls",
    };
    format!(
        "{}/{}/{prefix}/{call}/operations/{op}",
        base_url,
        flavor.version()
    )
}

//! Shared harness for the capture integration tests: a bot (tracker +
//! webhook) pointed at any Graph base URL, plus the in-test mock Graph.
//!
//! Everything a test needs from the fake Graph goes through URLs
//! (`graph_url`, `openid_url`) so the same helpers can drive
//! `voxcap-emulator` later.

#![allow(dead_code)]

pub mod mock_graph;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use voxcap_capture::client::RetryPolicy;
use voxcap_capture::webhook::{self, JwtConfig, NotificationAuth, WebhookState};
use voxcap_capture::{
    ClientCredentialsConfig, GraphClient, OperationTracker, Secret, TrackerConfig,
};

/// How the bot authenticates to Graph.
pub enum Credentials {
    /// A fixed bearer token.
    Static(&'static str),
    /// Client credentials against `{authority}/{tenant}/oauth2/v2.0/token`.
    ClientCredentials { authority: String, secret: String },
}

/// How the bot authenticates notifications.
pub enum Auth {
    /// JWT against this OpenID configuration, audience = app id.
    Jwt {
        openid_url: String,
        audience: String,
    },
    /// Loopback only, no verification.
    InsecureLoopback,
}

/// A bot: Graph client, tracker, and the webhook on 127.0.0.1:0.
pub struct Bot {
    pub client: GraphClient,
    pub tracker: OperationTracker,
    pub webhook_url: String,
    pub addr: SocketAddr,
}

/// A fast retry policy so throttling tests finish quickly (Retry-After still
/// honoured as sent).
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

/// Starts a bot against `graph_url`.
pub async fn start_bot(
    graph_url: &str,
    creds: Credentials,
    auth: Auth,
    config: TrackerConfig,
) -> Bot {
    let mut builder = GraphClient::builder()
        .base_url(graph_url)
        .retry_policy(fast_retry())
        .timeout(Duration::from_secs(20));
    builder = match creds {
        Credentials::Static(t) => builder.static_token(Secret::new(t)),
        Credentials::ClientCredentials { authority, secret } => {
            let mut c =
                ClientCredentialsConfig::new("tenant-1234", "client-5678", Secret::new(secret));
            c.authority = authority;
            builder.client_credentials(c)
        }
    };
    let client = builder.build().expect("graph client");
    let tracker = OperationTracker::new(client.clone(), config);
    let auth = match auth {
        Auth::Jwt {
            openid_url,
            audience,
        } => {
            let mut cfg = JwtConfig::new(audience);
            cfg.openid_config_url = openid_url;
            cfg.min_refetch_interval = Duration::from_secs(1);
            NotificationAuth::jwt(client.http().clone(), cfg)
        }
        Auth::InsecureLoopback => NotificationAuth::InsecureLoopbackOnly,
    };
    let state = WebhookState::new(auth, tracker.notification_sink());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        webhook::serve(listener, state, std::future::pending())
            .await
            .unwrap();
    });
    Bot {
        client,
        tracker,
        webhook_url: format!("http://{addr}{}", webhook::DEFAULT_CALLBACK_PATH),
        addr,
    }
}

/// A 16 kHz 16-bit mono WAV of `seconds`, distinct per `seed`.
pub fn wav(seconds: f64, seed: u64) -> Arc<Vec<u8>> {
    let n = voxcap_dsp::synth::samples_for(seconds, 16_000);
    let mut x = voxcap_dsp::synth::white_noise(seed, -30.0, n);
    let tone = voxcap_dsp::synth::sine(440.0 + seed as f64, -20.0, n, 16_000, 0.0);
    for (a, b) in x.iter_mut().zip(tone) {
        *a += b;
    }
    Arc::new(voxcap_dsp::synth::wav_pcm16_mono(&x, 16_000))
}

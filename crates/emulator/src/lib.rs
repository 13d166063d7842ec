//! voxcap-emulator: a local stand-in for the Microsoft Graph calls service.
//!
//! It serves recordResponse (v1.0, beta and the deprecated `/app` path), the
//! legacy beta `record`, `updateRecordingStatus`, the chunked recording
//! download, an OAuth2 client-credentials token endpoint and OpenID/JWKS
//! endpoints ([`server::app`]); it runs scripted callers ([`scenario`]) whose
//! recordings it renders ([`render`]) and whose completion reason it decides
//! by its own timer rules ([`timers`]); it signs notifications as RS256 JWTs ([`signing`]); and it
//! injects faults ([`faults`]). It serves plain http, or HTTPS with a CA
//! made at start-up ([`tls`], [`RunningEmulator::start_tls`]), so that
//! Microsoft's own SDKs accept it as Graph and as the Entra authority.
//!
//! Invariants: no dependency on voxcap-capture (its wire types are its own,
//! [`wire`], including the legacy forms); voxcap-dsp is used only to
//! *generate* audio, never to decide anything.

mod auth;
mod calls;
mod control;
pub mod download;
mod error;
pub mod faults;
mod flavor;
mod notify;
mod record;
pub mod render;
pub mod request_log;
mod router;
pub mod scenario;
pub mod server;
pub mod signing;
mod state;
mod stream;
pub mod timeline;
pub mod timers;
pub mod tls;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;

pub use download::DownloadCount;
pub use faults::{Faults, NotificationJwt, Throttle};
pub use request_log::{Credential, Delivery, DeliveryTarget, LoggedRequest};
pub use scenario::{Scenario, Step};
pub use server::{app, EmulatorConfig, EmulatorState};
pub use tls::{TlsError, TlsIdentity};
pub use wire::CompletionReason;

/// A failure to start or run the emulator.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The scenario file is unusable.
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    /// The state could not be built.
    #[error(transparent)]
    State(#[from] server::StateError),
    /// The TLS identity could not be made or its CA written.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The server stopped with an I/O error.
    #[error("emulator server on {addr} failed: {source}")]
    Serve {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// An emulator serving in the background, for tests and the CLI.
pub struct RunningEmulator {
    /// The bound address.
    pub addr: SocketAddr,
    /// `http://ADDR`, or `https://ADDR` when serving TLS.
    pub base_url: String,
    /// The app's state (for inspection).
    pub state: EmulatorState,
    tls: Option<TlsIdentity>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), std::io::Error>>,
}

impl RunningEmulator {
    /// Binds `listen` (port 0 picks a free port), fixes `config.base_url`
    /// to `http://` and the bound address, and serves in a background task.
    pub async fn start(listen: SocketAddr, config: EmulatorConfig) -> Result<Self, EmulatorError> {
        Self::start_with(listen, config, None).await
    }

    /// As [`RunningEmulator::start`], over HTTPS with `identity` (whose
    /// certificate should name the host clients use; see
    /// [`TlsIdentity::generate`]): `config.base_url` becomes `https://ADDR`.
    pub async fn start_tls(
        listen: SocketAddr,
        config: EmulatorConfig,
        identity: TlsIdentity,
    ) -> Result<Self, EmulatorError> {
        Self::start_with(listen, config, Some(identity)).await
    }

    async fn start_with(
        listen: SocketAddr,
        mut config: EmulatorConfig,
        identity: Option<TlsIdentity>,
    ) -> Result<Self, EmulatorError> {
        let bind_err = |source| EmulatorError::Bind {
            addr: listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let scheme = if identity.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        config.base_url = base_url.clone();
        let state = EmulatorState::new(config)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let router = app(state.clone());
        let stopped = async {
            let _ = rx.await;
        };
        let task = match &identity {
            None => tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
            }),
            Some(id) => {
                let listener = tls::TlsListener::new(listener, id).map_err(bind_err)?;
                tokio::spawn(async move {
                    axum::serve(listener, router)
                        .with_graceful_shutdown(stopped)
                        .await
                })
            }
        };
        Ok(RunningEmulator {
            addr,
            base_url,
            state,
            tls: identity,
            shutdown: Some(tx),
            task,
        })
    }

    /// The CA certificate (PEM) clients must trust, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TlsIdentity::ca_pem)
    }

    /// Every request the emulator received so far, oldest first, without
    /// secrets (see [`LoggedRequest`]).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.requests()
    }

    /// Every notification POST the emulator made so far, with the answer.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries()
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(mut self) -> Result<(), EmulatorError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let addr = self.addr;
        match (&mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(EmulatorError::Serve { addr, source }),
            Err(join) => Err(EmulatorError::Serve {
                addr,
                source: std::io::Error::other(join.to_string()),
            }),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningEmulator {
    /// What a bot author needs to point a bot at this emulator: base URL,
    /// tenant, client id and secret, token URL, OpenID configuration URL and
    /// JWKS URL, one per line.
    pub fn connection_info(&self) -> String {
        let st = &self.state;
        let c = st.config();
        let lines = [
            format!("  base URL:        {}", self.base_url),
            format!("  Graph v1.0:      {}/v1.0", self.base_url),
            format!("  Graph beta:      {}/beta", self.base_url),
            format!("  tenant:          {}", c.tenant_id),
            format!("  client id:       {}", c.client_id),
            format!("  client secret:   {}", c.client_secret),
            format!("  token URL:       {}", st.token_url()),
            "  scope:           https://graph.microsoft.com/.default".to_string(),
            format!("  OpenID config:   {}", st.openid_config_url()),
            format!("  JWKS URL:        {}", st.jwks_url()),
            format!(
                "  notification JWT: iss {}, aud {}",
                server::NOTIFICATION_ISSUER,
                c.client_id
            ),
        ];
        lines.join("\n")
    }
}

/// HTTPS for [`run_standalone`].
#[derive(Debug, Clone, Default)]
pub struct StandaloneTls {
    /// Where the CA's PEM is written; default
    /// `{temp dir}/voxcap-emulator-ca-{port}.pem`.
    pub ca_out: Option<PathBuf>,
    /// Names the server certificate carries besides `127.0.0.1`,
    /// `localhost` and the listen host (e.g. a container name).
    pub extra_names: Vec<String>,
}

/// Runs the emulator in real time on `listen` until ctrl-c, over HTTPS when
/// `tls` is given (a CA made at start-up, its PEM written to a file).
/// Once it listens, `announce` is handed the
/// [`RunningEmulator::connection_info`] text, plus the CA file's path under
/// TLS (the CLI prints it). `scenario` becomes the default scenario;
/// relative WAV paths in it are resolved from the current directory.
pub async fn run_standalone(
    listen: SocketAddr,
    scenario: Option<PathBuf>,
    tls: Option<StandaloneTls>,
    announce: impl FnOnce(&str),
) -> Result<(), EmulatorError> {
    let mut config = EmulatorConfig {
        time_scale: 1.0,
        ..EmulatorConfig::default()
    };
    if let Some(path) = scenario {
        config.default_scenario = Scenario::from_file(&path)?;
    }
    let Some(tls) = tls else {
        let emu = RunningEmulator::start(listen, config).await?;
        announce(&emu.connection_info());
        let _ = tokio::signal::ctrl_c().await;
        return emu.stop().await;
    };
    let mut names = tls.extra_names.clone();
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    let identity = TlsIdentity::generate(&names)?;
    let emu = RunningEmulator::start_tls(listen, config, identity.clone()).await?;
    let ca_out = tls.ca_out.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("voxcap-emulator-ca-{}.pem", emu.addr.port()))
    });
    identity.write_ca_pem(&ca_out)?;
    announce(&format!(
        "{}\n  CA certificate:  {} (trust it: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS)\n  TLS names:       {}",
        emu.connection_info(),
        ca_out.display(),
        identity.names().join(", ")
    ));
    let _ = tokio::signal::ctrl_c().await;
    emu.stop().await
}

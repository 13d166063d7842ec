//! HTTPS for the emulator: a throwaway CA and a server certificate made in
//! memory at start-up (rcgen), and the listener that serves the router over
//! rustls. The official SDKs refuse a plain-http authority (MSAL) or a
//! non-localhost http base URL (the Graph SDKs), so a bot tested unmodified
//! needs this; clients trust the CA through its PEM.
//!
//! Invariants: keys live only in memory and die with the process; the PEM
//! written out is the CA *certificate*, never a key; a slow or failed TLS
//! handshake never blocks other connections (each runs in its own task with
//! a deadline).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const ACCEPT_BACKLOG: usize = 64;

/// A failure to make or write the emulator's TLS identity.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not make a key or certificate.
    #[error("generating the emulator's {what}: {source}")]
    Generate {
        /// Which item (CA, server certificate).
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A subject name is not a DNS name or IP address.
    #[error("TLS subject name {name:?}: {source}")]
    Name {
        /// The name as given.
        name: String,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// rustls refused the generated certificate.
    #[error("the TLS server configuration was refused: {0}")]
    Config(#[source] rustls::Error),
    /// Writing the CA's PEM failed.
    #[error("writing the emulator CA certificate to {path}: {source}")]
    Write {
        /// The target file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The emulator's TLS identity: a CA made for this process, and a server
/// certificate it signed for the given names.
#[derive(Clone)]
pub struct TlsIdentity {
    ca_pem: String,
    names: Vec<String>,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The server key is inside `config`: never shown.
        f.debug_struct("TlsIdentity")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Makes a CA and a server certificate whose subject alternative names
    /// are `127.0.0.1`, `localhost` and `extra_names` (DNS names or IP
    /// addresses, e.g. the listen host or a container name).
    pub fn generate(extra_names: &[String]) -> Result<Self, TlsError> {
        let gen = |what| move |source| TlsError::Generate { what, source };
        let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        for n in extra_names {
            if !n.is_empty() && !names.contains(n) {
                names.push(n.clone());
            }
        }

        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "voxcap emulator test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(gen("CA key"))?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(gen("CA certificate"))?;

        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(gen("params"))?;
        for n in &names {
            let one = CertificateParams::new(vec![n.clone()]).map_err(|source| TlsError::Name {
                name: n.clone(),
                source,
            })?;
            params.subject_alt_names.extend(one.subject_alt_names);
        }
        params
            .distinguished_name
            .push(DnType::CommonName, "voxcap emulator");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(gen("server key"))?;
        let cert = params
            .signed_by(&key, &ca)
            .map_err(gen("server certificate"))?;

        let chain = vec![cert.der().clone(), CertificateDer::from(ca.der().to_vec())];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(TlsError::Config)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsIdentity {
            ca_pem: ca.pem(),
            names,
            config: Arc::new(config),
        })
    }

    /// The CA certificate, PEM-encoded: what clients trust
    /// (`SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE`, `NODE_EXTRA_CA_CERTS`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate's subject alternative names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Writes the CA's PEM to `path` atomically (a temp file beside it,
    /// synced, then renamed), so a client never reads half a certificate.
    pub fn write_ca_pem(&self, path: &Path) -> Result<(), TlsError> {
        use std::io::Write;
        let err = |source| TlsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.ca_pem.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })
    }
}

/// A TCP listener whose connections arrive TLS-handshaken, for `axum::serve`.
pub(crate) struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, identity: &TlsIdentity) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(identity.config.clone());
        let (tx, rx) = mpsc::channel(ACCEPT_BACKLOG);
        let accept_task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match tcp.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and the like: back off rather than spin.
                        tracing::debug!("emulator accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake from {peer} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake from {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            rx,
            local,
            accept_task,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

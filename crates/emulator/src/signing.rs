//! The emulator's RS256 signing key, its JWKS, and JWT minting.
//!
//! The key is generated in memory (never stored, never committed). Generating
//! a 2048-bit RSA key takes a noticeable fraction of a second, so one key per
//! process is shared by every emulator instance unless a test asks for a
//! fresh one.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1v15::SigningKey;
use rsa::sha2::{Digest, Sha256};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;

use crate::wire::{Jwk, Jwks};

/// Failure to create a signing key.
#[derive(Debug, thiserror::Error)]
#[error("generating the emulator's RSA signing key failed: {0}")]
pub struct KeyError(#[source] rsa::Error);

/// An RSA key pair with its key id; cheap to clone.
#[derive(Clone)]
pub struct EmulatorKey {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    signer: SigningKey<Sha256>,
    kid: String,
    jwk: Jwk,
}

impl std::fmt::Debug for EmulatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("EmulatorKey")
            .field("kid", &self.inner.kid)
            .finish_non_exhaustive()
    }
}

impl EmulatorKey {
    /// Generates a fresh 2048-bit key.
    pub fn generate() -> Result<Self, KeyError> {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(KeyError)?;
        let n = private.n().to_bytes_be();
        let e = private.e().to_bytes_be();
        // A kid derived from the modulus is stable for the key's life and
        // changes with the key, like a real thumbprint.
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(&n)[..15]);
        let jwk = Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            kid: kid.clone(),
            alg: "RS256".into(),
            n: URL_SAFE_NO_PAD.encode(&n),
            e: URL_SAFE_NO_PAD.encode(&e),
        };
        Ok(EmulatorKey {
            inner: Arc::new(KeyInner {
                signer: SigningKey::<Sha256>::new(private),
                kid,
                jwk,
            }),
        })
    }

    /// The process-wide key, generated on first use.
    pub fn shared() -> Result<Self, KeyError> {
        static SHARED: OnceLock<EmulatorKey> = OnceLock::new();
        if let Some(k) = SHARED.get() {
            return Ok(k.clone());
        }
        let k = Self::generate()?;
        Ok(SHARED.get_or_init(|| k).clone())
    }

    /// A process-wide second key that no emulator publishes, for forged
    /// notification JWTs; generated on first use.
    pub fn unpublished() -> Result<Self, KeyError> {
        static UNPUBLISHED: OnceLock<EmulatorKey> = OnceLock::new();
        if let Some(k) = UNPUBLISHED.get() {
            return Ok(k.clone());
        }
        let k = Self::generate()?;
        Ok(UNPUBLISHED.get_or_init(|| k).clone())
    }

    /// The key id put in every JWT header and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The JWKS document publishing this key.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: vec![self.inner.jwk.clone()],
        }
    }

    /// Signs `claims` as a compact RS256 JWT with this key's `kid`.
    pub fn sign<C: Serialize>(&self, claims: &C) -> String {
        self.sign_with_kid(claims, &self.inner.kid)
    }

    /// Signs `claims` as a compact RS256 JWT whose header names `kid`, which
    /// need not be this key's (a forgery under a published `kid`).
    pub fn sign_with_kid<C: Serialize>(&self, claims: &C, kid: &str) -> String {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        // Serialising a json! value and a derived struct cannot fail.
        let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{h}.{c}");
        let sig = self.inner.signer.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
    }
}

/// An unsigned JWT (`alg: none`, empty signature) carrying `claims`.
pub fn unsigned<C: Serialize>(claims: &C) -> String {
    let header = serde_json::json!({"alg": "none", "typ": "JWT"});
    let h = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
    let c = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    format!("{h}.{c}.")
}

/// Claims of a notification JWT, as Graph sends them.
#[derive(Debug, Clone, Serialize)]
pub struct NotificationClaims {
    /// The bot's app id.
    pub aud: String,
    /// `https://graph.microsoft.com`.
    pub iss: String,
    /// The tenant id.
    pub tid: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Not before (Unix seconds).
    pub nbf: u64,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// The app that sent it (Graph's own first-party id in real life).
    pub appid: String,
}

/// Claims of an app token issued by the token endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct AppTokenClaims {
    /// `https://graph.microsoft.com`.
    pub aud: String,
    /// `https://sts.windows.net/{tenant}/`.
    pub iss: String,
    /// The tenant id.
    pub tid: String,
    /// The client id the token was issued to.
    pub appid: String,
    /// Granted application permissions.
    pub roles: Vec<String>,
    /// Issued at.
    pub iat: u64,
    /// Not before.
    pub nbf: u64,
    /// Expiry.
    pub exp: u64,
    /// A unique token id, so two tokens issued in the same second differ.
    pub jti: String,
}

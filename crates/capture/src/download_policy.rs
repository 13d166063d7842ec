//! Which recording locations voxcap downloads from, and how much.
//!
//! A notification's JWT is not bound to its body: whoever holds one captured
//! valid token and a pending operation id can choose `recordingLocation`.
//! Without a policy that lets them pick the audio voxcap analyses, make it
//! send a blind GET (with the recording token) to any host, the bot's own
//! loopback services included, or fill the disk. [`DownloadPolicy`] limits
//! that to: https only (http is an explicit opt-in, for an emulator), hosts
//! on an allow-list, no redirect to another origin or to http, and a size
//! cap derived from the longest recording Graph can make.
//!
//! # Default hosts, and how sure we are
//!
//! Microsoft's recordOperation and recordResponse pages
//! (learn.microsoft.com/graph/api/resources/recordoperation,
//! learn.microsoft.com/graph/api/call-record) say only that the bot
//! "must download the recording promptly ... by using the recordingLocation
//! value"; their examples use placeholder hosts (`https://file.location/...`,
//! `https://resource.location/...`). No page we found names the host that
//! really serves recordings. The defaults are therefore the Microsoft
//! calling-platform domains such a location can plausibly be on:
//!
//! - `*.skype.com`: the Cloud Communications Platform (its OpenID keys are at
//!   `api.aps.skype.com`, and its media objects at `*.asm.skype.com`);
//! - `*.teams.microsoft.com`: Teams calling infrastructure;
//! - `*.communication.azure.com`: Azure Communication Services, which shares
//!   the platform;
//! - `graph.microsoft.com` and its national clouds (`graph.microsoft.us`,
//!   `dod-graph.microsoft.us`, `microsoftgraph.chinacloudapi.cn`).
//!
//! A deployment that sees recordings on another host adds it
//! ([`DownloadPolicy::allowed_hosts`]); the refusal names the host, so the
//! log says what to add. [`crate::GraphClient`] also trusts the origin of its
//! own configured Graph base URL (its app token already goes there).
//!
//! # Size cap
//!
//! A recording is 16 kHz 16-bit mono PCM: 32,000 bytes per second. The cap
//! is `2 × 32,000 × maxRecordDurationInSeconds + 64 KiB` (twice the audio,
//! for a server that sends another format or a longer take, plus room for
//! the WAV header and metadata chunks): 7,745,536 bytes (7.4 MiB) for
//! Graph's maximum of 120 s, 385,536 bytes for its default of 5 s.
//! [`DownloadPolicy::max_bytes`] overrides it.

use crate::error::CaptureError;
use crate::secret::redact_url;
use crate::wire::MAX_TIMEOUT_SECONDS;
use reqwest::Url;
use std::time::Duration;

/// Hosts recordings are downloaded from by default (see the module docs for
/// the sources, and how thin they are).
pub const DEFAULT_RECORDING_HOSTS: [&str; 7] = [
    "*.skype.com",
    "*.teams.microsoft.com",
    "*.communication.azure.com",
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "microsoftgraph.chinacloudapi.cn",
];

/// Bytes per second of a Graph recording (16 kHz, 16-bit, mono).
pub const RECORDING_BYTES_PER_SECOND: u64 = 32_000;
/// Allowance for the WAV header and metadata chunks in the size cap.
pub const WAV_HEADER_ALLOWANCE: u64 = 64 * 1024;
/// Factor on the audio size in the cap (a generous margin).
pub const SIZE_MARGIN_FACTOR: u64 = 2;

/// The size cap for a recording of at most `max_record_seconds`:
/// `SIZE_MARGIN_FACTOR × RECORDING_BYTES_PER_SECOND × seconds +
/// WAV_HEADER_ALLOWANCE`.
pub fn size_cap_for(max_record_seconds: u32) -> u64 {
    SIZE_MARGIN_FACTOR * RECORDING_BYTES_PER_SECOND * u64::from(max_record_seconds.max(1))
        + WAV_HEADER_ALLOWANCE
}

/// Where recordings may come from and how large they may be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadPolicy {
    /// Allow `http://` locations (on an allowed host). Default `false`:
    /// https only. Set it for an emulator or a local demo, never in
    /// production: over http a recording token travels in the clear.
    pub allow_http: bool,
    /// Host patterns a location may name: `host` (exact), `host:port`
    /// (exact, that port only) or `*.domain` (any subdomain of `domain`, not
    /// `domain` itself). Compared case-insensitively. An IP address is only
    /// allowed when listed exactly. Default [`DEFAULT_RECORDING_HOSTS`].
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host:port`) trusted as they are, http included:
    /// [`crate::GraphClient`] adds its own Graph base URL's. Default empty.
    pub trusted_origins: Vec<String>,
    /// The longest recording asked for (`maxRecordDurationInSeconds`), from
    /// which the size cap is derived. Default 120 (Graph's maximum).
    pub max_record_seconds: u32,
    /// Overrides the derived size cap, in bytes.
    pub max_bytes: Option<u64>,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            allow_http: false,
            allowed_hosts: DEFAULT_RECORDING_HOSTS
                .iter()
                .map(|h| h.to_string())
                .collect(),
            trusted_origins: Vec::new(),
            max_record_seconds: MAX_TIMEOUT_SECONDS,
            max_bytes: None,
        }
    }
}

impl DownloadPolicy {
    /// For an emulator or a test server on this machine: http allowed, and
    /// only `127.0.0.1`, `localhost` and `[::1]` (any port).
    pub fn loopback_http() -> Self {
        DownloadPolicy {
            allow_http: true,
            allowed_hosts: vec!["127.0.0.1".into(), "localhost".into(), "[::1]".into()],
            ..DownloadPolicy::default()
        }
    }

    /// The size cap in bytes: [`Self::max_bytes`], else [`size_cap_for`].
    pub fn size_cap(&self) -> u64 {
        self.max_bytes
            .unwrap_or_else(|| size_cap_for(self.max_record_seconds))
    }

    /// Trusts the origin of `url` (e.g. the Graph base URL), keeping the
    /// rest of the policy.
    pub fn trusting_origin_of(mut self, url: &str) -> Self {
        if let Some(o) = Url::parse(url).ok().map(|u| origin(&u)) {
            if !self.trusted_origins.contains(&o) {
                self.trusted_origins.push(o);
            }
        }
        self
    }

    /// Checks `location` against the policy and returns it parsed. The
    /// error names the (redacted) location and the rule it broke.
    pub fn check(&self, location: &str) -> Result<Url, CaptureError> {
        let refuse = |reason: String| CaptureError::InvalidInput {
            what: format!("recording location {}", redact_url(location)),
            reason,
        };
        let url = Url::parse(location).map_err(|e| refuse(format!("not a URL ({e})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("user info in a recording URL is refused".into()));
        }
        if self.trusted_origins.contains(&origin(&url)) {
            return Ok(url);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(refuse(
                    "http is refused: recordings are downloaded over https only \
                     (DownloadPolicy::allow_http is for emulators)"
                        .into(),
                ))
            }
            other => return Err(refuse(format!("scheme {other:?} is refused"))),
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let port = url.port_or_known_default();
        if self
            .allowed_hosts
            .iter()
            .any(|p| host_matches(p, &host, port))
        {
            Ok(url)
        } else {
            Err(refuse(format!(
                "host {host:?} is not on the download allow-list \
                 (DownloadPolicy::allowed_hosts; defaults: {})",
                DEFAULT_RECORDING_HOSTS.join(", ")
            )))
        }
    }
}

/// `scheme://host:port` with the port always written.
pub(crate) fn origin(url: &Url) -> String {
    format!(
        "{}://{}:{}",
        url.scheme(),
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let pattern = pattern.trim().to_ascii_lowercase();
    if let Some(domain) = pattern.strip_prefix("*.") {
        return host.len() > domain.len() + 1
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.';
    }
    // `host:port`, but not a bare IPv6 literal (`[::1]` has colons inside).
    if let Some((h, p)) = pattern.rsplit_once(':').filter(|(h, _)| !h.ends_with(':')) {
        if let (Ok(p), false) = (p.parse::<u16>(), pattern.ends_with(']')) {
            return h == host && Some(p) == port;
        }
    }
    pattern == host
}

/// Download settings.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Total HTTP attempts (first request plus resumes/restarts).
    pub max_attempts: u32,
    /// Pause before the second attempt; doubles, capped at `max_backoff`.
    pub backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
    /// Chunks buffered between the network and the analysis thread.
    pub channel_capacity: usize,
    /// Allowed locations and the size cap. Default: https only, the Graph
    /// recording hosts, 7.4 MiB ([`DownloadPolicy::default`]).
    pub policy: DownloadPolicy,
    /// Bounds each request, whole response included, instead of the
    /// client's own timeout (30 s by default): a recording read while it is
    /// still being made (`streamWhileRecording`) lasts as long as the
    /// caller speaks. Default `None`: the client's.
    pub request_timeout: Option<Duration>,
    /// Store the recording encrypted to these age recipients (only
    /// ciphertext ever reaches the disk). Default `None`: plaintext.
    pub encrypt_to: Option<voxcap_records::crypt::Recipients>,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            channel_capacity: 64,
            policy: DownloadPolicy::default(),
            request_timeout: None,
            encrypt_to: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weakness 3: any host and http:// were accepted.
    #[test]
    fn default_policy_table() {
        let p = DownloadPolicy::default();
        let cases = [
            ("https://asm.skype.com/v1/objects/0-x/views/audio", true),
            ("https://eu-prod.asyncgw.teams.microsoft.com/r/1", true),
            ("https://GRAPH.microsoft.com/v1.0/rec/1", true),
            ("https://x.communication.azure.com/rec", true),
            ("http://asm.skype.com/v1/objects/x", false),
            ("https://skype.com.evil.example/x", false),
            ("https://evilskype.com/x", false),
            ("https://skype.com/x", false),
            ("https://127.0.0.1:6379/", false),
            ("https://localhost/x", false),
            ("https://u:p@asm.skype.com/x", false),
            ("ftp://asm.skype.com/x", false),
            ("file:///etc/passwd", false),
            ("not a url", false),
        ];
        for (loc, ok) in cases {
            assert_eq!(p.check(loc).is_ok(), ok, "{loc}");
        }
        let e = p
            .check("http://10.0.0.1/x?sig=SECRET")
            .unwrap_err()
            .to_string();
        assert!(e.contains("https only") && !e.contains("SECRET"), "{e}");
    }

    #[test]
    fn opt_ins_and_ports() {
        let lo = DownloadPolicy::loopback_http();
        assert!(lo.check("http://127.0.0.1:4567/recordings/1").is_ok());
        assert!(lo.check("http://[::1]:4567/recordings/1").is_ok());
        assert!(lo.check("http://10.0.0.1/recordings/1").is_err());
        let mut p = DownloadPolicy::default();
        p.allowed_hosts.push("rec.example:8443".into());
        assert!(p.check("https://rec.example:8443/a").is_ok());
        assert!(p.check("https://rec.example/a").is_err());
        let t = DownloadPolicy::default().trusting_origin_of("http://127.0.0.1:9000/v1.0");
        assert!(t.check("http://127.0.0.1:9000/recordings/1").is_ok());
        assert!(t.check("http://127.0.0.1:9001/recordings/1").is_err());
    }

    #[test]
    fn size_cap_formula() {
        assert_eq!(size_cap_for(120), 7_745_536);
        assert_eq!(size_cap_for(5), 385_536);
        assert_eq!(DownloadPolicy::default().size_cap(), 7_745_536);
        let p = DownloadPolicy {
            max_bytes: Some(10),
            ..DownloadPolicy::default()
        };
        assert_eq!(p.size_cap(), 10);
    }
}

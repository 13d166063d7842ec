//! Secrets that must never reach logs, errors or `Debug` output.
//!
//! Bearer tokens, recording access tokens and client secrets travel inside
//! [`Secret`], whose `Debug` and `Display` print a fixed placeholder. The only
//! way to read the value is [`Secret::expose`], which makes every use greppable.
//! URLs can carry tokens in their query string, so [`redact_url`] strips the
//! query and fragment before a URL goes into an error or a log line.

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A string that is redacted whenever it is formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads a secret from the environment variable `var` (trimmed), so
    /// that it stays off command lines. The error names the variable and
    /// why it is unusable (unset, empty, not Unicode), never a value.
    pub fn from_env(var: &str) -> Result<Self, SecretEnvError> {
        let error = |reason: &str| SecretEnvError {
            var: var.to_string(),
            reason: reason.to_string(),
        };
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v.trim())),
            Ok(_) => Err(error("the variable is empty")),
            Err(std::env::VarError::NotPresent) => Err(error("the variable is not set")),
            Err(std::env::VarError::NotUnicode(_)) => Err(error("the value is not Unicode")),
        }
    }

    /// The secret value, for the one place that must send it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string (Graph sends `""` for a
    /// cancelled operation's token).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A secret that [`Secret::from_env`] could not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {var}: {reason}")]
pub struct SecretEnvError {
    /// The variable's name.
    pub var: String,
    /// Why it is unusable.
    pub reason: String,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A URL safe to log or put in an error: everything between `://` and the
/// last `@` (user name and password, whatever characters the password holds:
/// an unencoded `#`, `/`, `?`, `@` or `:` included) becomes `***@`, and the
/// query and fragment (where recording locations and token endpoints carry
/// signatures) are removed. So `redis://:p#a/ss@host:6379/0` is shown as
/// `redis://***@host:6379/0`.
///
/// This is the one redaction voxcap uses for every URL. It errs on the safe
/// side: an `@` later in the path or query (rare in the URLs voxcap handles)
/// is taken as the end of the user info, which hides more than needed but
/// never a credential. A string without `://` loses everything before its
/// last `@` the same way.
pub fn redact_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    // Search the whole rest, not only up to the first `/`, `?` or `#`: an
    // unencoded password may contain any of them.
    let (userinfo, host_and_path) = match rest.rfind('@') {
        Some(at) => (true, &rest[at + 1..]),
        None => (false, rest),
    };
    let end = host_and_path
        .find(['?', '#'])
        .unwrap_or(host_and_path.len());
    let mut out = String::with_capacity(url.len().min(256));
    out.push_str(head);
    if userinfo {
        out.push_str("***@");
    }
    out.push_str(&host_and_path[..end]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-token");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-token");
    }

    #[test]
    fn from_env_names_the_variable_and_never_the_value() {
        let var = "VOXCAP_SECRET_FROM_ENV_TEST";
        std::env::set_var(var, "  hunter2  ");
        assert_eq!(Secret::from_env(var).unwrap().expose(), "hunter2");
        std::env::set_var(var, "   ");
        let e = Secret::from_env(var).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("environment variable {var}: the variable is empty")
        );
        std::env::remove_var(var);
        let e = Secret::from_env(var).unwrap_err().to_string();
        assert!(e.contains(var) && e.contains("not set"), "{e}");
    }

    #[test]
    fn redact_url_strips_query_fragment_and_userinfo() {
        let cases = [
            ("https://h/p?sig=abc", "https://h/p"),
            ("https://h/p#frag", "https://h/p"),
            ("https://u:pw@h/p?x", "https://***@h/p"),
            ("https://h/p", "https://h/p"),
            ("not a url?x", "not a url"),
            ("redis://127.0.0.1:6379/", "redis://127.0.0.1:6379/"),
            ("redis://:hunter2@host:6379/0", "redis://***@host:6379/0"),
            ("rediss://bob:p%40ss@host:6380", "rediss://***@host:6380"),
            ("redis://hunter2@host", "redis://***@host"),
            ("redis//:hunter2@host", "***@host"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }

    /// Weakness 10: a password with unencoded `#`, `/`, `?`, `@` or `:` was
    /// printed whole (the authority was cut at the first `/` or `#`).
    #[test]
    fn redact_url_hides_passwords_with_reserved_characters() {
        let cases = [
            ("redis://:p#a/ss@host:6379/0", "redis://***@host:6379/0"),
            ("redis://u:hun#ter2@host/0", "redis://***@host/0"),
            ("redis://u:hun/ter2@host:1/2", "redis://***@host:1/2"),
            ("redis://u:hun?ter2@host", "redis://***@host"),
            ("redis://u:hun@ter2@host", "redis://***@host"),
            ("redis://u:hun:ter2@host", "redis://***@host"),
            (
                "rediss://:h#u/n?t@e:r2@host:6380/0?x#y",
                "rediss://***@host:6380/0",
            ),
        ];
        for (input, want) in cases {
            let got = redact_url(input);
            assert_eq!(got, want, "{input}");
            for part in ["hun", "ter2", "p#a", "ss@"] {
                assert!(!got.contains(part), "{input} -> {got}");
            }
        }
    }
}

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

/// A URL with its query string and fragment removed, safe to log or put in an
/// error: recording locations and token endpoints may carry signatures there.
pub fn redact_url(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let base = &url[..end];
    // Userinfo (`https://user:pass@host`) is a credential too.
    match base.find("://") {
        Some(scheme_end) => {
            let rest = &base[scheme_end + 3..];
            let authority_end = rest.find('/').unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{}://{}", &base[..scheme_end], &rest[at + 1..]),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    }
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
    fn redact_url_strips_query_fragment_and_userinfo() {
        let cases = [
            ("https://h/p?sig=abc", "https://h/p"),
            ("https://h/p#frag", "https://h/p"),
            ("https://u:pw@h/p?x", "https://h/p"),
            ("https://h/p", "https://h/p"),
            ("not a url?x", "not a url"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
        }
    }
}

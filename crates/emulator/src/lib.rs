//! voxcap-emulator: a local stand-in for the Microsoft Graph calls service.
//!
//! It will own an axum app that serves recordResponse, the legacy beta
//! `record`, `updateRecordingStatus`, the chunked recording download, an
//! OAuth2 token endpoint and an OpenID/JWKS endpoint; scripted callers whose
//! recordings it renders; RS256-signed notifications; and injectable faults.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

//! voxcap-capture: everything voxcap says to and hears from Microsoft Graph.
//!
//! It will own the Graph wire types (recordOperation, commsNotifications,
//! resultInfo and the subcode table), the HTTP client with token providers and
//! retries, the JWT-verified notification webhook, operation tracking with
//! deadlines, the compliance guard around `updateRecordingStatus`, and the
//! streaming recording download that feeds `voxcap-dsp` as bytes arrive.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

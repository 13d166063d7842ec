//! The emulator's public server surface, kept as one path for users: the
//! configuration, the state and the router. The implementation is split by
//! seam: `state` (state and the request checks), `error`, the routes
//! (`calls`, `record`, `auth`, `control`, and [`crate::download`] for the
//! recording host), `notify` (notification delivery) and `router`.
//!
//! Invariants: handlers never hold a lock across an `.await`; every error a
//! client sees is a Graph error body (or Azure AD's, on the token endpoint)
//! naming the input and the cause; simulated time is scaled by
//! `time_scale` so tests run in milliseconds.

pub use crate::error::StateError;
pub use crate::router::app;
pub use crate::state::{
    default_scenario, EmulatorConfig, EmulatorState, NOTIFICATION_ISSUER, SCENARIO_HEADER,
    TEST_CLIENT_ID, TEST_CLIENT_SECRET, TEST_TENANT_ID,
};

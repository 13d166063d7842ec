//! Integration tests of voxcap-report.

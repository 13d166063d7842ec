//! Free loopback ports.

use std::net::{Ipv4Addr, TcpListener};

/// A TCP port on `127.0.0.1` that was free a moment ago: bound, then
/// released. Another process may take it in between, so a server that fails
/// to bind it should be retried on a new port.
pub fn try_free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// [`try_free_port`] for tests: panics with the cause when loopback cannot
/// be bound at all.
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|e| panic!("no free port on 127.0.0.1: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_free_port_can_be_bound() {
        let port = free_port();
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("the port is free");
    }
}

//! Free loopback ports: containers share the host's network, so each server is given a port
//! that nothing on the host listens on.

use std::net::TcpListener;

/// A port of 127.0.0.1 that was free a moment ago (the OS picks it; it is released at
/// once, so another process could take it before the container binds it — unlikely
/// enough for tests, and a clash shows as a container that does not become ready).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

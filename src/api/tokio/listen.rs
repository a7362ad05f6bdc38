//! Listening sockets as tokio types, non-blocking by construction.

use std::io;

use tokio::net::{TcpListener, UdpSocket, UnixListener};

use super::in_runtime;
use crate::api::Listen;

/// [`crate::listen_tcp`] as a [`tokio::net::TcpListener`]: the socket
/// inherited under `name` (or a new one bound at `addr`), registered for the
/// next generation, and set non-blocking — see the module docs for why that
/// is safe for an upgrade.
///
/// Errors: as [`Listen::fd`]; `Other` outside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// let l = gracefd::tokio::listen_tcp("web", "127.0.0.1:0")?;
/// let c = tokio::net::TcpStream::connect(l.local_addr()?).await?;
/// let (_s, peer) = l.accept().await?;
/// assert_eq!(peer, c.local_addr()?);
/// # Ok(()) }
/// ```
pub fn listen_tcp(name: &str, addr: &str) -> io::Result<TcpListener> {
    tcp_with(Listen::new(), name, addr)
}

/// [`crate::listen_unix`] as a [`tokio::net::UnixListener`], non-blocking.
/// Errors: as [`listen_tcp`].
pub fn listen_unix(name: &str, addr: &str) -> io::Result<UnixListener> {
    unix_with(Listen::new(), name, addr)
}

/// [`crate::listen_udp`] as a [`tokio::net::UdpSocket`], non-blocking.
/// Errors: as [`listen_tcp`].
pub fn listen_udp(name: &str, addr: &str) -> io::Result<UdpSocket> {
    udp_with(Listen::new(), name, addr)
}

/// [`Listen::tcp`] with these options (backlog…), as a tokio listener; the
/// blocking mode of `opts` is overridden: always non-blocking.
/// Errors: as [`listen_tcp`].
pub fn tcp_with(opts: Listen, name: &str, addr: &str) -> io::Result<TcpListener> {
    in_runtime()?;
    TcpListener::from_std(opts.nonblocking(true).tcp(name, addr)?)
}

/// [`Listen::unix`] with these options, as a tokio listener, non-blocking.
/// Errors: as [`listen_tcp`].
pub fn unix_with(opts: Listen, name: &str, addr: &str) -> io::Result<UnixListener> {
    in_runtime()?;
    UnixListener::from_std(opts.nonblocking(true).unix(name, addr)?)
}

/// [`Listen::udp`] with these options, as a tokio socket, non-blocking.
/// Errors: as [`listen_tcp`].
pub fn udp_with(opts: Listen, name: &str, addr: &str) -> io::Result<UdpSocket> {
    in_runtime()?;
    UdpSocket::from_std(opts.nonblocking(true).udp(name, addr)?)
}

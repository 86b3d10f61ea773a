//! The listener's part in a graceful stop. Closing a listening socket resets the connections the
//! kernel has accepted on it but the server has not taken yet, and the server's own graceful
//! shutdown closes, unanswered, connections whose request it has not read yet: either way a
//! request that reached the process would get a reset. So on shutdown the listener first takes
//! in every connection already queued, then closes (later callers are refused a connection,
//! which a load balancer retries elsewhere), and the server lets the last ones be read before
//! it starts its own shutdown.

use std::io::ErrorKind;
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long the connections taken in last get to have their requests read.
pub const SETTLE: Duration = Duration::from_millis(500);

/// Accepts like [`TcpAcceptor`] until [`Drain::close_listener`] is called.
pub struct DrainingAcceptor {
    /// The acceptor, and a handle on the same socket to take queued connections without waiting;
    /// `None` once closed.
    open: Option<(TcpAcceptor, std::net::TcpListener)>,
    local_addr: Vec<LocalAddr>,
    closing: watch::Receiver<bool>,
    closed: watch::Sender<bool>,
}

/// The shutdown's side of a [`DrainingAcceptor`].
pub struct Drain {
    closing: watch::Sender<bool>,
    closed: watch::Receiver<bool>,
}

/// Wraps `listener` for the server (making it non-blocking); the [`Drain`] closes it.
pub fn draining(listener: std::net::TcpListener) -> std::io::Result<(DrainingAcceptor, Drain)> {
    listener.set_nonblocking(true)?;
    let twin = listener.try_clone()?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    let (closing_tx, closing_rx) = watch::channel(false);
    let (closed_tx, closed_rx) = watch::channel(false);
    Ok((
        DrainingAcceptor {
            local_addr: acceptor.local_addr(),
            open: Some((acceptor, twin)),
            closing: closing_rx,
            closed: closed_tx,
        },
        Drain {
            closing: closing_tx,
            closed: closed_rx,
        },
    ))
}

impl Drain {
    /// Takes in what is queued, closes the listener, and gives the last connections
    /// [`SETTLE`] to have their requests read. The server must keep accepting meanwhile.
    pub async fn close_listener(mut self) {
        self.closing.send_replace(true);
        let _ = self.closed.wait_for(|closed| *closed).await;
        tokio::time::sleep(SETTLE).await;
    }
}

impl Acceptor for DrainingAcceptor {
    type Io = TcpStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.local_addr.clone()
    }

    async fn accept(&mut self) -> std::io::Result<(TcpStream, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let Some((acceptor, twin)) = self.open.as_mut() else {
                return std::future::pending().await;
            };
            let closing = *self.closing.borrow();
            if !closing {
                tokio::select! {
                    accepted = acceptor.accept() => return accepted,
                    _ = self.closing.wait_for(|closing| *closing) => continue,
                }
            }
            // An accept(2) of its own each time: the runtime may not have seen the newest
            // connections yet.
            match twin.accept() {
                Ok((stream, remote)) => {
                    stream.set_nonblocking(true)?;
                    let local = self.local_addr.first().cloned().unwrap_or_default();
                    return Ok((
                        TcpStream::from_std(stream)?,
                        local,
                        RemoteAddr(remote.into()),
                        Scheme::HTTP,
                    ));
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => continue,
                Err(err) if err.kind() != ErrorKind::WouldBlock => return Err(err),
                Err(_) => {
                    self.open = None;
                    self.closed.send_replace(true);
                }
            }
        }
    }
}

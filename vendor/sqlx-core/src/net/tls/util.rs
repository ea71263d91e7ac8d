use crate::net::Socket;

use std::io::{self, Read, Write};
use std::task::{Context, Poll};

use futures_util::future;

pub struct StdSocket<S> {
    pub socket: S,
    wants_read: bool,
    wants_write: bool,
}

impl<S: Socket> StdSocket<S> {
    pub fn new(socket: S) -> Self {
        Self {
            socket,
            wants_read: false,
            wants_write: false,
        }
    }

    // ticketd's patch: this waited for the socket to be ready in every direction the TLS code
    // had found blocked, one after the other. A TLS session that tried to read (nothing there)
    // and to write (send buffer full) in the same call then waited, once the send buffer
    // drained, for the server to send something, while the server waited for the rest of the
    // message: the connection hung for good, the server `idle in transaction` in `ClientRead`.
    // Both directions are now waited for together, and either being ready lets the TLS code
    // go on (as upstream fixed it after 0.8.6: launchbadge/sqlx#4248).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut ready = !self.wants_write && !self.wants_read;
        if self.wants_write {
            if let Poll::Ready(result) = self.socket.poll_write_ready(cx) {
                result?;
                self.wants_write = false;
                ready = true;
            }
        }

        if self.wants_read {
            if let Poll::Ready(result) = self.socket.poll_read_ready(cx) {
                result?;
                self.wants_read = false;
                ready = true;
            }
        }

        if ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }

    pub async fn ready(&mut self) -> io::Result<()> {
        future::poll_fn(|cx| self.poll_ready(cx)).await
    }
}

impl<S: Socket> Read for StdSocket<S> {
    fn read(&mut self, mut buf: &mut [u8]) -> io::Result<usize> {
        self.wants_read = true;
        let read = self.socket.try_read(&mut buf)?;
        self.wants_read = false;

        Ok(read)
    }
}

impl<S: Socket> Write for StdSocket<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.wants_write = true;
        let written = self.socket.try_write(buf)?;
        self.wants_write = false;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        // NOTE: TCP sockets and unix sockets are both no-ops for flushes
        Ok(())
    }
}

//! The socket tasks of a connection and what they share: the writer sends queued frames in
//! batches with a counting Ping every so often, and closes at once when the session asks it to;
//! the reader takes the client's frames in, the Pongs that tell how far it has read ([`Flow`])
//! first (see the module's "What "not read" means").

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, Notify};

/// How far the client has read, from the Pongs that answer the writer's counting Pings.
#[derive(Debug, Default)]
pub(super) struct Flow {
    /// Frames the writer has taken from the queue (written, or being written).
    pub(super) taken: AtomicU64,
    /// The highest count the writer has sent in a Ping: no Pong acknowledges more.
    pub(super) pinged: AtomicU64,
    /// Frames the client has read (the count of the latest Ping it answered).
    pub(super) read: AtomicU64,
    /// Woken when `read` moves.
    pub(super) progress: Notify,
}

impl Flow {
    /// Frames queued or written that the client has not read yet.
    pub(super) fn unread(&self, out: &mpsc::Sender<Message>) -> usize {
        let queued = out.max_capacity() - out.capacity();
        let written = self
            .taken
            .load(Ordering::Acquire)
            .saturating_sub(self.read.load(Ordering::Acquire));
        queued.saturating_add(usize::try_from(written).unwrap_or(usize::MAX))
    }

    /// A Pong arrived: if it answers one of our counting Pings, the client read that far.
    pub(super) fn on_pong(&self, payload: &[u8]) {
        let Ok(count) = <[u8; 8]>::try_from(payload) else {
            // The keep-alive Ping's, or an unsolicited one: it acknowledges nothing.
            return;
        };
        // Never more than was announced: a made-up Pong cannot buy a client room.
        let count = u64::from_be_bytes(count).min(self.pinged.load(Ordering::Acquire));
        if self.read.fetch_max(count, Ordering::AcqRel) < count {
            self.progress.notify_waiters();
        }
    }
}

/// Reads the client's frames: Pongs move the flow, the rest go to the session, and the end of
/// the stream (or an error) too, after which reading stops.
pub(super) async fn read(
    mut stream: SplitStream<WebSocket>,
    inbox: mpsc::Sender<Option<Result<Message, axum::Error>>>,
    flow: Arc<Flow>,
) {
    loop {
        let frame = stream.next().await;
        if let Some(Ok(Message::Pong(payload))) = &frame {
            flow.on_pong(payload);
            continue;
        }
        let last = !matches!(frame, Some(Ok(_)));
        if inbox.send(frame).await.is_err() || last {
            return;
        }
    }
}

/// Most frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Writes queued frames; on an urgent close frame drops the rest and closes at once. Every
/// `ack_every` frames it adds a Ping carrying the count written so far (see the module's
/// "What "not read" means").
pub(super) async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut urgent: oneshot::Receiver<CloseFrame>,
    grace: Duration,
    flow: Arc<Flow>,
    ack_every: u64,
) {
    // Counts a frame taken from the queue; a Ping from the session (the keep-alive) carries
    // the count too, so it acknowledges as much as ours.
    let take = |message: Message| -> Message {
        let taken = flow.taken.fetch_add(1, Ordering::AcqRel) + 1;
        match message {
            Message::Ping(_) => counting_ping(&flow, taken),
            other => other,
        }
    };
    enum Step {
        Sent,
        Failed,
        Urgent(CloseFrame),
    }
    let mut urgent_open = true;
    loop {
        let message = tokio::select! {
            biased;
            frame = &mut urgent, if urgent_open => match frame {
                Ok(frame) => return close_now(&mut sink, frame, grace).await,
                Err(_) => {
                    urgent_open = false;
                    continue;
                }
            },
            message = queue.recv() => match message {
                Some(message) => message,
                None => break,
            },
        };
        let mut closing = matches!(message, Message::Close(_));
        let step = {
            // Frames already queued go out with this one in a single write: events arrive in
            // bursts (a sequencer batch at a time), and a write per frame cost a system call
            // per frame and connection.
            let send = async {
                sink.feed(take(message)).await?;
                let mut batched = 1;
                while !closing && batched < MAX_FRAMES_PER_WRITE {
                    let Ok(more) = queue.try_recv() else {
                        break;
                    };
                    closing = matches!(more, Message::Close(_));
                    sink.feed(take(more)).await?;
                    batched += 1;
                }
                let taken = flow.taken.load(Ordering::Acquire);
                if !closing && taken >= flow.pinged.load(Ordering::Acquire) + ack_every {
                    sink.feed(counting_ping(&flow, taken)).await?;
                }
                sink.flush().await
            };
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    frame = &mut urgent, if urgent_open => match frame {
                        Ok(frame) => break Step::Urgent(frame),
                        Err(_) => urgent_open = false,
                    },
                    sent = &mut send => break if sent.is_ok() { Step::Sent } else { Step::Failed },
                }
            }
        };
        match step {
            Step::Sent if !closing => {}
            Step::Sent => break,
            Step::Failed => return,
            Step::Urgent(frame) => return close_now(&mut sink, frame, grace).await,
        }
    }
    let _ = tokio::time::timeout(grace, sink.close()).await;
}

/// A Ping whose Pong will say that the client read the first `taken` frames.
fn counting_ping(flow: &Flow, taken: u64) -> Message {
    flow.pinged.store(taken, Ordering::Release);
    Message::Ping(Bytes::copy_from_slice(&taken.to_be_bytes()))
}

async fn close_now(sink: &mut SplitSink<WebSocket, Message>, frame: CloseFrame, grace: Duration) {
    let _ = tokio::time::timeout(grace, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            let _ = sink.close().await;
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unread_frames_are_the_queued_ones_plus_those_written_and_not_acknowledged() {
        let flow = Flow::default();
        let (out, _queue) = mpsc::channel::<Message>(8);
        out.try_send(Message::text("queued")).unwrap();
        flow.taken.store(5, Ordering::Release);
        assert_eq!(flow.unread(&out), 6);
        // Nothing was announced yet: a Pong cannot acknowledge frames.
        flow.on_pong(&5u64.to_be_bytes());
        assert_eq!(flow.unread(&out), 6);
        flow.pinged.store(4, Ordering::Release);
        // More than announced counts as what was announced; other payloads count for nothing.
        flow.on_pong(&9u64.to_be_bytes());
        assert_eq!(flow.unread(&out), 2);
        flow.on_pong(b"");
        flow.on_pong(&[1, 2, 3]);
        assert_eq!(flow.unread(&out), 2);
        // An older Pong never moves it back.
        flow.on_pong(&1u64.to_be_bytes());
        assert_eq!(flow.unread(&out), 2);
    }
}

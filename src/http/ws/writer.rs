//! The writer task of a connection: sends queued frames in batches, and closes at once when the
//! session asks it to.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::stream::SplitSink;
use futures::SinkExt;
use tokio::sync::{mpsc, oneshot};

/// Most frames written with one flush.
const MAX_FRAMES_PER_WRITE: usize = 64;

/// Writes queued frames; on an urgent close frame drops the rest and closes at once.
pub(super) async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Message>,
    mut urgent: oneshot::Receiver<CloseFrame>,
    grace: Duration,
) {
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
                sink.feed(message).await?;
                let mut batched = 1;
                while !closing && batched < MAX_FRAMES_PER_WRITE {
                    let Ok(more) = queue.try_recv() else {
                        break;
                    };
                    closing = matches!(more, Message::Close(_));
                    sink.feed(more).await?;
                    batched += 1;
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

async fn close_now(sink: &mut SplitSink<WebSocket, Message>, frame: CloseFrame, grace: Duration) {
    let _ = tokio::time::timeout(grace, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() {
            let _ = sink.close().await;
        }
    })
    .await;
}

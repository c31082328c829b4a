//! The bridge from the scheduler's thread to an HTTP response: a [`GenerationSink`] that
//! forwards into a tokio channel.
//!
//! The scheduler calls the sink on its own thread and must never block, so the channel is
//! unbounded (a generation sends at most `max_tokens` small messages). The response body (or
//! the handler future, for a non-streaming request) owns the receiver; when the client goes
//! away the receiver is dropped, [`GenerationSink::is_cancelled`] turns true and the scheduler
//! frees the slot within one step.

use shimmy_core::backend::{Flow, GenerateEvent, GenerateSummary};
use shimmy_core::serving::GenerationSink;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// What travels from the scheduler to the request.
#[derive(Debug)]
pub enum Message {
    /// A generation event.
    Event(GenerateEvent),
    /// The end: the summary or the error.
    Finish(shimmy_core::Result<GenerateSummary>),
}

/// Called with the summary of every generation that ran (cancelled ones included), on the
/// scheduler's thread.
pub type FinishObserver = Box<dyn FnOnce(&GenerateSummary) + Send>;

/// A [`GenerationSink`] writing into a channel.
pub struct ChannelSink {
    tx: UnboundedSender<Message>,
    finished: bool,
    observer: Option<FinishObserver>,
}

impl std::fmt::Debug for ChannelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelSink")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ChannelSink {
    /// A sink and the receiver of its messages.
    pub fn new() -> (ChannelSink, UnboundedReceiver<Message>) {
        let (tx, rx) = unbounded_channel();
        (
            ChannelSink {
                tx,
                finished: false,
                observer: None,
            },
            rx,
        )
    }

    /// Like [`ChannelSink::new`]; `observer` sees the summary even when nobody listens any
    /// more (for token counters).
    pub fn with_observer(observer: FinishObserver) -> (ChannelSink, UnboundedReceiver<Message>) {
        let (mut sink, rx) = Self::new();
        sink.observer = Some(observer);
        (sink, rx)
    }
}

impl GenerationSink for ChannelSink {
    fn event(&mut self, event: GenerateEvent) -> Flow {
        match self.tx.send(Message::Event(event)) {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    fn is_cancelled(&self) -> bool {
        self.tx.is_closed()
    }

    fn finish(&mut self, outcome: shimmy_core::Result<GenerateSummary>) {
        if self.finished {
            tracing::warn!("the scheduler finished a request twice; ignoring the second");
            return;
        }
        self.finished = true;
        if let (Ok(summary), Some(observer)) = (&outcome, self.observer.take()) {
            observer(summary);
        }
        // Nobody may be listening any more; that is fine.
        let _ = self.tx.send(Message::Finish(outcome));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_receiver_cancels() {
        let (mut sink, rx) = ChannelSink::new();
        assert!(!sink.is_cancelled());
        assert_eq!(sink.event(GenerateEvent::Text("a".into())), Flow::Continue);
        drop(rx);
        assert!(sink.is_cancelled());
        assert_eq!(sink.event(GenerateEvent::Text("b".into())), Flow::Stop);
    }

    #[test]
    fn messages_arrive_in_order() {
        let (mut sink, mut rx) = ChannelSink::new();
        sink.event(GenerateEvent::Text("a".into()));
        sink.finish(Err(shimmy_core::Error::Inference("x".into())));
        assert!(matches!(rx.try_recv(), Ok(Message::Event(GenerateEvent::Text(t))) if t == "a"));
        assert!(matches!(rx.try_recv(), Ok(Message::Finish(Err(_)))));
    }
}

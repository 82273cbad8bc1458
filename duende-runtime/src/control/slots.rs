//! The control channel's connection slots: at most `max` connections are served at once, and a
//! connection that holds a slot only to wait for its request line cannot keep the daemon's own
//! user out.
//!
//! When every slot is taken, a new connection takes the slot of the connection that has been
//! waiting longest for its next request line (a silent or slow client, or one idle between
//! requests); that one is told so (`busy`) and closed. Only when every slot holds a request being
//! answered is the newcomer refused. Without this, clients that connect and send nothing, or a byte
//! now and then (slow-loris), hold every slot for the read deadline each, reconnect, and a `status`
//! that would be answered in a millisecond is refused `busy` nearly every time.
//!
//! "Longest" is by the order in which connections began to wait, not by a clock: the state is a
//! plain value, and the tests drive it without time passing.

use std::sync::Arc;

use tokio::sync::Notify;

/// One connection's hold on a slot.
#[derive(Debug)]
struct Held {
    id: u64,
    /// When it began to wait for a request line (an ever-growing count); `None` while a request
    /// of it is being answered.
    waiting_since: Option<u64>,
    /// Told when the connection must give its slot up.
    evict: Arc<Notify>,
}

/// The slots of one control channel.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    held: Vec<Held>,
    next_id: u64,
    next_wait: u64,
}

/// A slot given to a new connection.
#[derive(Debug)]
pub(crate) struct Granted {
    /// The connection's id, for [`Slots::waiting`] and [`Slots::release`].
    pub(crate) id: u64,
    /// Notified when the connection loses its slot to a newer one.
    pub(crate) evicted: Arc<Notify>,
    /// The slot was another connection's, which has been told to end.
    pub(crate) in_place_of_another: bool,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Slots {
        Slots { max, held: Vec::with_capacity(max), next_id: 0, next_wait: 0 }
    }

    /// A slot for a new connection, which starts out waiting for its first request line: a free
    /// one, or that of the connection waiting longest (which is notified, and holds no slot from
    /// now on); `None` when every slot holds a request being answered.
    pub(crate) fn take(&mut self) -> Option<Granted> {
        let in_place_of_another = self.held.len() >= self.max;
        if in_place_of_another {
            let victim = self
                .held
                .iter()
                .enumerate()
                .filter_map(|(at, held)| held.waiting_since.map(|since| (since, at)))
                .min()
                .map(|(_, at)| at)?;
            self.held.swap_remove(victim).evict.notify_one();
        }
        let granted = Granted { id: self.next_id, evicted: Arc::new(Notify::new()), in_place_of_another };
        self.next_id += 1;
        self.next_wait += 1;
        self.held.push(Held {
            id: granted.id,
            waiting_since: Some(self.next_wait),
            evict: Arc::clone(&granted.evicted),
        });
        Some(granted)
    }

    /// Connection `id` begins to wait for a request line (`true`), or has one to answer.
    pub(crate) fn waiting(&mut self, id: u64, waiting: bool) {
        self.next_wait += 1;
        let since = waiting.then_some(self.next_wait);
        if let Some(held) = self.held.iter_mut().find(|held| held.id == id) {
            held.waiting_since = since;
        }
    }

    /// Connection `id` has ended (nothing happens when it had already lost its slot).
    pub(crate) fn release(&mut self, id: u64) {
        self.held.retain(|held| held.id != id);
    }

    /// Slots taken.
    #[cfg(test)]
    pub(crate) fn taken(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// True when `granted` has been told to give its slot up (the notification is consumed).
    fn evicted(granted: &Granted) -> bool {
        use std::future::Future;
        let notified = granted.evicted.notified();
        let mut notified = std::pin::pin!(notified);
        let waker = std::task::Waker::noop();
        notified.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn a_newcomer_takes_the_slot_of_the_connection_waiting_longest() {
        let mut slots = Slots::new(3);
        let (a, b, c) = (slots.take().unwrap(), slots.take().unwrap(), slots.take().unwrap());
        // `a` had a request answered and waits again: now `b` has waited longest.
        slots.waiting(a.id, false);
        slots.waiting(a.id, true);
        assert!(!c.in_place_of_another);
        let d = slots.take().expect("a slot held by a connection waiting for its request");
        assert!(d.in_place_of_another);
        assert!(evicted(&b) && !evicted(&a) && !evicted(&c) && !evicted(&d));
        assert_eq!(slots.taken(), 3);
        // `b` ending afterwards frees nothing: its slot is `d`'s already.
        slots.release(b.id);
        assert_eq!(slots.taken(), 3);
        slots.take().unwrap();
        assert!(evicted(&c), "then the next longest");
    }

    #[test]
    fn a_connection_whose_request_is_being_answered_keeps_its_slot() {
        let mut slots = Slots::new(2);
        let (a, b) = (slots.take().unwrap(), slots.take().unwrap());
        slots.waiting(a.id, false);
        slots.waiting(b.id, false);
        assert!(slots.take().is_none(), "every slot answers a request: the newcomer is refused");
        assert!(!evicted(&a) && !evicted(&b));
        slots.waiting(b.id, true);
        let c = slots.take().unwrap();
        assert!(evicted(&b) && !evicted(&a) && !evicted(&c));
        slots.release(a.id);
        assert_eq!(slots.taken(), 1);
        assert!(slots.take().is_some() && !evicted(&c), "a free slot evicts nobody");
    }
}

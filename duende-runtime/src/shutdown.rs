//! The shutdown event: set once, awaited by anyone, checked cheaply. No polling anywhere.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use tokio::sync::watch;

/// Shared shutdown state; clones observe and trigger the same event.
#[derive(Debug, Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Taken by the first request, so only it announces and wakes.
    claimed: AtomicBool,
    /// Set once the first request has been announced, just before waiters wake: what
    /// [`Shutdown::is_triggered`] reports, so nobody acts on a shutdown before it is announced.
    triggered: AtomicBool,
    /// When the first request came.
    requested_at: OnceLock<Instant>,
    tx: watch::Sender<bool>,
    /// The same event for threads outside the async runtime.
    blocking: (Mutex<bool>, Condvar),
    /// Run once, by the first request, after waiters are woken.
    on_first: Mutex<Option<FirstHook>>,
}

/// What the first request starts (the shutdown deadline).
struct FirstHook(Box<dyn FnOnce() + Send>);

impl std::fmt::Debug for FirstHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FirstHook")
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A shutdown that has not been requested.
    pub fn new() -> Shutdown {
        let (tx, _rx) = watch::channel(false);
        Shutdown {
            inner: Arc::new(Inner {
                claimed: AtomicBool::new(false),
                triggered: AtomicBool::new(false),
                requested_at: OnceLock::new(),
                tx,
                blocking: (Mutex::new(false), Condvar::new()),
                on_first: Mutex::new(None),
            }),
        }
    }

    /// Requests shutdown; returns true only for the first request.
    pub fn trigger(&self) -> bool {
        self.trigger_announced(|| {})
    }

    /// Requests shutdown like [`trigger`](Self::trigger), and for the first request runs
    /// `announce` before anyone waiting is woken, so what it logs or tells the service manager
    /// comes before anything the shutdown itself does.
    pub(crate) fn trigger_announced(&self, announce: impl FnOnce()) -> bool {
        let first = !self.inner.claimed.swap(true, Ordering::SeqCst);
        if first {
            self.inner.requested_at.get_or_init(Instant::now);
            announce();
            self.inner.triggered.store(true, Ordering::Release);
            self.inner.tx.send_replace(true);
            let (requested, wake) = &self.inner.blocking;
            *requested.lock().unwrap_or_else(PoisonError::into_inner) = true;
            wake.notify_all();
            let hook = self.inner.on_first.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(FirstHook(hook)) = hook {
                hook();
            }
        }
        first
    }

    /// Runs `hook` once the first request has come: by that request, after its waiters are
    /// woken, or now when it already came. One hook per event (a later one replaces it). (On
    /// WASI the deadline is a task awaiting [`wait`](Self::wait) instead.)
    #[cfg(unix)]
    pub(crate) fn on_first_request(&self, hook: impl FnOnce() + Send + 'static) {
        let mut slot = self.inner.on_first.lock().unwrap_or_else(PoisonError::into_inner);
        // The request takes the hook under this lock after claiming: either it has claimed
        // already (run the hook here) or it will find the hook in the slot.
        if self.inner.claimed.load(Ordering::SeqCst) {
            drop(slot);
            hook();
        } else {
            *slot = Some(FirstHook(Box::new(hook)));
        }
    }

    /// When shutdown was first requested.
    pub fn requested_at(&self) -> Option<Instant> {
        self.inner.requested_at.get().copied()
    }

    /// True once shutdown has been requested (and announced).
    pub fn is_triggered(&self) -> bool {
        self.inner.triggered.load(Ordering::Acquire)
    }

    /// Resolves when shutdown is requested (at once if it already was).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.tx.subscribe();
        async move {
            // The sender lives in `inner`, which this future does not keep alive; if every
            // `Shutdown` is gone the wait ends, which is the only sensible answer.
            let _ = rx.wait_for(|requested| *requested).await;
        }
    }
}

impl Shutdown {
    /// Blocks the calling thread until shutdown is requested; for threads outside the runtime.
    pub fn wait_blocking(&self) {
        let (requested, wake) = &self.inner.blocking;
        let guard = requested.lock().unwrap_or_else(PoisonError::into_inner);
        let _guard = wake.wait_while(guard, |requested| !*requested).unwrap_or_else(PoisonError::into_inner);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_on_trigger_and_late_waiters_return_at_once() {
        let shutdown = Shutdown::new();
        let early = tokio::spawn(shutdown.wait());
        assert!(!shutdown.is_triggered() && shutdown.requested_at().is_none());
        assert!(shutdown.trigger());
        let at = shutdown.requested_at().unwrap();
        assert!(!shutdown.trigger(), "only the first request counts");
        assert_eq!(shutdown.requested_at(), Some(at));
        early.await.unwrap();
        assert!(shutdown.is_triggered());
        tokio::time::timeout(std::time::Duration::from_secs(1), shutdown.wait()).await.unwrap();
    }

    #[test]
    fn the_announcement_comes_before_any_waiter_wakes() {
        let shutdown = Shutdown::new();
        let order = Arc::new(Mutex::new(Vec::new()));
        let waiter = {
            let (shutdown, order) = (shutdown.clone(), Arc::clone(&order));
            std::thread::spawn(move || {
                shutdown.wait_blocking();
                order.lock().unwrap().push("woken");
            })
        };
        let announced = shutdown.trigger_announced(|| {
            // Long enough for a waiter woken early to have recorded itself first.
            std::thread::sleep(std::time::Duration::from_millis(50));
            assert!(!shutdown.is_triggered(), "nobody sees the shutdown before it is announced");
            order.lock().unwrap().push("announced");
        });
        assert!(shutdown.is_triggered());
        waiter.join().unwrap();
        assert!(announced);
        assert_eq!(*order.lock().unwrap(), ["announced", "woken"]);
        assert!(!shutdown.trigger_announced(|| panic!("a second request announces nothing")));
    }

    #[test]
    #[cfg(unix)]
    fn the_first_request_runs_the_hook_once_and_a_late_hook_runs_at_once() {
        let shutdown = Shutdown::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let (early, seen) = (tx.clone(), shutdown.clone());
        shutdown.on_first_request(move || early.send(seen.is_triggered()).unwrap());
        assert!(rx.try_recv().is_err(), "not before the request");
        shutdown.trigger();
        assert_eq!(rx.try_recv(), Ok(true), "run by the first request, once it is announced");
        shutdown.trigger();
        assert!(rx.try_recv().is_err(), "not by a second request");
        shutdown.on_first_request(move || tx.send(true).unwrap());
        assert_eq!(rx.try_recv(), Ok(true), "a hook set after the request runs at once");
    }

    #[test]
    fn threads_can_wait_for_it_too() {
        let shutdown = Shutdown::new();
        let waiter = {
            let shutdown = shutdown.clone();
            std::thread::spawn(move || shutdown.wait_blocking())
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(!waiter.is_finished());
        shutdown.trigger();
        waiter.join().unwrap();
        shutdown.wait_blocking();
    }
}

//! [`CancelToken`]: how another thread (a GUI button, a Ctrl-C handler) stops the
//! operation in progress. The archive builder checks it between chunks; the
//! transports wait on it and kill their child when it fires.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A shared flag that can be raised from any thread and waited on.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<(Mutex<bool>, Condvar)>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the running operation to stop. Safe to call from any thread, any time.
    pub fn cancel(&self) {
        *self.flag() = true;
        self.0 .1.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.flag()
    }

    /// Lowers the flag, once the cancelled operation has returned.
    pub fn reset(&self) {
        *self.flag() = false;
    }

    /// Sleeps for at most `timeout`, waking early on cancellation. Returns
    /// whether the token is cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let guard = self.flag();
        if *guard {
            return true;
        }
        let (guard, _) = self
            .0
             .1
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }

    fn flag(&self) -> MutexGuard<'_, bool> {
        self.0 .0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn wakes_a_waiter_when_cancelled_from_another_thread() {
        let token = CancelToken::new();
        let other = token.clone();
        let started = Instant::now();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            other.cancel();
        });
        assert!(token.wait_timeout(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(canceller.join().is_ok());
        token.reset();
        assert!(!token.is_cancelled());
        assert!(!token.wait_timeout(Duration::from_millis(1)));
    }
}

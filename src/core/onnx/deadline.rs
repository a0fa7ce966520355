//! Run deadlines: one shared watchdog thread terminates runs that pass their deadline.
//!
//! ONNX Runtime stops a run cooperatively when its `RunOptions` terminate flag is set. Each
//! session owns one [`DeadlineSlot`] (runs on a session are serialised, so one set of options
//! suffices); a timed run writes its deadline into the slot, and a single watchdog thread sleeps
//! until the earliest deadline of all slots and terminates whatever is still running by then.
//! A timed call therefore costs two uncontended lock round-trips, not a thread or an allocation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use ort::session::RunOptions;

#[derive(Debug, Default)]
struct SlotState {
    deadline: Option<Instant>,
    fired: bool,
}

/// The run options and deadline of one session's runs.
pub struct DeadlineSlot {
    options: RunOptions,
    state: Mutex<SlotState>,
}

// `RunOptions` is `Send + Sync` in `ort` (terminating a run from another thread is its purpose), so
// the slot is too. `unterminate` and `terminate` are both called under `state`'s lock, so they
// never race with each other.

impl std::fmt::Debug for DeadlineSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadlineSlot")
            .field("state", &*self.state.lock())
            .finish()
    }
}

impl DeadlineSlot {
    /// A slot registered with the watchdog.
    pub fn new() -> ort::Result<Arc<Self>> {
        let slot = Arc::new(Self {
            options: RunOptions::new()?,
            state: Mutex::new(SlotState::default()),
        });
        Watchdog::shared().slots.lock().push(Arc::downgrade(&slot));
        Ok(slot)
    }

    /// The options to run with.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// Arms the slot for a run that must end within `timeout`; a timeout that reaches past the
    /// end of the clock arms nothing (the run has no deadline).
    pub fn arm(&self, timeout: Duration) {
        let Some(deadline) = Instant::now().checked_add(timeout) else {
            return;
        };
        self.state.lock().deadline = Some(deadline);
        Watchdog::shared().schedule(deadline);
    }

    /// Disarms the slot after a run; returns whether the run missed its deadline: the watchdog
    /// terminated it, or it ended after the deadline before the watchdog woke (a busy machine
    /// can delay that thread longer than a short run takes), so a deadline holds either way.
    pub fn disarm(&self) -> bool {
        let mut state = self.state.lock();
        let late = state
            .deadline
            .take()
            .is_some_and(|deadline| Instant::now() > deadline);
        if std::mem::take(&mut state.fired) {
            // Clear the flag so the next run on these options is not stopped at once. If this
            // fails the next run ends early with an error rather than running unchecked.
            let _ = self.options.unterminate();
            true
        } else {
            late
        }
    }

    fn fire_if_due(&self, now: Instant) -> Option<Instant> {
        let mut state = self.state.lock();
        match state.deadline {
            Some(deadline) if deadline <= now && !state.fired => {
                state.fired = true;
                state.deadline = None;
                let _ = self.options.terminate();
                None
            }
            other => other,
        }
    }
}

struct Watchdog {
    slots: Mutex<Vec<Weak<DeadlineSlot>>>,
    /// Nanoseconds since `epoch` of the watchdog's next wake-up; `u64::MAX` when idle.
    next_wake: AtomicU64,
    lock: Mutex<()>,
    wake: Condvar,
    epoch: Instant,
}

impl Watchdog {
    fn shared() -> &'static Watchdog {
        static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let watchdog: &'static Watchdog = Box::leak(Box::new(Watchdog {
                slots: Mutex::new(Vec::new()),
                next_wake: AtomicU64::new(u64::MAX),
                lock: Mutex::new(()),
                wake: Condvar::new(),
                epoch: Instant::now(),
            }));
            // If the thread cannot be spawned, deadlines are not enforced, but runs still work.
            let _ = std::thread::Builder::new()
                .name("atb-prediction-deadlines".to_owned())
                .spawn(move || watchdog.serve());
            watchdog
        })
    }

    fn nanos(&self, instant: Instant) -> u64 {
        instant
            .saturating_duration_since(self.epoch)
            .as_nanos()
            .min(u128::from(u64::MAX - 1)) as u64
    }

    /// Wakes the watchdog only when `deadline` is earlier than its next planned wake-up: with
    /// equal timeouts, later runs never need to.
    fn schedule(&self, deadline: Instant) {
        if self.nanos(deadline) < self.next_wake.load(Ordering::Acquire) {
            let _guard = self.lock.lock();
            self.next_wake
                .store(self.nanos(deadline), Ordering::Release);
            self.wake.notify_one();
        }
    }

    fn serve(&self) {
        let mut guard = self.lock.lock();
        loop {
            let now = Instant::now();
            let mut earliest: Option<Instant> = None;
            self.slots.lock().retain(|slot| match slot.upgrade() {
                Some(slot) => {
                    if let Some(deadline) = slot.fire_if_due(now) {
                        earliest = Some(earliest.map_or(deadline, |e| e.min(deadline)));
                    }
                    true
                }
                None => false,
            });
            match earliest {
                Some(deadline) => {
                    self.next_wake
                        .store(self.nanos(deadline), Ordering::Release);
                    self.wake.wait_until(&mut guard, deadline);
                }
                None => {
                    self.next_wake.store(u64::MAX, Ordering::Release);
                    self.wake.wait(&mut guard);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_state_round_trips_without_a_run() {
        let state = SlotState::default();
        assert!(state.deadline.is_none() && !state.fired);
    }
}

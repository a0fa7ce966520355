//! Run deadlines: one shared watchdog thread terminates runs that pass their deadline.
//!
//! ONNX Runtime stops a run cooperatively when its `RunOptions` terminate flag is set. Rather than a
//! thread per call, every timed run registers its options here; one thread sleeps until the
//! earliest deadline and sets the flag of whatever is still running by then.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use ort::session::RunOptions;

/// Run options shared between the running call and the watchdog.
pub struct RunControl {
    options: RunOptions,
    finished: AtomicBool,
    fired: AtomicBool,
}

// SAFETY: ONNX Runtime documents `RunOptionsSetTerminate` as safe to call from another thread while
// `Run` uses the same options; that is its purpose. Nothing else touches the options concurrently.
unsafe impl Send for RunControl {}
unsafe impl Sync for RunControl {}

impl RunControl {
    /// The options to pass to `run_with_options`.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// Whether the watchdog terminated this run.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }
}

/// Unregisters the run when dropped, so a finished run is never terminated late.
pub struct DeadlineGuard {
    control: Arc<RunControl>,
}

impl DeadlineGuard {
    /// The run's options and state.
    pub fn control(&self) -> &RunControl {
        &self.control
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        self.control.finished.store(true, Ordering::Release);
    }
}

struct Entry {
    deadline: Instant,
    control: Arc<RunControl>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.deadline.cmp(&other.deadline)
    }
}

struct Watchdog {
    queue: Mutex<BinaryHeap<Reverse<Entry>>>,
    wake: Condvar,
}

impl Watchdog {
    fn shared() -> &'static Watchdog {
        static WATCHDOG: OnceLock<&'static Watchdog> = OnceLock::new();
        WATCHDOG.get_or_init(|| {
            let watchdog: &'static Watchdog = Box::leak(Box::new(Watchdog {
                queue: Mutex::new(BinaryHeap::new()),
                wake: Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("atb-prediction-deadlines".to_owned())
                .spawn(move || watchdog.serve())
                .expect("spawning the deadline watchdog thread");
            watchdog
        })
    }

    fn serve(&self) {
        let mut queue = self.queue.lock();
        loop {
            let now = Instant::now();
            while let Some(Reverse(entry)) = queue.peek() {
                if entry.control.finished.load(Ordering::Acquire) {
                    queue.pop();
                } else if entry.deadline <= now {
                    let Reverse(entry) = queue.pop().expect("peeked entry");
                    entry.control.fired.store(true, Ordering::Release);
                    // A failure here only means the run could not be told to stop; it then ends on
                    // its own and the caller still sees the timeout through `fired`.
                    let _ = entry.control.options.terminate();
                } else {
                    break;
                }
            }
            match queue.peek() {
                Some(Reverse(entry)) => {
                    let deadline = entry.deadline;
                    self.wake.wait_until(&mut queue, deadline);
                }
                None => self.wake.wait(&mut queue),
            }
        }
    }
}

/// Registers a run that must end within `timeout`; keep the guard alive for the run.
pub fn register(timeout: Duration) -> ort::Result<DeadlineGuard> {
    let control = Arc::new(RunControl {
        options: RunOptions::new()?,
        finished: AtomicBool::new(false),
        fired: AtomicBool::new(false),
    });
    let watchdog = Watchdog::shared();
    let mut queue = watchdog.queue.lock();
    queue.push(Reverse(Entry {
        deadline: Instant::now() + timeout,
        control: Arc::clone(&control),
    }));
    drop(queue);
    watchdog.wake.notify_one();
    Ok(DeadlineGuard { control })
}

//! What the parallel workers of a sweep or a batch share to stop together: a cancel flag, and
//! the failure of the earliest work item, whichever worker met it; and how many cores they may
//! use.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::core::error::{Error, Result};

/// The cores this process may use, read once: reading them (the affinity mask and the cgroup's
/// CPU quota) took about 35 µs here, more than a small batch's whole run.
pub fn usable_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Shared by the workers of one parallel run.
#[derive(Debug, Default)]
pub struct Failure {
    cancelled: AtomicBool,
    /// `(rank, error)`: the rank of the work item that failed (its place in the order items are
    /// handed out), so that the error kept is the one a serial run would have met first.
    first: Mutex<Option<(usize, Error)>>,
}

impl Failure {
    /// Whether the workers should stop before their next item.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Asks the workers to stop before their next item (a failure, or the caller giving up).
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Runs a worker's `body`, which sets its `rank` to that of each item it takes. An error it
    /// returns, or a panic (a bug, reported as an internal error of `origin`'s `worker`),
    /// cancels the others and is kept unless an item of a lower rank failed too.
    pub fn guard(&self, origin: &str, worker: &str, body: impl FnOnce(&mut usize) -> Result<()>) {
        let mut rank = 0;
        let error = match catch_unwind(AssertUnwindSafe(|| body(&mut rank))) {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(_) => Error::Inference {
                origin: origin.to_owned(),
                reason: format!("internal error in a {worker} (please report this bug)"),
            },
        };
        self.cancel();
        let mut first = self.first.lock();
        if first
            .as_ref()
            .map_or(true, |(earliest, _)| rank < *earliest)
        {
            *first = Some((rank, error));
        }
    }

    /// The error kept, if any worker failed.
    pub fn into_error(self) -> Option<Error> {
        self.first.into_inner().map(|(_, error)| error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_failure_is_kept_and_panics_are_errors() {
        let failure = Failure::default();
        failure.guard("m", "worker", |rank| {
            *rank = 7;
            Err(Error::invalid_input("seven"))
        });
        assert!(failure.is_cancelled());
        failure.guard("m", "worker", |rank| {
            *rank = 3;
            Err(Error::invalid_input("three"))
        });
        failure.guard("m", "worker", |rank| {
            *rank = 5;
            Err(Error::invalid_input("five"))
        });
        failure.guard("m", "worker", |_| Ok(()));
        assert_eq!(failure.into_error().unwrap().to_string(), "three");
        let panicked = Failure::default();
        panicked.guard("model.onnx", "batch worker", |_| panic!("boom"));
        assert_eq!(
            panicked.into_error().unwrap().to_string(),
            "inference failed for model.onnx: internal error in a batch worker (please report \
             this bug)"
        );
        assert!(Failure::default().into_error().is_none());
    }
}

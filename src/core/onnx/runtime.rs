//! Loads the ONNX Runtime shared library exactly once per process, with the thread pools every
//! session shares.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, so the package builds with
//! no download. The Python layer finds the library that the `onnxruntime` wheel ships and passes its
//! absolute path here before the first session is created.
//!
//! The environment is created with ONNX Runtime's global intra-op and inter-op thread pools, so a
//! process holds one set of pool threads however many models it opens; only a session that asks
//! for its own thread counts gets a pool of its own ([`crate::core::onnx::session::SessionOptions`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::GlobalThreadPoolOptions;
use parking_lot::Mutex;

use crate::core::error::{Error, Result};

/// The sizes and spinning policy of the process-wide thread pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadPools {
    /// Threads working inside one operator; `None` lets ONNX Runtime use one per physical core.
    pub intra_op_threads: Option<usize>,
    /// Threads running independent operators of sessions that opt into parallel execution;
    /// `None` means 1 (no extra thread), as sessions run their graphs sequentially by default.
    pub inter_op_threads: Option<usize>,
    /// Whether idle pool threads busy-wait for work. Off by default: spinning only pays when a
    /// pool is never idle, and with many models it takes cores from the runs themselves.
    pub allow_spinning: bool,
}

impl ThreadPools {
    /// Rejects a thread count of 0 (ONNX Runtime would read it as "its default").
    pub fn validate(&self) -> Result<()> {
        check_thread_counts(
            self.intra_op_threads,
            self.inter_op_threads,
            "for the default",
        )
    }

    fn to_ort(self) -> ort::Result<GlobalThreadPoolOptions> {
        GlobalThreadPoolOptions::default()
            .with_intra_threads(self.intra_op_threads.unwrap_or(0))?
            .with_inter_threads(self.inter_op_threads.unwrap_or(1))?
            .with_spin_control(self.allow_spinning)
    }
}

/// Refuses a thread count of 0 (ONNX Runtime would read it as "its default"); the message says
/// what `None` means instead (`none_means`, completing "or None ...").
pub fn check_thread_counts(
    intra_op_threads: Option<usize>,
    inter_op_threads: Option<usize>,
    none_means: &str,
) -> Result<()> {
    for (name, value) in [
        ("intra_op_threads", intra_op_threads),
        ("inter_op_threads", inter_op_threads),
    ] {
        if value == Some(0) {
            return Err(Error::InvalidArgument(format!(
                "{name} must be at least 1, or None {none_means}"
            )));
        }
    }
    Ok(())
}

/// The outcome of the first initialisation, replayed to every later caller.
static RUNTIME: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

/// The pools the library is (or will be, before it loads) started with.
static POOLS: Mutex<ThreadPools> = Mutex::new(ThreadPools {
    intra_op_threads: None,
    inter_op_threads: None,
    allow_spinning: false,
});

/// Sets the shared thread pools; takes effect only before the library loads.
///
/// Returns the pools in use: `pools` itself before the first session, or the pools the running
/// library was started with, which a process cannot change (the caller compares and reports).
pub fn configure_thread_pools(pools: ThreadPools) -> Result<ThreadPools> {
    pools.validate()?;
    let mut current = POOLS.lock();
    if RUNTIME.get().is_none() {
        *current = pools;
    }
    Ok(*current)
}

/// The thread pools sessions share (the configured ones, before the library loads).
pub fn thread_pools() -> ThreadPools {
    *POOLS.lock()
}

/// Loads the library at `path` unless a library is already loaded; returns the path in use.
///
/// Later calls with another path keep the first library: a process can hold only one ONNX Runtime.
pub fn ensure_loaded(path: &Path) -> Result<PathBuf> {
    let outcome = RUNTIME.get_or_init(|| {
        // Held while loading, so a concurrent `configure_thread_pools` is either applied or
        // reported as too late, never lost.
        let pools = POOLS.lock();
        load(path, *pools)
    });
    outcome.clone().map_err(Error::RuntimeUnavailable)
}

/// The path of the loaded library, if one is loaded.
pub fn loaded_path() -> Option<PathBuf> {
    RUNTIME
        .get()
        .and_then(|outcome| outcome.as_ref().ok().cloned())
}

/// Fails unless [`ensure_loaded`] succeeded earlier; guards every call into `ort`, whose own lazy
/// loader would panic rather than report an error.
pub fn require_loaded() -> Result<()> {
    match RUNTIME.get() {
        Some(Ok(_)) => Ok(()),
        Some(Err(reason)) => Err(Error::RuntimeUnavailable(reason.clone())),
        None => Err(Error::RuntimeUnavailable(
            "the ONNX Runtime library has not been loaded yet".to_owned(),
        )),
    }
}

fn load(path: &Path, pools: ThreadPools) -> std::result::Result<PathBuf, String> {
    if !path.is_absolute() {
        return Err(format!(
            "expected an absolute path to libonnxruntime, got `{}`",
            path.display()
        ));
    }
    if !path.is_file() {
        return Err(format!("no library file at `{}`", path.display()));
    }
    let builder = ort::init_from(path).map_err(|error| error.to_string())?;
    let pools = pools
        .to_ort()
        .map_err(|error| format!("cannot configure the shared thread pools: {error}"))?;
    // Commit the default environment now so that a broken library fails here, once, with a clear
    // message, rather than inside the first session.
    builder
        .with_name("atb-prediction")
        .with_global_thread_pool(pools)
        .commit();
    ort::environment::Environment::current()
        .map_err(|error| format!("`{}` loaded but would not start: {error}", path.display()))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_are_rejected() {
        let pools = ThreadPools {
            intra_op_threads: Some(0),
            ..ThreadPools::default()
        };
        assert!(pools.validate().is_err());
        assert!(ThreadPools::default().validate().is_ok());
    }
}

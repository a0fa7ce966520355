//! What the parallel workers of a sweep, a batch, a scan or the scores share: how many cores
//! they may use ([`usable_cores`], the one count for all of them, and the rayon pool sized by
//! it: [`install`]), and, to stop together, a cancel flag and the failure of the earliest work item,
//! whichever worker met it ([`Failure`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::core::error::{Error, Result};

/// Where cgroup file systems are mounted (v2 there; v1 controllers in folders under it).
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The cores this process may use: its CPU affinity, capped by the CPU quota of its cgroup (a
/// container limited to two CPUs on a 64-core host gets 2, not 64). Sweeps, `predict_batch`,
/// the scan, a reload and the scores all size their workers by it. Read once: reading the
/// affinity mask and the cgroup files took about 35 µs here, more than a small batch's run.
pub fn usable_cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        // The standard library counts the affinity mask (and applies the quotas it finds).
        let available = std::thread::available_parallelism().map_or(1, usize::from);
        match own_cgroup() {
            Some(cgroup) => cores_within(available, Path::new(CGROUP_MOUNT), &cgroup),
            None => available,
        }
    })
}

/// `available` cores, capped by the tightest CPU quota of the cgroup `cgroup` (a path relative
/// to `mount`, as `/proc/self/cgroup` names it) and of its ancestors: cgroup v2's `cpu.max`
/// (`QUOTA PERIOD`, or `max PERIOD` for none), else v1's `cpu/cpu.cfs_quota_us` and
/// `cpu.cfs_period_us` (`-1`: none). A quota of `q` CPUs allows `floor(q)` of them, at least 1.
pub fn cores_within(available: usize, mount: &Path, cgroup: &Path) -> usize {
    let relative = cgroup.strip_prefix("/").unwrap_or(cgroup);
    let mut limit = available.max(1);
    for base in [
        mount.to_path_buf(),
        mount.join("cpu"),
        mount.join("cpu,cpuacct"),
    ] {
        let mut folder = Some(relative);
        while let Some(part) = folder {
            if let Some(cores) = quota_cores(&base.join(part)) {
                limit = limit.min(cores);
            }
            folder = part.parent();
        }
    }
    limit
}

/// The CPUs the quota files of one cgroup folder allow, when they set a quota.
fn quota_cores(folder: &Path) -> Option<usize> {
    let read = |name: &str| std::fs::read_to_string(folder.join(name)).ok();
    let (quota, period) = if let Some(text) = read("cpu.max") {
        let mut fields = text.split_whitespace();
        (
            fields.next()?.parse::<u64>().ok()?,
            fields.next()?.parse::<u64>().ok()?,
        )
    } else {
        let quota = read("cpu.cfs_quota_us")?.trim().parse::<i64>().ok()?;
        let period = read("cpu.cfs_period_us")?.trim().parse::<u64>().ok()?;
        (u64::try_from(quota).ok()?, period)
    };
    let cores = quota.checked_div(period)?;
    Some(usize::try_from(cores).unwrap_or(usize::MAX).max(1))
}

/// This process's cgroup as `/proc/self/cgroup` names it: the v2 entry (`0::/path`), else the
/// v1 entry of the `cpu` controller.
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let entries: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            Some((parts.next()?, parts.next()?))
        })
        .collect();
    let v2 = entries
        .iter()
        .find(|(controllers, _)| controllers.is_empty());
    let v1 = entries
        .iter()
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "cpu"));
    v2.or(v1).map(|(_, path)| PathBuf::from(path))
}

/// Runs `op` on the rayon pool of the scan, a reload and the scores: [`usable_cores`] threads,
/// built on first use (rayon's global pool would count the host's cores, and may be another
/// library's). Where no thread can be started for it, `op` runs on rayon's global pool.
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(usable_cores())
            .thread_name(|index| format!("atb-core-{index}"))
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(op),
        None => op(),
    }
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
    fn a_cgroup_quota_caps_the_cores() {
        let mount = std::env::temp_dir().join(format!("atb-cgroup-{}", std::process::id()));
        let write = |path: &str, text: &str| {
            let path = mount.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        // v2: two CPUs for the container, no quota of its own for the process's leaf.
        write("box/cpu.max", "200000 100000\n");
        write("box/app/cpu.max", "max 100000\n");
        assert_eq!(cores_within(64, &mount, Path::new("/box/app")), 2);
        assert_eq!(cores_within(1, &mount, Path::new("/box/app")), 1);
        // Half a CPU still allows one; no quota leaves the count alone.
        write("half/cpu.max", "50000 100000\n");
        assert_eq!(cores_within(8, &mount, Path::new("/half")), 1);
        assert_eq!(cores_within(8, &mount, Path::new("/elsewhere")), 8);
        // v1: the cpu controller's quota, -1 for none.
        write("cpu/v1/cpu.cfs_quota_us", "300000\n");
        write("cpu/v1/cpu.cfs_period_us", "100000\n");
        assert_eq!(cores_within(16, &mount, Path::new("/v1")), 3);
        write("cpu/none/cpu.cfs_quota_us", "-1\n");
        write("cpu/none/cpu.cfs_period_us", "100000\n");
        assert_eq!(cores_within(16, &mount, Path::new("/none")), 16);
        std::fs::remove_dir_all(&mount).unwrap();
        assert!(usable_cores() >= 1);
        assert_eq!(install(rayon::current_num_threads), usable_cores());
    }

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

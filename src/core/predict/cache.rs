//! The built-in prediction cache: thread-safe, entries expire after a TTL, and the least
//! recently used entry goes first when the cache is full.
//!
//! An entry is keyed like upstream's `PredictionCacheManager` keys it: a model name (the bundle
//! key, so two bundles that both name their file `model.onnx` never share entries), a digest of
//! the prediction configuration, and a digest of the features' dtype, shape and bytes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use xxhash_rust::xxh3::Xxh3;

use crate::core::error::{Error, Result};
// FxHash, not SipHash: the keys (paths the scan listed, digests) are not attacker-chosen, and
// SipHash's cost shows on a rescan of thousands of folders.
use rustc_hash::FxHashMap;

/// A 128-bit digest: of feature data (equal only for the same dtype, shape and bytes), or of a
/// configuration's canonical text.
pub type Digest = [u8; 16];

/// Digests features given as their dtype name, shape and raw bytes.
pub fn digest(dtype: &str, shape: &[usize], bytes: &[u8]) -> Digest {
    let mut hasher = Xxh3::new();
    hasher.update(dtype.as_bytes());
    hasher.update(&[0]);
    for dim in shape {
        hasher.update(&(*dim as u64).to_le_bytes());
    }
    hasher.update(&[0xff]);
    hasher.update(bytes);
    hasher.digest128().to_le_bytes()
}

/// [`digest`] of a tensor given as its shape and data: the one features key of the cache.
pub fn tensor_digest(shape: &[usize], data: &crate::core::onnx::tensor::TensorView<'_>) -> Digest {
    digest(data.element_type().name(), shape, data.as_bytes())
}

/// Digests a configuration's canonical text (upstream's `json.dumps(config, sort_keys=True)`).
pub fn config_digest(text: &str) -> Digest {
    xxhash_rust::xxh3::xxh3_128(text.as_bytes()).to_le_bytes()
}

/// A TTL in seconds as a [`Duration`], refusing what is not positive, not finite, or too large
/// for a `Duration` (which would otherwise panic deep inside the cache).
pub fn ttl_from_secs(seconds: f64) -> Result<Duration> {
    let invalid = || {
        Error::InvalidArgument(format!(
            "ttl must be a positive number of seconds no larger than {}, got {seconds}",
            Duration::MAX.as_secs()
        ))
    };
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(invalid());
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| invalid())
}

/// What the cache keeps per entry: upstream's cached fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CachedPrediction {
    /// The predicted price.
    pub price: f64,
    /// The confidence.
    pub confidence: f64,
    /// The direction (kept wide: the Python API accepts any integer).
    pub direction: i64,
}

/// Where an entry lives: model name, configuration digest, features digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model name (a bundle key).
    pub model: Arc<str>,
    /// [`config_digest`] of the configuration.
    pub config: Digest,
    /// [`digest`] of the features.
    pub features: Digest,
}

/// Counters since the cache was made (upstream's `get_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing or an expired entry.
    pub misses: u64,
    /// Entries written.
    pub sets: u64,
    /// Entries dropped to stay within the size bound.
    pub evictions: u64,
    /// Entries dropped because their TTL had passed.
    pub expirations: u64,
}

struct Entry {
    /// `None` when the TTL reaches past what an `Instant` can represent: never expires.
    expires: Option<Instant>,
    tick: u64,
    value: CachedPrediction,
}

#[derive(Default)]
struct Entries {
    by_key: FxHashMap<CacheKey, Entry>,
    /// Recency order: the smallest tick is the least recently used key.
    by_tick: BTreeMap<u64, CacheKey>,
    next_tick: u64,
    stats: CacheStats,
}

impl Entries {
    fn tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick += 1;
        tick
    }

    fn remove(&mut self, key: &CacheKey) -> bool {
        match self.by_key.remove(key) {
            Some(entry) => {
                self.by_tick.remove(&entry.tick);
                true
            }
            None => false,
        }
    }

    fn remove_where(&mut self, doomed: impl Fn(&CacheKey) -> bool) -> usize {
        let keys: Vec<CacheKey> = self.by_key.keys().filter(|k| doomed(k)).cloned().collect();
        for key in &keys {
            self.remove(key);
        }
        keys.len()
    }
}

/// A TTL- and size-bounded, thread-safe cache of predictions.
pub struct PredictionCache {
    ttl: Duration,
    max_size: usize,
    entries: Mutex<Entries>,
    /// Nanoseconds added to the monotonic clock: tests move time forward instead of sleeping.
    clock_offset: AtomicU64,
}

impl std::fmt::Debug for PredictionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictionCache")
            .field("ttl", &self.ttl)
            .field("max_size", &self.max_size)
            .field("len", &self.len())
            .finish()
    }
}

impl PredictionCache {
    /// A cache whose entries live `ttl` and which holds at most `max_size` (at least 1) of them.
    pub fn new(ttl: Duration, max_size: usize) -> Self {
        Self {
            ttl,
            max_size: max_size.max(1),
            entries: Mutex::new(Entries::default()),
            clock_offset: AtomicU64::new(0),
        }
    }

    /// The cache's clock: the monotonic clock plus however far [`Self::advance_clock`] moved it.
    fn now(&self) -> Instant {
        let offset = Duration::from_nanos(self.clock_offset.load(Ordering::Relaxed));
        let now = Instant::now();
        now.checked_add(offset).unwrap_or(now)
    }

    /// Moves this cache's clock forward by `by` (saturating), so that expiry can be tested
    /// without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .clock_offset
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(old.saturating_add(nanos))
            });
    }

    /// How long entries live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The most entries kept.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The cached prediction, unless absent or expired (an expired entry is dropped).
    pub fn get(&self, key: &CacheKey) -> Option<CachedPrediction> {
        let mut entries = self.entries.lock();
        let tick = entries.tick();
        let now = self.now();
        let found = match entries.by_key.get_mut(key) {
            Some(entry) if entry.expires.map_or(true, |at| at > now) => {
                let old = std::mem::replace(&mut entry.tick, tick);
                Some((old, entry.value))
            }
            Some(_) => {
                entries.remove(key);
                entries.stats.expirations += 1;
                None
            }
            None => None,
        };
        match found {
            Some((old, value)) => {
                entries.by_tick.remove(&old);
                entries.by_tick.insert(tick, key.clone());
                entries.stats.hits += 1;
                Some(value)
            }
            None => {
                entries.stats.misses += 1;
                None
            }
        }
    }

    /// Stores a prediction, evicting the least recently used entries beyond `max_size`.
    pub fn set(&self, key: CacheKey, value: CachedPrediction) {
        let expires = self.now().checked_add(self.ttl);
        let mut entries = self.entries.lock();
        entries.remove(&key);
        let tick = entries.tick();
        entries.by_tick.insert(tick, key.clone());
        entries.by_key.insert(
            key,
            Entry {
                expires,
                tick,
                value,
            },
        );
        entries.stats.sets += 1;
        while entries.by_key.len() > self.max_size {
            let Some((_, oldest)) = entries.by_tick.pop_first() else {
                break;
            };
            entries.by_key.remove(&oldest);
            entries.stats.evictions += 1;
        }
    }

    /// Drops everything; returns how many entries there were.
    pub fn clear(&self) -> usize {
        let mut entries = self.entries.lock();
        let count = entries.by_key.len();
        entries.by_key.clear();
        entries.by_tick.clear();
        count
    }

    /// Drops one model's entries; returns how many.
    pub fn invalidate_model(&self, model: &str) -> usize {
        self.entries.lock().remove_where(|key| &*key.model == model)
    }

    /// Drops one model's entries made under one configuration; returns how many.
    pub fn invalidate_config(&self, model: &str, config: &Digest) -> usize {
        self.entries
            .lock()
            .remove_where(|key| &*key.model == model && key.config == *config)
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        self.entries.lock().stats
    }

    /// How many entries are held (expired ones included until they are looked up).
    pub fn len(&self) -> usize {
        self.entries.lock().by_key.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(price: f64) -> CachedPrediction {
        CachedPrediction {
            price,
            confidence: 0.5,
            direction: 1,
        }
    }

    fn key(model: &str, config: u8, features: u8) -> CacheKey {
        CacheKey {
            model: Arc::from(model),
            config: [config; 16],
            features: [features; 16],
        }
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = PredictionCache::new(Duration::from_secs(60), 2);
        let (a, b, c) = (key("m", 0, 1), key("m", 0, 2), key("m", 0, 3));
        cache.set(a.clone(), value(1.0));
        cache.set(b.clone(), value(2.0));
        assert!(cache.get(&a).is_some());
        cache.set(c, value(3.0));
        assert!(cache.get(&b).is_none());
        assert_eq!(cache.get(&a).unwrap().price, 1.0);
        assert_eq!(cache.len(), 2);
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.sets), (2, 1, 3));
        assert_eq!(stats.evictions, 1);
        assert_eq!(cache.invalidate_model("m"), 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_expire() {
        let cache = PredictionCache::new(Duration::from_millis(1), 10);
        cache.set(key("m", 0, 0), value(1.0));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&key("m", 0, 0)).is_none());
        assert_eq!(cache.len(), 0);
        assert_eq!(cache.stats().expirations, 1);
    }

    #[test]
    fn configurations_are_told_apart_and_invalidated_alone() {
        let cache = PredictionCache::new(Duration::from_secs(60), 10);
        cache.set(key("m", 1, 0), value(1.0));
        cache.set(key("m", 2, 0), value(2.0));
        cache.set(key("n", 1, 0), value(3.0));
        assert_eq!(cache.get(&key("m", 2, 0)).unwrap().price, 2.0);
        assert_eq!(cache.invalidate_config("m", &[1; 16]), 1);
        assert!(cache.get(&key("m", 1, 0)).is_none());
        assert!(cache.get(&key("n", 1, 0)).is_some());
        assert_eq!(cache.clear(), 2);
    }

    #[test]
    fn huge_ttls_are_refused_or_never_expire_instead_of_panicking() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e30] {
            assert!(ttl_from_secs(bad).is_err(), "{bad}");
        }
        // Representable as a Duration, but not as an Instant from now: never expires.
        let cache = PredictionCache::new(ttl_from_secs(1e19).unwrap(), 10);
        cache.set(key("m", 0, 0), value(1.0));
        assert!(cache.get(&key("m", 0, 0)).is_some());
    }

    #[test]
    fn digests_tell_shapes_and_dtypes_apart() {
        let bytes = [0u8; 24];
        assert_ne!(
            digest("float32", &[2, 3], &bytes),
            digest("float32", &[3, 2], &bytes)
        );
        assert_ne!(
            digest("float32", &[6], &bytes),
            digest("int32", &[6], &bytes)
        );
        assert_eq!(
            digest("float64", &[3], &bytes),
            digest("float64", &[3], &bytes)
        );
    }
}

//! The built-in prediction cache: thread-safe, entries expire after a TTL, and the least
//! recently used entry goes first when the cache is full.
//!
//! Keys are a model key (the bundle key, so two bundles that both name their file `model.onnx`
//! never share entries) and a 128-bit digest of the features' dtype, shape and bytes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use xxhash_rust::xxh3::Xxh3;

use crate::core::hashing::FastMap;
use crate::core::predict::Prediction;

/// A digest of feature data: equal only for the same dtype, shape and bytes.
pub type Digest = [u8; 16];

/// A caller's digest of any length as a [`Digest`]: 16 bytes are kept as they are (what
/// [`digest`] makes), anything else is hashed down to 16.
pub fn normalize_digest(bytes: &[u8]) -> Digest {
    match <Digest>::try_from(bytes) {
        Ok(digest) => digest,
        Err(_) => xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes(),
    }
}

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

/// What the cache keeps per entry: a prediction and the model name it reported.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedPrediction {
    /// The predicted price.
    pub price: f64,
    /// The confidence.
    pub confidence: f64,
    /// The direction (kept wide: the Python API accepts any integer).
    pub direction: i64,
    /// The model name.
    pub model_name: String,
    /// Class probabilities, for classifiers.
    pub probabilities: Option<Vec<f64>>,
    /// Seconds the original prediction took.
    pub inference_time: f64,
}

impl CachedPrediction {
    /// Wraps a core prediction.
    pub fn new(prediction: Prediction, model_name: String) -> Self {
        Self {
            price: prediction.price,
            confidence: prediction.confidence,
            direction: i64::from(prediction.direction),
            model_name,
            probabilities: prediction.probabilities,
            inference_time: 0.0,
        }
    }
}

type Key = (Arc<str>, Digest);

struct Entry {
    expires: Instant,
    tick: u64,
    value: CachedPrediction,
}

#[derive(Default)]
struct Entries {
    by_key: FastMap<Key, Entry>,
    /// Recency order: the smallest tick is the least recently used key.
    by_tick: BTreeMap<u64, Key>,
    next_tick: u64,
}

impl Entries {
    fn touch(&mut self, key: &Key) {
        let tick = self.next_tick;
        self.next_tick += 1;
        if let Some(entry) = self.by_key.get_mut(key) {
            self.by_tick.remove(&entry.tick);
            entry.tick = tick;
            self.by_tick.insert(tick, key.clone());
        }
    }

    fn remove(&mut self, key: &Key) -> bool {
        match self.by_key.remove(key) {
            Some(entry) => {
                self.by_tick.remove(&entry.tick);
                true
            }
            None => false,
        }
    }
}

/// A TTL- and size-bounded, thread-safe cache of predictions.
pub struct PredictionCache {
    ttl: Duration,
    max_size: usize,
    entries: Mutex<Entries>,
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
        }
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
    pub fn get(&self, model_key: &Arc<str>, digest: &Digest) -> Option<CachedPrediction> {
        let key = (Arc::clone(model_key), *digest);
        let mut entries = self.entries.lock();
        let expires = entries.by_key.get(&key)?.expires;
        if expires <= Instant::now() {
            entries.remove(&key);
            return None;
        }
        entries.touch(&key);
        entries.by_key.get(&key).map(|entry| entry.value.clone())
    }

    /// Stores a prediction, evicting the least recently used entries beyond `max_size`.
    pub fn set(&self, model_key: &Arc<str>, digest: &Digest, value: CachedPrediction) {
        let key = (Arc::clone(model_key), *digest);
        let mut entries = self.entries.lock();
        entries.remove(&key);
        let tick = entries.next_tick;
        entries.next_tick += 1;
        entries.by_tick.insert(tick, key.clone());
        let expires = Instant::now() + self.ttl;
        entries.by_key.insert(
            key,
            Entry {
                expires,
                tick,
                value,
            },
        );
        while entries.by_key.len() > self.max_size {
            let Some((_, oldest)) = entries.by_tick.pop_first() else {
                break;
            };
            entries.by_key.remove(&oldest);
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
    pub fn invalidate_model(&self, model_key: &str) -> usize {
        let mut entries = self.entries.lock();
        let doomed: Vec<Key> = entries
            .by_key
            .keys()
            .filter(|(model, _)| &**model == model_key)
            .cloned()
            .collect();
        for key in &doomed {
            entries.remove(key);
        }
        doomed.len()
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
        CachedPrediction::new(
            Prediction {
                price,
                confidence: 0.5,
                direction: 1,
                probabilities: None,
            },
            "m".to_owned(),
        )
    }

    #[test]
    fn least_recently_used_goes_first() {
        let cache = PredictionCache::new(Duration::from_secs(60), 2);
        let model: Arc<str> = Arc::from("m");
        let (a, b, c) = ([1; 16], [2; 16], [3; 16]);
        cache.set(&model, &a, value(1.0));
        cache.set(&model, &b, value(2.0));
        assert!(cache.get(&model, &a).is_some());
        cache.set(&model, &c, value(3.0));
        assert!(cache.get(&model, &b).is_none());
        assert_eq!(cache.get(&model, &a).unwrap().price, 1.0);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.invalidate_model("m"), 2);
        assert!(cache.is_empty());
    }

    #[test]
    fn entries_expire() {
        let cache = PredictionCache::new(Duration::from_millis(1), 10);
        let model: Arc<str> = Arc::from("m");
        cache.set(&model, &[0; 16], value(1.0));
        std::thread::sleep(Duration::from_millis(5));
        assert!(cache.get(&model, &[0; 16]).is_none());
        assert_eq!(cache.len(), 0);
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

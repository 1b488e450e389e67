//! A small time-bounded cache for values that never change once created
//! (tenants, clients, which key is current for a few seconds).
//!
//! Only hits are cached, never misses, so something created a moment ago
//! (by the CLI, or another node) is found at once. Entries live `ttl`; the
//! map is cleared when it grows past `capacity`, which bounds memory.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A positive-only TTL cache, cheap to clone.
#[derive(Debug, Clone)]
pub struct TtlCache<K, V> {
    inner: Arc<Mutex<HashMap<K, (V, Instant)>>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    /// A cache whose entries live `ttl`, holding at most about `capacity`.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            inner: Arc::default(),
            ttl,
            capacity,
        }
    }

    /// The cached value, if fresh.
    pub fn get(&self, key: &K) -> Option<V> {
        let map = self.inner.lock().ok()?;
        map.get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    /// Caches `value`.
    pub fn insert(&self, key: K, value: V) {
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, (value, Instant::now()));
        }
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_capacity_is_bounded() {
        let cache = TtlCache::new(Duration::from_millis(30), 2);
        cache.insert("a", 1);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.insert("b", 2);
        cache.insert("c", 3); // over capacity: cleared first
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get(&"c"), Some(3));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"c"), None);
        cache.insert("d", 4);
        cache.remove(&"d");
        assert_eq!(cache.get(&"d"), None);
    }
}

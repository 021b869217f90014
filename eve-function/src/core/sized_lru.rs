//! Values by key in least-recently-used order, bounded by the bytes they take rather than by
//! how many there are: a few large values and many small ones are held to the same memory.

use lru::LruCache;

pub struct SizedLru<V> {
    entries: LruCache<String, (V, usize)>,
    bytes: usize,
    capacity_bytes: usize,
}

impl<V> SizedLru<V> {
    pub fn new(capacity_bytes: usize) -> Self {
        Self {
            entries: LruCache::unbounded(),
            bytes: 0,
            capacity_bytes,
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains(key)
    }

    /// The value under `key`, marked as used.
    pub fn get(&mut self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    /// The value under `key` to change in place, without marking it used; what it takes must
    /// stay the bytes it was put with.
    pub fn peek_mut(&mut self, key: &str) -> Option<&mut V> {
        self.entries.peek_mut(key).map(|(value, _)| value)
    }

    /// The value under `key`, without marking it used.
    pub fn peek(&self, key: &str) -> Option<&V> {
        self.entries.peek(key).map(|(value, _)| value)
    }

    /// Takes the value under `key` out, with the bytes it was put with.
    pub fn pop(&mut self, key: &str) -> Option<(V, usize)> {
        let (value, bytes) = self.entries.pop(key)?;
        self.bytes -= bytes;
        Some((value, bytes))
    }

    /// Keeps `value` as the most recently used, taking `bytes`; the least recently used go
    /// until all fit the capacity (the new one too, if it alone is larger).
    pub fn put(&mut self, key: String, value: V, bytes: usize) {
        if let Some((_, old)) = self.entries.put(key, (value, bytes)) {
            self.bytes -= old;
        }
        self.bytes += bytes;
        while self.bytes > self.capacity_bytes {
            match self.entries.pop_lru() {
                Some((_, (_, evicted))) => self.bytes -= evicted,
                None => break,
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_once_past_the_capacity() {
        let mut values = SizedLru::new(10);
        values.put("a".into(), 'a', 4);
        values.put("b".into(), 'b', 4);
        assert_eq!(values.get("a"), Some(&'a'), "a is now the most recent");
        values.put("c".into(), 'c', 4);
        assert!(values.contains("a") && !values.contains("b") && values.contains("c"));
        assert_eq!(values.bytes(), 8);
        values.put("a".into(), 'A', 2);
        assert_eq!((values.bytes(), values.pop("a")), (6, Some(('A', 2))));
        values.put("huge".into(), 'h', 11);
        assert!(values.is_empty() && values.bytes() == 0);
    }
}

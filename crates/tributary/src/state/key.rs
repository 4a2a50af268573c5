//! A stored key's bytes, kept inline when short.
//!
//! Most state keys are short: a row id or an integer group key is 9 bytes in Arrow's row
//! format, a window and an integer 27. A [`KeyedStore`](super::KeyedStore) holds each key in
//! its hash index, its time index and its group index; inline keys make those copies a few
//! words each instead of an allocation each. A `Key` hashes, compares and orders exactly as
//! its bytes do, so maps keyed by `Key` are looked up with `&[u8]`.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

/// Bytes kept inline up to this length.
const INLINE: usize = 30;

/// Key bytes: inline up to [`INLINE`] bytes, on the heap beyond.
#[derive(Clone)]
pub(crate) enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    /// The key's bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// Heap memory the key holds beyond its own size.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Key::Inline { .. } => 0,
            Key::Heap(b) => b.len(),
        }
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::Inline {
            len: 0,
            bytes: [0; INLINE],
        }
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Self {
        if b.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..b.len()].copy_from_slice(b);
            Key::Inline {
                len: b.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(b.into())
        }
    }
}

impl Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `[u8]` hashes, so that lookups by `&[u8]` find the key.
        self.as_slice().hash(state)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeSet, HashMap};

    #[test]
    fn short_and_long_keys_behave_as_their_bytes() {
        let long = vec![7u8; INLINE + 5];
        let keys: Vec<&[u8]> = vec![b"", b"a", b"ab", &[0xff; INLINE], &long];
        let mut map: HashMap<Key, usize, ahash::RandomState> = HashMap::default();
        for (i, k) in keys.iter().enumerate() {
            let key = Key::from(*k);
            assert_eq!(key.as_slice(), *k);
            assert_eq!(key.heap_bytes() > 0, k.len() > INLINE);
            map.insert(key, i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(*k), Some(&i), "{k:?}");
        }
        // Ordered as the bytes are, so a range by `Key::default()` starts at the smallest.
        let set: BTreeSet<Key> = keys.iter().map(|k| Key::from(*k)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(set.iter().map(|k| k.as_slice()).collect::<Vec<_>>(), sorted);
        assert!(Key::default() <= Key::from(&b""[..]));
    }
}

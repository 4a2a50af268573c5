//! Buffers that whole-file reads of local files reuse.
//!
//! A stream reads its input files whole (`Location::read`), decodes them and drops the bytes. A
//! fresh buffer for each file costs the kernel a zeroed page for every 4 KiB read (15% of a
//! JSON stream's CPU, by `perf`), and the allocator gives freed memory back to the system soon
//! after. The buffers of big reads are kept here instead, and the next read of a file that fits
//! takes one: its pages are mapped already.
//!
//! ```text
//!   read(file) --take--> Vec (pooled, or new) --fill--> Bytes::from_owner(Pooled)
//!        ^                                                   | last clone dropped
//!        `------------------- give back ------------------------'
//! ```
//!
//! The pool keeps at most [`KEEP_BYTES`] in all; a read under [`MIN_BYTES`] never uses it.

use std::io::Read;
use std::sync::Mutex;

use bytes::Bytes;

/// Reads smaller than this take a buffer of their own, as before.
const MIN_BYTES: u64 = 1 << 20;

/// The most the pool keeps, in bytes of capacity: what a stream's reads hold at once (a file
/// per core, and the read-ahead's 64 MiB), which it needed at its peak anyway.
const KEEP_BYTES: usize = 128 << 20;

/// Buffers no read holds.
static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Read the local file at `path` whole: into a pooled buffer when it holds [`MIN_BYTES`] or
/// more (a file that grows meanwhile is read as it is).
pub(crate) fn read(path: &std::path::Path) -> std::io::Result<Bytes> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size < MIN_BYTES {
        let mut buf = Vec::with_capacity(size as usize + 1);
        file.read_to_end(&mut buf)?;
        return Ok(Bytes::from(buf));
    }
    let mut buf = take(size as usize + 1)?;
    if let Err(e) = file.read_to_end(&mut buf) {
        give_back(buf);
        return Err(e);
    }
    Ok(Bytes::from_owner(Pooled(buf)))
}

/// An empty buffer of at least `capacity`: the smallest pooled one that holds it and is not
/// more than twice as big (a small file does not hold a big buffer, which a slice of its bytes
/// may keep alive), or a new one; an error, not an abort, when memory is short.
fn take(capacity: usize) -> std::io::Result<Vec<u8>> {
    {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let fitting = pool
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= capacity && b.capacity() / 2 <= capacity)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        if let Some(i) = fitting {
            return Ok(pool.swap_remove(i));
        }
    }
    // An eighth more, in whole MiB, so that files of about one size share buffers (not for a
    // buffer too big to be kept).
    let rounded = (capacity + capacity / 8).next_multiple_of(1 << 20);
    let want = if rounded <= KEEP_BYTES {
        rounded
    } else {
        capacity
    };
    let mut buf = Vec::new();
    buf.try_reserve_exact(want)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::OutOfMemory, e))?;
    Ok(buf)
}

/// Keep `buf` for a later read, dropping the smallest kept buffers to stay within
/// [`KEEP_BYTES`] (a buffer bigger than that is not kept).
fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() > KEEP_BYTES {
        return;
    }
    buf.clear();
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.push(buf);
    pool.sort_by_key(|b| std::cmp::Reverse(b.capacity()));
    let mut kept = 0;
    pool.retain(|b| {
        kept += b.capacity();
        kept <= KEEP_BYTES
    });
}

/// A pooled buffer owned by the `Bytes` of one read; given back when the last clone drops.
struct Pooled(Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled() -> Vec<usize> {
        POOL.lock().unwrap().iter().map(|b| b.capacity()).collect()
    }

    #[test]
    fn a_read_gives_its_buffer_back_for_the_next_read_and_the_pool_stays_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        let text: Vec<u8> = (0..3_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        let bytes = read(&path).unwrap();
        assert_eq!(&bytes[..], &text[..]);
        let first = bytes.as_ptr();
        // A clone keeps the buffer out of the pool; the last one gives it back.
        let part = bytes.slice(10..20);
        drop(bytes);
        assert!(!pooled().iter().any(|c| *c > text.len()));
        drop(part);
        assert!(pooled().iter().any(|c| *c > text.len()));
        // The next read of a file that fits takes it, holding that file's bytes only.
        std::fs::write(&path, &text[..2_500_000]).unwrap();
        let again = read(&path).unwrap();
        assert_eq!(again.as_ptr(), first);
        assert_eq!(&again[..], &text[..2_500_000]);
        // A small file is read whole into a buffer of its own.
        std::fs::write(&path, &text[..100]).unwrap();
        let small = read(&path).unwrap();
        assert_eq!(&small[..], &text[..100]);
        std::fs::write(&path, &text).unwrap();
        let grown = read(&path).unwrap();
        assert_eq!(&grown[..], &text[..]);
        drop((again, small, grown));
        // Many buffers given back keep no more than the bound.
        for _ in 0..40 {
            give_back(Vec::with_capacity(8 << 20));
        }
        assert!(pooled().iter().sum::<usize>() <= KEEP_BYTES);
        give_back(Vec::with_capacity(KEEP_BYTES + 1));
        assert!(pooled().iter().all(|c| *c <= KEEP_BYTES));
    }
}

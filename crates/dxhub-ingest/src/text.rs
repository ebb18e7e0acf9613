//! `ShortStr`: an owned, immutable string that keeps short values inline (no heap allocation).
//!
//! Dossier ids, source names and service codes are almost always shorter than 31 bytes
//! (`G79-250701-00000005`, `dvcqg`, `1.001612`). Parsing millions of snapshots per second
//! cannot afford three heap allocations per line, so those values live inside the
//! snapshot itself; longer values fall back to a `Box<str>`. The crate forbids `unsafe`,
//! so reading an inline value back as `&str` re-checks UTF-8 — a few nanoseconds on
//! short ASCII, paid only when a caller asks for the `&str`, never when hashing or
//! comparing (those work on bytes).

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Bytes kept inline; chosen so that `size_of::<ShortStr>() == 32`.
pub const INLINE_CAPACITY: usize = 30;

/// An owned, immutable string; values up to [`INLINE_CAPACITY`] bytes are stored inline.
#[derive(Clone)]
pub struct ShortStr(Repr);

#[derive(Clone)]
enum Repr {
    Inline { len: u8, buf: [u8; INLINE_CAPACITY] },
    Heap(Box<str>),
}

impl ShortStr {
    /// Copies `s`; allocates only when it is longer than [`INLINE_CAPACITY`] bytes.
    #[inline]
    pub fn new(s: &str) -> ShortStr {
        let bytes = s.as_bytes();
        if bytes.len() <= INLINE_CAPACITY {
            let mut buf = [0u8; INLINE_CAPACITY];
            buf[..bytes.len()].copy_from_slice(bytes);
            ShortStr(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            ShortStr(Repr::Heap(s.into()))
        }
    }

    /// Copies bytes the caller has checked to be ASCII (the CSV fast path). Passing
    /// anything else is a bug that makes [`ShortStr::as_str`] panic later; it is never
    /// undefined behaviour.
    #[inline]
    pub(crate) fn from_ascii(bytes: &[u8]) -> ShortStr {
        debug_assert!(bytes.is_ascii());
        if bytes.len() <= INLINE_CAPACITY {
            let mut buf = [0u8; INLINE_CAPACITY];
            buf[..bytes.len()].copy_from_slice(bytes);
            ShortStr(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            ShortStr(Repr::Heap(
                String::from_utf8(bytes.to_vec())
                    .expect("ASCII is UTF-8")
                    .into_boxed_str(),
            ))
        }
    }

    /// Like [`ShortStr::from_ascii`] for the first `len` bytes of `window`, copying the
    /// whole fixed-size window: one wide copy instead of a variable-length one, which
    /// matters on the CSV hot path. The inline bytes past `len` are unspecified (every
    /// method looks only at the first `len`).
    #[inline(always)]
    pub(crate) fn from_ascii_window(window: &[u8; INLINE_CAPACITY], len: usize) -> ShortStr {
        debug_assert!(len <= INLINE_CAPACITY && window[..len].is_ascii());
        ShortStr(Repr::Inline {
            len: len as u8,
            buf: *window,
        })
    }

    /// The value as bytes (always valid UTF-8).
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, buf } => &buf[..*len as usize],
            Repr::Heap(s) => s.as_bytes(),
        }
    }

    /// The value as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize])
                .expect("ShortStr holds UTF-8 by construction"),
            Repr::Heap(s) => s,
        }
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the value is empty (never true for validated snapshot fields).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inline bytes whole (only the first `len` are the value's) and the value's
    /// length; `None` when it is on the heap. Copying the whole window, a size known at
    /// compile time, takes a few moves where a copy of `len` bytes is a call.
    #[inline(always)]
    pub(crate) fn window(&self) -> Option<(&[u8; INLINE_CAPACITY], usize)> {
        match &self.0 {
            Repr::Inline { len, buf } => Some((buf, *len as usize)),
            Repr::Heap(_) => None,
        }
    }

    /// Whether the value is stored inline (no heap allocation).
    #[inline]
    pub fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }
}

impl Deref for ShortStr {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for ShortStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for ShortStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for ShortStr {
    fn from(s: &str) -> ShortStr {
        ShortStr::new(s)
    }
}

impl From<String> for ShortStr {
    fn from(s: String) -> ShortStr {
        if s.len() <= INLINE_CAPACITY {
            ShortStr::new(&s)
        } else {
            ShortStr(Repr::Heap(s.into_boxed_str()))
        }
    }
}

impl PartialEq for ShortStr {
    #[inline]
    fn eq(&self, other: &ShortStr) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for ShortStr {}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialOrd for ShortStr {
    fn partial_cmp(&self, other: &ShortStr) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ShortStr {
    /// Byte order, which for UTF-8 is the same as `str`'s order.
    fn cmp(&self, other: &ShortStr) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for ShortStr {
    /// Hashes exactly like `str` (bytes then `0xff`), so `Borrow<str>` look-ups work
    /// without re-validating UTF-8.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_str_bytes(self.as_bytes(), state);
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ShortStr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Hashes a string's bytes as `str` and [`ShortStr`] hash (the bytes, then `0xff`), so
/// that maps of `ShortStr`s can be searched by bytes known to be UTF-8.
#[inline]
pub(crate) fn hash_str_bytes<H: Hasher>(bytes: &[u8], state: &mut H) {
    state.write(bytes);
    state.write_u8(0xff);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn short_values_are_inline_and_long_ones_on_the_heap() {
        assert_eq!(std::mem::size_of::<ShortStr>(), 32);
        let a = ShortStr::new("G79-250701-00000005");
        assert!(a.is_inline());
        assert_eq!(a.as_str(), "G79-250701-00000005");
        let exact = "x".repeat(INLINE_CAPACITY);
        assert!(ShortStr::new(&exact).is_inline());
        let long = "y".repeat(INLINE_CAPACITY + 1);
        let b = ShortStr::new(&long);
        assert!(!b.is_inline());
        assert_eq!(b.as_str(), long);
        assert_eq!(ShortStr::from(long.clone()), b);
        assert_eq!(ShortStr::new("Hà Nội").as_str(), "Hà Nội");
    }

    #[test]
    fn hashes_like_str_so_borrowed_lookups_work() {
        let mut m = HashMap::new();
        m.insert(ShortStr::new("dvcqg"), 1);
        m.insert(ShortStr::new(&"z".repeat(40)), 2);
        assert_eq!(m.get("dvcqg"), Some(&1));
        assert_eq!(m.get("z".repeat(40).as_str()), Some(&2));
    }

    #[test]
    fn orders_like_str() {
        let mut v = [ShortStr::new("b"), ShortStr::new("ab"), ShortStr::new("á")];
        v.sort();
        let s: Vec<&str> = v.iter().map(|x| x.as_str()).collect();
        assert_eq!(s, ["ab", "b", "á"]);
    }
}

//! The newest snapshot of every dossier, kept in key-ordered blocks of a few kilobytes
//! instead of one database row per dossier.
//!
//! A store keeps rows `(first_key, count, data)`: `data` holds the entries of consecutive
//! keys (each key with its version and [`codec`](crate::codec)-encoded fields),
//! `first_key` is the key of the first entry, and every key of a block sorts before the
//! next block's `first_key`.
//! Ingesting a [`KeyedBatch`] (sorted by key) then costs one read and one write per
//! *block* the batch touches ([`group_by_directory`], [`merge`]) rather than one B-tree
//! descent, one lookup and one write per *dossier*; the per-dossier work is a merge of two
//! sorted lists in memory. Feeds whose dossier ids grow with time (most portals number
//! dossiers by day) touch few blocks per batch, since a batch's dossiers are recent.
//!
//! A key is `source`, a 0 byte, then `dossier_id`: neither holds a 0 byte (the feed refuses
//! control characters), so byte order on keys is the order of `(source, dossier_id)`
//! compared byte-wise, the order of a [`KeyedBatch`]'s finals.
//!
//! Block layout (format 1; integers are LEB128 varints): one format byte, then per entry
//! the length of the prefix shared with the previous entry's key, the length and bytes of
//! the rest of the key, the version, and the length and bytes of the fields.

use std::ops::Range;

use crate::batch::{KeyedBatch, Resolution};
use crate::codec::{Cursor, Scratch, put_varint};

const FORMAT: u8 = 1;

/// A block longer than this is split when rewritten: blocks of 768 to 1,536 bytes pack
/// five to ten to an 8 KiB database page (two to five to a 4 KiB one; larger blocks would
/// leave much of a small page empty), and a batch that changes a few dossiers of a block
/// rewrites little else.
pub const MAX_BLOCK_BYTES: usize = 1536;

/// The size the pieces of a split block aim at, leaving room for a few more dossiers to
/// join a block before it splits again.
pub const TARGET_BLOCK_BYTES: usize = 1024;

/// Appends the block key of `(source, dossier_id)` to `out` (as text or as its bytes).
pub fn key_of(source: impl AsRef<[u8]>, dossier_id: impl AsRef<[u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(source.as_ref());
    out.push(0);
    out.extend_from_slice(dossier_id.as_ref());
}

/// A stored block that cannot be read: the store's data is damaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockError(pub String);

impl std::fmt::Display for BlockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dossier block is damaged: {}", self.0)
    }
}

impl std::error::Error for BlockError {}

fn damaged(what: &str) -> BlockError {
    BlockError(what.to_owned())
}

/// A block to be written: the key of its first entry, its number of entries, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub first_key: Vec<u8>,
    pub count: u32,
    pub data: Vec<u8>,
}

/// Reads a block's entries in key order.
pub struct BlockReader<'a> {
    c: Cursor<'a>,
    key: Vec<u8>,
    started: bool,
}

impl<'a> BlockReader<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, BlockError> {
        let mut c = Cursor(data);
        if c.byte() != Some(FORMAT) {
            return Err(damaged("unknown format"));
        }
        Ok(BlockReader {
            c,
            key: Vec::new(),
            started: false,
        })
    }

    /// The next entry's version and fields (its key is then [`BlockReader::key`]), or
    /// `None` at the end. Keys must increase strictly.
    pub fn next_entry(&mut self) -> Result<Option<(u64, &'a [u8])>, BlockError> {
        Ok(self.next_stored()?.map(|e| (e.version, e.fields)))
    }

    /// The next entry with its encoding (see [`Stored`]).
    fn next_stored(&mut self) -> Result<Option<Stored<'a>>, BlockError> {
        let all = self.c.0;
        if all.is_empty() {
            return Ok(None);
        }
        let bad = || damaged("truncated entry");
        let shared = usize::try_from(self.c.varint().ok_or_else(bad)?).map_err(|_| bad())?;
        let rest = usize::try_from(self.c.varint().ok_or_else(bad)?).map_err(|_| bad())?;
        let suffix = self.c.bytes(rest).ok_or_else(bad)?;
        if shared > self.key.len() {
            return Err(damaged("shared prefix longer than the previous key"));
        }
        // Both keys start with the shared prefix, so they compare as the rests do.
        if self.started && compare(suffix, &self.key[shared..]).is_le() {
            return Err(damaged("keys out of order"));
        }
        self.key.truncate(shared);
        self.key.extend_from_slice(suffix);
        self.started = true;
        let tail = all.len() - self.c.0.len();
        let version = self.c.varint().ok_or_else(bad)?;
        let n = usize::try_from(self.c.varint().ok_or_else(bad)?).map_err(|_| bad())?;
        let fields = self.c.bytes(n).ok_or_else(bad)?;
        Ok(Some(Stored {
            version,
            fields,
            encoded: &all[..all.len() - self.c.0.len()],
            tail,
        }))
    }

    /// The key of the entry last returned by [`BlockReader::next_entry`].
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

/// A stored entry as [`merge`] reads it: its version and fields, and its encoding in the
/// block, whose version and fields start at `encoded[tail]` (before them: its key's length
/// shared with the previous entry's, and the rest of its key).
#[derive(Clone, Copy)]
struct Stored<'a> {
    version: u64,
    fields: &'a [u8],
    encoded: &'a [u8],
    tail: usize,
}

/// Entries collected in key order, then cut into blocks. Each entry is encoded as it comes,
/// after the one before it (sharing its key prefix), into one buffer: a block is then
/// that buffer, or, when it has to be split, slices of it, each piece's first entry
/// encoded again with its whole key.
#[derive(Default)]
pub struct Builder {
    /// A format byte, then the entries as a block stores them one after the other.
    data: Vec<u8>,
    /// The entries' keys, concatenated.
    keys: Vec<u8>,
    entries: Vec<Entry>,
}

/// Where an entry is in a [`Builder`].
#[derive(Clone, Copy)]
struct Entry {
    /// Its encoding starts at `data[start]`; from `data[tail]` on come its version and
    /// fields (what does not depend on the entry before it).
    start: usize,
    tail: usize,
    /// Its key ends at `keys[key_end]`.
    key_end: usize,
}

impl Builder {
    pub fn new() -> Self {
        Builder::default()
    }

    /// Adds an entry; keys must come in increasing order.
    pub fn push(&mut self, key: &[u8], version: u64, fields: &[u8]) {
        let shared = match self.entries.last() {
            None => {
                self.data.push(FORMAT);
                0
            }
            Some(_) => common_prefix(self.key(self.entries.len() - 1), key),
        };
        let start = self.data.len();
        let rest = &key[shared..];
        self.data.reserve(40 + rest.len() + fields.len());
        let mut w = Scratch::<20>::new();
        w.varint(shared as u64);
        w.varint(rest.len() as u64);
        w.append_to(&mut self.data);
        self.data.extend_from_slice(rest);
        let tail = self.data.len();
        let mut w = Scratch::<20>::new();
        w.varint(version);
        w.varint(fields.len() as u64);
        w.append_to(&mut self.data);
        self.data.extend_from_slice(fields);
        self.keys.extend_from_slice(key);
        self.entries.push(Entry {
            start,
            tail,
            key_end: self.keys.len(),
        });
    }

    /// Adds an entry as a stored block encodes it (see [`Stored`]), which is how
    /// [`Builder::push`] would encode it only if the entry before it here is the one before
    /// it there (or both are first).
    fn push_encoded(&mut self, key: &[u8], e: Stored<'_>) {
        if self.entries.is_empty() {
            self.data.push(FORMAT);
        }
        let start = self.data.len();
        self.data.extend_from_slice(e.encoded);
        self.keys.extend_from_slice(key);
        self.entries.push(Entry {
            start,
            tail: start + e.tail,
            key_end: self.keys.len(),
        });
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn key(&self, i: usize) -> &[u8] {
        let start = if i == 0 {
            0
        } else {
            self.entries[i - 1].key_end
        };
        &self.keys[start..self.entries[i].key_end]
    }

    /// Where entry `i`'s encoding ends.
    fn end(&self, i: usize) -> usize {
        self.entries.get(i + 1).map_or(self.data.len(), |e| e.start)
    }

    /// The bytes a block starting with entry `i` takes for its format byte and that entry
    /// (which stores its whole key: a shared length of 0, one byte).
    fn first_size(&self, i: usize) -> usize {
        let key = self.key(i).len();
        2 + varint_len(key as u64) + key + self.end(i) - self.entries[i].tail
    }

    /// Entries `range` as one block of `size` bytes: the first encoded again with its
    /// whole key, the others copied as they are.
    fn piece(&self, range: Range<usize>, size: usize) -> Block {
        let (first, e) = (range.start, self.entries[range.start]);
        let key = self.key(first);
        let mut data = Vec::with_capacity(size);
        data.push(FORMAT);
        put_varint(&mut data, 0);
        put_varint(&mut data, key.len() as u64);
        data.extend_from_slice(key);
        data.extend_from_slice(&self.data[e.tail..self.end(range.end - 1)]);
        debug_assert_eq!(data.len(), size, "block size worked out beforehand");
        Block {
            first_key: key.to_vec(),
            count: range.len() as u32,
            data,
        }
    }

    /// The entries as blocks: one if it stays under [`MAX_BLOCK_BYTES`], otherwise pieces
    /// of about [`TARGET_BLOCK_BYTES`] cut between entries. Empties the builder.
    pub fn finish(&mut self) -> Vec<Block> {
        let n = self.entries.len();
        if n == 0 {
            return Vec::new();
        }
        let total = self.data.len();
        let blocks = if total <= MAX_BLOCK_BYTES || n == 1 {
            vec![Block {
                first_key: self.key(0).to_vec(),
                count: n as u32,
                data: self.data.clone(),
            }]
        } else {
            // Cut where the running size reaches each piece's share.
            let pieces = total.div_ceil(TARGET_BLOCK_BYTES);
            let share = total / pieces;
            let mut out = Vec::with_capacity(pieces + 1);
            let (mut start, mut size) = (0, self.first_size(0));
            for i in 1..n {
                let entry = self.end(i) - self.entries[i].start;
                if size + entry > share {
                    out.push(self.piece(start..i, size));
                    (start, size) = (i, self.first_size(i));
                } else {
                    size += entry;
                }
            }
            out.push(self.piece(start..n, size));
            out
        };
        self.data.clear();
        self.keys.clear();
        self.entries.clear();
        blocks
    }
}

/// The length of the prefix two keys share (compared eight bytes at a time).
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    while i + 8 <= n {
        let word = |k: &[u8]| u64::from_le_bytes(k[i..i + 8].try_into().expect("8 bytes"));
        let differ = word(a) ^ word(b);
        if differ != 0 {
            return i + differ.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i + a[i..n]
        .iter()
        .zip(&b[i..n])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Compares two keys byte-wise, as `a.cmp(b)` does, by the first byte after the prefix
/// they share ([`common_prefix`], eight bytes at a time) and inline: keys are a few dozen
/// bytes and share most of them, and merging compares every stored entry it passes (a
/// call to `memcmp` each was 2 % of the import's CPU).
#[inline]
fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let n = common_prefix(a, b);
    a.get(n).cmp(&b.get(n))
}

/// The bytes [`put_varint`] writes for `v`.
fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The key spans of a batch: runs of its finals' keys (first key, last key) for which a
/// store reads the part of its block directory that covers them — for each span, the last
/// block whose first key is not above the span's start, and every block that starts inside
/// the span; plus the very first block (where keys that sort before every block go). That
/// partial directory gives [`group_by_directory`] the same answer as the whole one, since
/// it holds, for every key of the batch, the block the key belongs to — whatever the
/// spans, as long as they cover every key.
///
/// Spans are cut so that they skip what the batch does not touch: at every change of
/// source, and where two neighbouring keys share a clearly shorter prefix than neighbours
/// of that source usually do (two below the median shared length). Portals number
/// dossiers by day, so a batch's keys come in dense runs (the recent days) and lone keys
/// (late changes of old dossiers); each becomes its own span instead of one span reaching
/// back to the oldest changed dossier. Random ids share no prefix to speak of: one span
/// per source, and such a batch touches most blocks anyway.
pub fn spans(batch: &KeyedBatch) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut spans: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let n = batch.len();
    let mut shared: Vec<usize> = Vec::new();
    let mut sorted: Vec<usize> = Vec::new();
    let mut start = 0;
    while start < n {
        let source = batch.source(start);
        let end = start
            + (start..n)
                .take_while(|&i| batch.source(i) == source)
                .count();
        shared.clear();
        shared.extend((start + 1..end).map(|i| common_prefix(batch.key(i - 1), batch.key(i))));
        sorted.clear();
        sorted.extend_from_slice(&shared);
        sorted.sort_unstable();
        let cut_below = sorted
            .get(sorted.len() / 2)
            .map_or(0, |m| m.saturating_sub(2));
        let mut lo = start;
        for (j, &len) in shared.iter().enumerate() {
            if len < cut_below {
                let i = start + j;
                spans.push((batch.key(lo).to_vec(), batch.key(i).to_vec()));
                lo = i + 1;
            }
        }
        spans.push((batch.key(lo).to_vec(), batch.key(end - 1).to_vec()));
        start = end;
    }
    spans
}

/// Splits the batch's finals (sorted by key) into runs that fall in the same stored block:
/// `directory` holds the stored blocks' first keys in increasing order; a final belongs to
/// the last block whose first key is not above its key, or to the first block when it
/// sorts before every block. Yields `(block index, finals)`; the index is `None` only when
/// nothing is stored yet (one run of every final).
pub fn group_by_directory<K: AsRef<[u8]>>(
    batch: &KeyedBatch,
    directory: &[K],
) -> Vec<(Option<usize>, Range<usize>)> {
    let n = batch.len();
    if directory.is_empty() {
        return if n == 0 {
            Vec::new()
        } else {
            vec![(None, 0..n)]
        };
    }
    let mut groups: Vec<(Option<usize>, Range<usize>)> = Vec::new();
    let mut block = 0;
    for i in 0..n {
        let key = batch.key(i);
        // Both are sorted: move forward in the directory, at most to the key's block, by
        // galloping (steps of 1, 2, 4 … then a binary search in the last step), so that a
        // small batch skips most of a whole directory and a dense one steps block by block.
        let not_above = |k: &K| compare(k.as_ref(), key).is_le();
        let mut step = 1;
        while block + step < directory.len() && not_above(&directory[block + step]) {
            block += step;
            step *= 2;
        }
        let end = (block + step).min(directory.len());
        block += directory[block + 1..end].partition_point(not_above);
        match groups.last_mut() {
            Some((Some(b), r)) if *b == block => r.end = i + 1,
            _ => groups.push((Some(block), i..i + 1)),
        }
    }
    groups
}

/// Merges the finals `range` of `batch` (all belonging to one stored block, see
/// [`group_by_directory`]) into that block's `old` data (`None`: no block yet). Each final
/// is resolved against its key's stored entry ([`KeyedBatch::resolve_encoded`]) and wins or
/// loses; the block's other entries are kept as they are (a stored entry's fields are
/// decoded only when a final replaces it, so damaged fields are found then). Returns the
/// blocks that replace the old one, or `None` when no final won (nothing to write).
pub fn merge(
    batch: &KeyedBatch,
    range: Range<usize>,
    old: Option<&[u8]>,
    r: &mut Resolution,
    out: &mut Builder,
) -> Result<Option<Vec<Block>>, BlockError> {
    let mut reader = old.map(BlockReader::new).transpose()?;
    let mut pending = match reader.as_mut() {
        Some(rd) => rd.next_stored()?,
        None => None,
    };
    // Whether the last entry added to `out` has the key of the stored entry before
    // `pending` (or neither is there): `pending`'s encoding can then be copied as it is.
    let mut in_step = true;
    // Adds a stored entry, copying its encoding when it is in step.
    let keep = |out: &mut Builder, key: &[u8], e: Stored<'_>, in_step: bool| {
        if in_step {
            out.push_encoded(key, e);
        } else {
            out.push(key, e.version, e.fields);
        }
    };
    let mut changed = false;
    for i in range {
        let key = batch.key(i);
        // Entries before the final's key stay.
        let mut stored = None;
        while let (Some(e), Some(rd)) = (pending, reader.as_mut()) {
            match compare(rd.key(), key) {
                std::cmp::Ordering::Less => {
                    keep(out, rd.key(), e, in_step);
                    in_step = true;
                    pending = rd.next_stored()?;
                }
                std::cmp::Ordering::Equal => {
                    stored = Some(e);
                    pending = rd.next_stored()?;
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        let wins = batch
            .resolve_encoded(i, stored.map(|e| (e.version, e.fields)), r)
            .ok_or_else(|| damaged("bad snapshot fields"))?;
        match (stored, wins) {
            (_, true) => {
                changed = true;
                out.push(key, batch.version(i), batch.fields(i));
            }
            (Some(e), false) => keep(out, key, e, in_step),
            (None, false) => unreachable!("a final with nothing stored always wins"),
        }
        // The entry added has the key of the stored entry before `pending` only if it
        // replaced or kept that entry.
        in_step = stored.is_some();
    }
    while let (Some(e), Some(rd)) = (pending, reader.as_mut()) {
        keep(out, rd.key(), e, in_step);
        in_step = true;
        pending = rd.next_stored()?;
    }
    let blocks = out.finish();
    Ok(changed.then_some(blocks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Keys compare as byte strings, also when one is a prefix of the other or they
        /// share most bytes.
        #[test]
        fn keys_compare_as_their_bytes(
            common in proptest::collection::vec(any::<u8>(), 0..40),
            a in proptest::collection::vec(0u8..4, 0..12),
            b in proptest::collection::vec(0u8..4, 0..12),
        ) {
            let a = [&common[..], &a[..]].concat();
            let b = [&common[..], &b[..]].concat();
            prop_assert_eq!(compare(&a, &b), a.cmp(&b));
            prop_assert_eq!(compare(&b, &a), b.cmp(&a));
            prop_assert_eq!(compare(&a, &a), std::cmp::Ordering::Equal);
        }
    }
    use crate::latest::LiveIndicators;
    use crate::{DossierSnapshot, Format, parse_all};

    /// Every entry of a block as `(key, version, fields)`.
    type Entries = Vec<(Vec<u8>, u64, Vec<u8>)>;

    fn entries(data: &[u8]) -> Result<Entries, BlockError> {
        let mut rd = BlockReader::new(data)?;
        let mut all = Vec::new();
        while let Some((v, f)) = rd.next_entry()? {
            all.push((rd.key().to_vec(), v, f.to_vec()));
        }
        Ok(all)
    }

    /// `(source, dossier_id)` of a block key.
    fn split_key(key: &[u8]) -> Option<(&str, &str)> {
        let at = key.iter().position(|&b| b == 0)?;
        let source = std::str::from_utf8(&key[..at]).ok()?;
        let id = std::str::from_utf8(&key[at + 1..]).ok()?;
        Some((source, id))
    }

    const HEADER: &str = "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online";

    fn snaps(lines: &[String]) -> Vec<DossierSnapshot> {
        let text = std::iter::once(HEADER.to_owned())
            .chain(lines.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        let (v, rej, _) = parse_all(text.as_bytes(), Format::Csv).unwrap();
        assert!(rej.is_empty(), "{rej:?}");
        v
    }

    fn line(source: &str, id: &str, version: u64, channel: &str) -> String {
        format!(
            "{id},{source},{version},1.00000{},79,,{channel},true,received,2025-07-01T08:00:00+07:00,,,0,false",
            version % 10
        )
    }

    /// A store of blocks in memory: first key → data.
    #[derive(Default)]
    struct Mem(std::collections::BTreeMap<Vec<u8>, Vec<u8>>);

    impl Mem {
        fn ingest(&mut self, batch: Vec<DossierSnapshot>) -> Resolution {
            let kb = KeyedBatch::new(batch);
            // The part of the directory a store reads for the batch's spans.
            let mut directory: Vec<Vec<u8>> = self.0.keys().take(1).cloned().collect();
            for (lo, hi) in spans(&kb) {
                let start = self
                    .0
                    .range(..=lo.clone())
                    .next_back()
                    .map(|(k, _)| k.clone());
                let from = start.unwrap_or_default();
                directory.extend(self.0.range(from..=hi).map(|(k, _)| k.clone()));
            }
            directory.sort();
            directory.dedup();
            let mut r = kb.resolution();
            let mut b = Builder::new();
            for (block, range) in group_by_directory(&kb, &directory) {
                let old_key = block.map(|i| directory[i].clone());
                let old = old_key.as_ref().map(|k| self.0[k].clone());
                if let Some(new) = merge(&kb, range, old.as_deref(), &mut r, &mut b).unwrap() {
                    if let Some(k) = old_key {
                        self.0.remove(&k);
                    }
                    for nb in new {
                        assert!(nb.data.len() <= MAX_BLOCK_BYTES || nb.count == 1);
                        self.0.insert(nb.first_key, nb.data);
                    }
                }
            }
            r
        }

        fn all(&self) -> Vec<(Vec<u8>, u64)> {
            let mut out = Vec::new();
            let mut last: Option<Vec<u8>> = None;
            for (first, data) in &self.0 {
                let es = entries(data).unwrap();
                assert_eq!(&es[0].0, first, "first key names the first entry");
                for (k, v, _) in es {
                    if let Some(l) = &last {
                        assert!(*l < k, "keys increase across blocks");
                    }
                    last = Some(k.clone());
                    out.push((k, v));
                }
            }
            out
        }
    }

    #[test]
    fn batches_merge_into_blocks_like_line_by_line_application() {
        let mut mem = Mem::default();
        let mut live = LiveIndicators::new();
        // Three rounds over 3,000 dossiers of two sources, with repeats and stale lines,
        // enough to split blocks many times.
        for round in 0..3u64 {
            let mut lines = Vec::new();
            for n in 0..3000u64 {
                let id = format!("D{:06}", (n * 7919 + round * 31) % 3000);
                let source = if n % 3 == 0 { "hcc-01" } else { "dvcqg" };
                let version = (n + round * 5) % 4 + round;
                lines.push(line(source, &id, version, "online"));
                if n % 5 == 0 {
                    lines.push(line(source, &id, version + 1, "direct"));
                }
            }
            let batch = snaps(&lines);
            let (mut applied, mut stale) = (0, 0);
            for s in batch.clone() {
                if live.ingest(s) {
                    applied += 1;
                } else {
                    stale += 1;
                }
            }
            let r = mem.ingest(batch);
            assert_eq!((r.applied(), r.stale()), (applied, stale), "round {round}");
        }
        let stored = mem.all();
        assert_eq!(stored.len(), live.latest.len());
        for (k, v) in stored {
            let (source, id) = split_key(&k).unwrap();
            assert_eq!(live.latest.get(source, id).unwrap().version, v);
        }
        assert!(mem.0.len() > 10, "the blocks were split: {}", mem.0.len());
    }

    #[test]
    fn spans_skip_what_the_batch_leaves_out() {
        // A dense run of today's dossiers, one late change of an old one, another source.
        let mut lines: Vec<String> = (0..50)
            .map(|n| line("hcc-38", &format!("H38.250709-{n:08}"), 2, "online"))
            .collect();
        lines.push(line("hcc-38", "H38.250102-00000007", 3, "online"));
        lines.push(line("hcc-01", "H01.250709-00000001", 1, "online"));
        let kb = KeyedBatch::new(snaps(&lines));
        let spans: Vec<(String, String)> = spans(&kb)
            .into_iter()
            .map(|(a, b)| {
                (
                    String::from_utf8(a).unwrap().replace('\0', "/"),
                    String::from_utf8(b).unwrap().replace('\0', "/"),
                )
            })
            .collect();
        assert_eq!(
            spans,
            [
                ("hcc-01/H01.250709-00000001", "hcc-01/H01.250709-00000001"),
                ("hcc-38/H38.250102-00000007", "hcc-38/H38.250102-00000007"),
                ("hcc-38/H38.250709-00000000", "hcc-38/H38.250709-00000049"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }

    #[test]
    fn keys_before_the_first_block_join_it_and_damage_is_reported() {
        let mut mem = Mem::default();
        mem.ingest(snaps(&[line("s", "M", 1, "online")]));
        let r = mem.ingest(snaps(&[
            line("s", "A", 1, "online"),
            line("s", "M", 1, "online"),
        ]));
        assert_eq!((r.applied(), r.stale()), (1, 1));
        let keys: Vec<Vec<u8>> = mem.0.keys().cloned().collect();
        assert_eq!(keys, vec![b"s\0A".to_vec()]);
        let data = mem.0.values().next().unwrap().clone();
        let kb = KeyedBatch::new(snaps(&[line("s", "B", 1, "online")]));
        let mut r = kb.resolution();
        let cut = &data[..data.len() - 3];
        assert!(merge(&kb, 0..1, Some(cut), &mut r, &mut Builder::new()).is_err());
        assert!(merge(&kb, 0..1, Some(&[9]), &mut r, &mut Builder::new()).is_err());
        // Keys must increase strictly within a block.
        for second in [b"s\0A".as_slice(), b"s\0AB", b"s\0B"] {
            let mut b = Builder::new();
            b.push(b"s\0AB", 1, &[]);
            b.push(second, 1, &[]);
            let data = b.finish().remove(0).data;
            let mut rd = BlockReader::new(&data).unwrap();
            assert!(rd.next_entry().unwrap().is_some());
            let next = rd.next_entry();
            if second == b"s\0B" {
                assert!(next.unwrap().is_some());
            } else {
                assert_eq!(next, Err(damaged("keys out of order")), "{second:?}");
            }
        }
    }
}

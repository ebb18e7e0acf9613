//! A batch resolved in memory before a store sees it: the newest snapshot of each key the
//! batch carries (first of equal versions), sorted by key, plus what is needed to count
//! applied and stale lines exactly once the stored versions are known.
//!
//! A store then reads each key once (in key order, so its index is walked sequentially),
//! writes each changed dossier once and applies one [`Delta`] — instead of one lookup and
//! one write per line. The counts are those of applying the lines one by one: a line is
//! applied when its version is above every version seen before it for its key (stored or
//! earlier in the batch), stale otherwise.
//!
//! The finals are kept compact, as stores write them: each final's block key
//! ([`crate::blocks::key_of`]) and [`codec`]-encoded fields in two byte arenas, so a batch
//! of a million dossiers takes about 90 MB instead of 200, and the store copies the bytes
//! instead of encoding snapshots on its (single) thread. A [`BatchBuilder`] takes the lines
//! one by one as they are parsed: the parsed snapshots can be dropped at once, and its
//! buffers are reused from batch to batch.
//!
//! [`Delta`]: crate::indicators::Delta

use std::cmp::Ordering;

use crate::codec;
use crate::indicators::{Contribution, Delta};
use crate::snapshot::DossierSnapshot;

/// A batch reduced to one snapshot per key. See the module docs.
#[derive(Debug, Default)]
pub struct KeyedBatch {
    /// The finals' keys, concatenated in key order (byte order, as SQLite and
    /// PostgreSQL's "C" collation compare `(source, dossier_id)`).
    keys: Vec<u8>,
    /// The finals' encoded fields, concatenated in the same order.
    fields: Vec<u8>,
    /// Per final: the end of its key in `keys`, and of its fields in `fields`.
    key_end: Vec<u32>,
    field_end: Vec<u32>,
    versions: Vec<u64>,
    /// Per final: the versions of the batch's lines of that key that were above all earlier
    /// lines of the key in the batch ("records"), in arrival order; the last is the final's.
    /// Stored compactly: `records[record_start[i]..record_start[i + 1]]`.
    records: Vec<u64>,
    record_start: Vec<u32>,
    /// Per record: the part of the batch its line came from (see
    /// [`BatchBuilder::next_part`]).
    record_parts: Vec<u32>,
    /// Per part: the lines not above an earlier line of their key in the batch, stale
    /// whatever is stored.
    stale_parts: Vec<u64>,
}

/// Counts and indicator change of a batch resolved against what is stored (final by
/// final, with [`KeyedBatch::resolve_one`]).
#[derive(Debug, Default)]
pub struct Resolution {
    /// `(applied, stale)` per part of the batch (one part unless the batch was built from
    /// several senders' lines, see [`BatchBuilder::next_part`]).
    pub parts: Vec<(u64, u64)>,
    pub delta: Delta,
}

impl Resolution {
    /// Lines applied, over all parts.
    pub fn applied(&self) -> u64 {
        self.parts.iter().map(|p| p.0).sum()
    }

    /// Lines stale, over all parts.
    pub fn stale(&self) -> u64 {
        self.parts.iter().map(|p| p.1).sum()
    }
}

impl KeyedBatch {
    /// Groups a batch (in arrival order) by key.
    pub fn new(batch: Vec<DossierSnapshot>) -> KeyedBatch {
        let mut b = BatchBuilder::new();
        for s in &batch {
            b.push(s);
        }
        b.finish()
    }

    /// Number of parts (see [`BatchBuilder::next_part`]); 0 for an empty batch.
    pub fn parts(&self) -> usize {
        self.stale_parts.len()
    }

    /// Number of finals (distinct keys).
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// Lines in the batch (snapshots pushed into its builder).
    pub fn lines(&self) -> u64 {
        self.records.len() as u64 + self.stale_parts.iter().sum::<u64>()
    }

    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    /// The block key of final `i` (`source`, a 0 byte, `dossier_id`).
    pub fn key(&self, i: usize) -> &[u8] {
        nth(&self.keys, &self.key_end, i)
    }

    /// The source of final `i`: its key up to the 0 byte.
    pub fn source(&self, i: usize) -> &[u8] {
        let key = self.key(i);
        let at = key.iter().position(|&b| b == 0).unwrap_or(key.len());
        &key[..at]
    }

    pub fn version(&self, i: usize) -> u64 {
        self.versions[i]
    }

    /// The [`codec`]-encoded fields of final `i`.
    pub fn fields(&self, i: usize) -> &[u8] {
        nth(&self.fields, &self.field_end, i)
    }

    /// Final `i` as a snapshot again (decoded; for tests and diagnostics).
    pub fn snapshot(&self, i: usize) -> DossierSnapshot {
        let key = self.key(i);
        let at = self.source(i).len();
        fn text(b: &[u8]) -> &str {
            std::str::from_utf8(b).expect("keys are built from text")
        }
        codec::decode(
            text(&key[..at]),
            text(&key[at + 1..]),
            self.versions[i],
            self.fields(i),
        )
        .expect("fields are encoded by the builder")
    }

    /// An empty resolution to be filled by [`KeyedBatch::resolve_one`]: it starts with the
    /// lines that are stale within the batch itself.
    pub fn resolution(&self) -> Resolution {
        Resolution {
            parts: self.stale_parts.iter().map(|&stale| (0, stale)).collect(),
            ..Resolution::default()
        }
    }

    /// Resolves final `i` against the stored version and contribution of its key (if
    /// any): adds its lines to the counts and its indicator change to `r.delta`. Returns
    /// whether the final replaces (or is the first of) the stored snapshot. Each final is
    /// resolved once, in any order.
    pub fn resolve_one(
        &self,
        i: usize,
        stored: Option<&(u64, Contribution)>,
        r: &mut Resolution,
    ) -> bool {
        let range = self.record_start[i] as usize..self.record_start[i + 1] as usize;
        let mut applied = false;
        for (&x, &part) in self.records[range.clone()]
            .iter()
            .zip(&self.record_parts[range])
        {
            let part = &mut r.parts[part as usize];
            if stored.is_none_or(|(v, _)| x > *v) {
                applied = true;
                part.0 += 1;
            } else {
                part.1 += 1;
            }
        }
        if applied {
            let new =
                codec::contribution(self.fields(i)).expect("fields are encoded by the builder");
            r.delta.replace(stored.map(|(_, c)| c), &new);
        }
        applied
    }
}

/// Builds a [`KeyedBatch`] from lines pushed in arrival order. Each line's key and
/// encoded fields go to two byte arenas as it comes (the snapshot can be dropped at once),
/// with the first 32 bytes of its key as four big-endian words; lines encoded elsewhere
/// ([`EncodedLines`]) are taken whole ([`BatchBuilder::append`]). [`BatchBuilder::finish`]
/// sorts the lines by key (then arrival), walks each key's run of lines to find its records
/// and newest line, and copies each final once. Sorting the lines costs about what sorting
/// the finals alone would, and needs no hash table (whose probes miss the cache on every
/// line). The buffers are kept for the next batch.
#[derive(Default)]
pub struct BatchBuilder {
    /// The lines pushed, in arrival order (their prefixes are in `order`, not here).
    lines: EncodedLines,
    /// Per line, in arrival order until sorted: see [`Line`].
    order: Vec<Line>,
    /// The part lines pushed now belong to.
    current_part: u32,
    /// A batch given back by [`BatchBuilder::recycle`], whose buffers the next
    /// [`BatchBuilder::finish`] fills. One: a pipelined import has up to three batches out
    /// at once (being stored, waiting, being finished), and one spare reuses most of what
    /// comes back (keeping two saved no time in the 20 M import and took 70–100 MB more).
    spare: Option<KeyedBatch>,
}

/// Lines encoded as a [`BatchBuilder`] keeps them, in arrival order: each line's block key
/// and [`codec`]-encoded fields in two byte arenas, its version, and the first 32 bytes of
/// its key as four big-endian words (see [`key_prefix`]). Parsing threads can encode their
/// stretch of a feed into one ([`EncodedLines::push`]) for a builder to take whole
/// ([`BatchBuilder::append`]), so that the thread building batches only copies bytes.
#[derive(Debug, Default)]
pub struct EncodedLines {
    prefix: Vec<[u64; 4]>,
    /// Per line: the end of its key in `keys`.
    key_end: Vec<u32>,
    keys: Vec<u8>,
    /// Per line: the end of its encoded fields in `fields`.
    field_end: Vec<u32>,
    fields: Vec<u8>,
    version: Vec<u64>,
}

impl EncodedLines {
    pub fn new() -> EncodedLines {
        EncodedLines::default()
    }

    /// Lines held.
    pub fn len(&self) -> usize {
        self.version.len()
    }

    pub fn is_empty(&self) -> bool {
        self.version.is_empty()
    }

    /// Empties it (the buffers keep their capacity).
    pub fn clear(&mut self) {
        self.prefix.clear();
        self.key_end.clear();
        self.keys.clear();
        self.field_end.clear();
        self.fields.clear();
        self.version.clear();
    }

    /// Adds one line. At most 4 GiB of keys and of fields, and 2³² lines.
    pub fn push(&mut self, s: &DossierSnapshot) {
        let prefix = self.push_returning_prefix(s);
        self.prefix.push(prefix);
    }

    /// Adds one line but for its prefix, which it returns.
    fn push_returning_prefix(&mut self, s: &DossierSnapshot) -> [u64; 4] {
        let start = self.keys.len();
        crate::blocks::key_of(s.source.as_bytes(), s.dossier_id.as_bytes(), &mut self.keys);
        codec::encode(s, &mut self.fields);
        let (k, f) = (self.keys.len(), self.fields.len());
        assert!(
            k <= u32::MAX as usize && f <= u32::MAX as usize && self.len() < u32::MAX as usize,
            "a batch stays under 4 GiB of keys, 4 GiB of fields and 2^32 lines"
        );
        self.key_end.push(k as u32);
        self.field_end.push(f as u32);
        self.version.push(s.version);
        key_prefix(&self.keys[start..])
    }

    /// Adds `other`'s lines after these.
    pub fn append(&mut self, other: &EncodedLines) {
        self.append_without_prefixes(other);
        self.prefix.extend_from_slice(&other.prefix);
    }

    /// Adds `other`'s lines after these, but for their prefixes.
    fn append_without_prefixes(&mut self, other: &EncodedLines) {
        let (k, f) = (self.keys.len(), self.fields.len());
        assert!(
            k + other.keys.len() <= u32::MAX as usize
                && f + other.fields.len() <= u32::MAX as usize
                && self.len() + other.len() <= u32::MAX as usize,
            "a batch stays under 4 GiB of keys, 4 GiB of fields and 2^32 lines"
        );
        let (k, f) = (k as u32, f as u32);
        self.key_end.extend(other.key_end.iter().map(|e| e + k));
        self.keys.extend_from_slice(&other.keys);
        self.field_end.extend(other.field_end.iter().map(|e| e + f));
        self.fields.extend_from_slice(&other.fields);
        self.version.extend_from_slice(&other.version);
    }

    fn key(&self, line: usize) -> &[u8] {
        nth(&self.keys, &self.key_end, line)
    }

    fn field_bytes(&self, line: usize) -> &[u8] {
        nth(&self.fields, &self.field_end, line)
    }
}

/// What sorting a line needs, and what the walk after it reads most: its key's prefix
/// (see [`key_prefix`]), its arrival number and its part. (The part fills what would be
/// padding.)
#[derive(Clone, Copy)]
struct Line {
    prefix: [u64; 4],
    line: u32,
    part: u32,
}

impl Line {
    /// Whether the key is shorter than the prefix (its last byte is then 0): equal
    /// prefixes are then equal keys, and the key is the prefix without its trailing 0s.
    fn short(&self) -> bool {
        self.prefix[3] & 0xff == 0
    }
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder::default()
    }

    /// Takes back a batch the store is done with: the next [`BatchBuilder::finish`] fills
    /// its buffers instead of new ones (fresh memory is faulted in and zeroed by the
    /// kernel, a cost per batch that shows in the import's profile).
    pub fn recycle(&mut self, batch: KeyedBatch) {
        self.spare.get_or_insert(batch);
    }

    /// Lines pushed since the last [`BatchBuilder::finish`].
    pub fn lines(&self) -> usize {
        self.lines.len()
    }

    /// Lines pushed from now on form the next part of the batch: the batch's lines are
    /// then counted per part as well ([`Resolution::parts`]), so that one transaction can
    /// take the lines of several senders and answer each with its own counts. Parts
    /// follow each other in arrival order.
    pub fn next_part(&mut self) {
        self.current_part += 1;
    }

    /// Adds one line (lines come in arrival order). A batch holds at most 4 GiB of keys
    /// and of fields, and 2³² lines (the import's batches hold a million).
    pub fn push(&mut self, s: &DossierSnapshot) {
        let line = self.lines.len() as u32;
        let prefix = self.lines.push_returning_prefix(s);
        self.order.push(Line {
            prefix,
            line,
            part: self.current_part,
        });
    }

    /// Adds lines encoded elsewhere, after those pushed so far (in the current part).
    pub fn append(&mut self, lines: &EncodedLines) {
        let first = self.lines.len() as u32;
        self.lines.append_without_prefixes(lines);
        let part = self.current_part;
        self.order.extend(
            lines
                .prefix
                .iter()
                .zip(first..)
                .map(|(&prefix, line)| Line { prefix, line, part }),
        );
    }

    /// The batch of the lines pushed so far, sorted by key; the builder is then empty (its
    /// buffers keep their capacity).
    pub fn finish(&mut self) -> KeyedBatch {
        let mut order = std::mem::take(&mut self.order);
        let enc = &self.lines;
        // By key, then arrival: equal prefixes of long keys are told apart by the keys.
        order.sort_unstable_by(|a, b| {
            a.prefix
                .cmp(&b.prefix)
                .then_with(|| {
                    if a.short() {
                        Ordering::Equal
                    } else {
                        enc.key(a.line as usize).cmp(enc.key(b.line as usize))
                    }
                })
                .then(a.line.cmp(&b.line))
        });
        // Capacities for every line being a final: an upper bound (memory a batch does not
        // use is never touched), so the buffers never grow by copying.
        let lines = order.len();
        let mut out = self.spare.take().unwrap_or_default();
        room(&mut out.keys, enc.keys.len());
        room(&mut out.fields, enc.fields.len());
        room(&mut out.key_end, lines);
        room(&mut out.field_end, lines);
        room(&mut out.versions, lines);
        room(&mut out.records, lines);
        room(&mut out.record_start, lines + 1);
        room(&mut out.record_parts, lines);
        out.stale_parts.clear();
        out.stale_parts.resize(self.current_part as usize + 1, 0);
        let mut at = 0;
        while at < order.len() {
            let first = order[at];
            let short = first.short();
            let mut end = at + 1;
            while end < order.len()
                && order[end].prefix == first.prefix
                && (short || enc.key(order[end].line as usize) == enc.key(first.line as usize))
            {
                end += 1;
            }
            // The key's lines in arrival order: a record is above every earlier line.
            out.record_start.push(out.records.len() as u32);
            let mut newest = first.line as usize;
            let mut version = enc.version[newest];
            out.records.push(version);
            out.record_parts.push(first.part);
            for l in &order[at + 1..end] {
                let v = enc.version[l.line as usize];
                if v > version {
                    out.records.push(v);
                    out.record_parts.push(l.part);
                    newest = l.line as usize;
                    version = v;
                } else {
                    out.stale_parts[l.part as usize] += 1;
                }
            }
            if short {
                // The key is in the prefix: no read of the key arena.
                let mut bytes = [0u8; 32];
                for (w, word) in first.prefix.iter().enumerate() {
                    bytes[w * 8..w * 8 + 8].copy_from_slice(&word.to_be_bytes());
                }
                let len = 32 - bytes.iter().rev().take_while(|&&b| b == 0).count();
                out.keys.extend_from_slice(&bytes[..len]);
            } else {
                out.keys.extend_from_slice(enc.key(first.line as usize));
            }
            out.fields.extend_from_slice(enc.field_bytes(newest));
            out.key_end.push(out.keys.len() as u32);
            out.field_end.push(out.fields.len() as u32);
            out.versions.push(version);
            at = end;
        }
        out.record_start.push(out.records.len() as u32);
        order.clear();
        self.order = order;
        self.lines.clear();
        self.current_part = 0;
        out
    }
}

/// Empties `v` and makes room for `n` items. A buffer too small is replaced rather than
/// grown: growing would copy what it held.
fn room<T>(v: &mut Vec<T>, n: usize) {
    v.clear();
    if v.capacity() < n {
        *v = Vec::with_capacity(n);
    }
}

/// Item `i` of byte strings concatenated in `bytes`, item `k` ending at `ends[k]`.
fn nth<'a>(bytes: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    &bytes[start as usize..ends[i] as usize]
}

/// The first 32 bytes of a block key, zero-padded, as four big-endian words (which
/// compare as the bytes do). No key holds a 0 byte but the one after the source (the feed
/// refuses control characters), so comparing these prefixes, then the full keys on a tie,
/// orders keys exactly as comparing `(source, dossier_id)` byte-wise.
fn key_prefix(key: &[u8]) -> [u64; 4] {
    let mut p = [0u8; 32];
    let n = key.len().min(32);
    p[..n].copy_from_slice(&key[..n]);
    std::array::from_fn(|i| u64::from_be_bytes(p[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latest::LiveIndicators;

    fn snap(id: &str, version: u64) -> DossierSnapshot {
        let line = format!(
            "{id},dvcqg,{version},1.000001,79,,online,true,received,2025-07-01T08:00:00+07:00,,,0,false\n"
        );
        let data = format!(
            "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online\n{line}"
        );
        let (mut v, rej, _) = crate::parse_all(data.as_bytes(), crate::Format::Csv).unwrap();
        assert!(rej.is_empty(), "{rej:?}");
        v.pop().unwrap()
    }

    #[test]
    fn long_keys_that_share_a_prefix_stay_apart() {
        let long = "D-2025-07-01-0000000000000000000000000000";
        let batch = vec![
            snap(&format!("{long}1"), 1),
            snap(&format!("{long}2"), 1),
            snap(&format!("{long}1"), 2),
            snap(&format!("{long}2"), 1),
        ];
        let kb = KeyedBatch::new(batch);
        let keys: Vec<(String, u64)> = (0..kb.len())
            .map(|i| {
                let s = kb.snapshot(i);
                (s.dossier_id.as_str().to_owned(), s.version)
            })
            .collect();
        assert_eq!(keys, [(format!("{long}1"), 2), (format!("{long}2"), 1)]);
        assert_eq!(kb.lines(), 4);
        assert_eq!(kb.resolution().stale(), 1);
    }

    #[test]
    fn keys_around_the_prefix_length_come_out_whole() {
        // "dvcqg" and its 0 byte take 6 of the prefix's 32 bytes: ids of 24 to 28 bytes
        // make keys of 30 to 34 bytes, short (taken from the prefix) and long.
        let ids: Vec<String> = (24..=28).map(|n| "7".repeat(n)).collect();
        let batch: Vec<DossierSnapshot> = ids.iter().rev().map(|id| snap(id, 1)).collect();
        let kb = KeyedBatch::new(batch);
        let keys: Vec<Vec<u8>> = (0..kb.len()).map(|i| kb.key(i).to_vec()).collect();
        let expected: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| {
                let mut k = Vec::new();
                crate::blocks::key_of("dvcqg", id, &mut k);
                k
            })
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(kb.key(1).len(), 31);
        assert_eq!(kb.key(2).len(), 32);
    }

    #[test]
    fn parts_are_counted_apart_as_if_applied_one_after_the_other() {
        let mut live = LiveIndicators::new();
        live.ingest(snap("a", 2));
        let mut b = BatchBuilder::new();
        for s in [snap("a", 1), snap("b", 5)] {
            b.push(&s);
        }
        b.next_part();
        for s in [snap("a", 3), snap("b", 5), snap("a", 3), snap("c", 0)] {
            b.push(&s);
        }
        let kb = b.finish();
        let mut r = kb.resolution();
        for i in 0..kb.len() {
            let s = kb.snapshot(i);
            let stored = live
                .latest
                .get(s.source.as_str(), s.dossier_id.as_str())
                .map(|o| (o.version, Contribution::of(o)));
            kb.resolve_one(i, stored.as_ref(), &mut r);
        }
        // Part 0: a 1 stale, b 5 applied. Part 1: a 3 applied, b 5 stale (after part 0's),
        // a 3 stale, c applied.
        assert_eq!(r.parts, vec![(1, 1), (2, 2)]);
        assert_eq!((r.applied(), r.stale()), (3, 3));
        // The builder starts again with one part.
        b.push(&snap("d", 1));
        assert_eq!(b.finish().resolution().parts, vec![(0, 0)]);
    }

    #[test]
    fn appending_encoded_lines_builds_what_pushing_them_does() {
        let lines = [
            snap("a", 2),
            snap("b", 5),
            snap("a", 1),
            snap(&"7".repeat(40), 3),
            snap("b", 6),
            snap("a", 4),
            snap(&"7".repeat(40), 3),
        ];
        let (mut pushed, mut appended) = (BatchBuilder::new(), BatchBuilder::new());
        for (n, s) in lines.iter().enumerate() {
            if n == 3 {
                pushed.next_part();
            }
            pushed.push(s);
        }
        // Encoded in stretches, as parsing threads do, the second part in two stretches.
        let mut stretch = EncodedLines::new();
        for (n, s) in lines.iter().enumerate() {
            if n == 3 || n == 5 {
                appended.append(&stretch);
                stretch.clear();
                if n == 3 {
                    appended.next_part();
                }
            }
            stretch.push(s);
        }
        assert_eq!(stretch.len(), 2);
        appended.append(&stretch);
        assert_eq!(appended.lines(), lines.len());
        let (p, a) = (pushed.finish(), appended.finish());
        let finals = |b: &KeyedBatch| -> Vec<(Vec<u8>, u64, Vec<u8>)> {
            (0..b.len())
                .map(|i| (b.key(i).to_vec(), b.version(i), b.fields(i).to_vec()))
                .collect()
        };
        assert_eq!(finals(&a), finals(&p));
        assert_eq!(a.len(), 3);
        let counts = |b: &KeyedBatch| {
            let mut r = b.resolution();
            for i in 0..b.len() {
                b.resolve_one(i, None, &mut r);
            }
            r.parts
        };
        // Part 0: a 2, b 5 applied, a 1 stale; part 1: the long key once applied, once
        // stale, b 6 and a 4 applied.
        assert_eq!(counts(&a), vec![(2, 1), (3, 1)]);
        assert_eq!(counts(&p), counts(&a));
    }

    #[test]
    fn counts_match_line_by_line_application() {
        let mut live = LiveIndicators::new();
        live.ingest(snap("a", 2));
        let batch = vec![
            snap("a", 1),
            snap("b", 5),
            snap("a", 3),
            snap("b", 5),
            snap("a", 3),
            snap("b", 7),
            snap("c", 0),
        ];
        let kb = KeyedBatch::new(batch);
        assert_eq!(kb.lines(), 7);
        let finals: Vec<DossierSnapshot> = (0..kb.len()).map(|i| kb.snapshot(i)).collect();
        let keys: Vec<&str> = finals.iter().map(|s| s.dossier_id.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        // The finals are the newest lines of their keys, first of equal versions.
        assert_eq!(finals[1].version, 7);
        assert_eq!(kb.key(1), b"dvcqg\0b");
        assert_eq!(kb.source(1), b"dvcqg");
        let mut r = kb.resolution();
        let mut changed = Vec::new();
        for (i, s) in finals.iter().enumerate() {
            let stored = live
                .latest
                .get(s.source.as_str(), s.dossier_id.as_str())
                .map(|o| (o.version, Contribution::of(o)));
            if kb.resolve_one(i, stored.as_ref(), &mut r) {
                changed.push(i);
            }
        }
        // a: 1 stale, 3 applied, 3 stale; b: 5 applied, 5 stale, 7 applied; c applied.
        assert_eq!((r.applied(), r.stale()), (4, 3));
        assert_eq!(changed, vec![0, 1, 2]);
    }
}

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

use crate::codec;
use crate::indicators::{Contribution, ContributionRef, Delta};
use crate::snapshot::DossierSnapshot;
use crate::text::INLINE_CAPACITY;

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
        let applied = self.count_lines(i, stored.map(|(v, _)| *v), r);
        if applied {
            r.delta
                .replace_ref(stored.map(|(_, c)| c.as_ref()), self.contribution(i));
        }
        applied
    }

    /// Like [`KeyedBatch::resolve_one`], with the stored snapshot's version and
    /// [`codec`]-encoded fields: they are decoded only if the final wins, and not at all
    /// when they are the final's very bytes (nothing changes). `None` if they had to be
    /// decoded and are not a valid encoding.
    pub fn resolve_encoded(
        &self,
        i: usize,
        stored: Option<(u64, &[u8])>,
        r: &mut Resolution,
    ) -> Option<bool> {
        let applied = self.count_lines(i, stored.map(|(v, _)| v), r);
        if applied {
            let fields = self.fields(i);
            match stored {
                Some((_, old)) if old == fields => {}
                Some((_, old)) => {
                    let old = codec::contribution_ref(old)?;
                    r.delta.replace_ref(Some(old), self.contribution(i));
                }
                None => r.delta.replace_ref(None, self.contribution(i)),
            }
        }
        Some(applied)
    }

    /// Adds final `i`'s lines to the counts of their parts, as applied or stale against
    /// the stored version; whether any was applied.
    fn count_lines(&self, i: usize, stored: Option<u64>, r: &mut Resolution) -> bool {
        let range = self.record_start[i] as usize..self.record_start[i + 1] as usize;
        let mut applied = false;
        for (&x, &part) in self.records[range.clone()]
            .iter()
            .zip(&self.record_parts[range])
        {
            let part = &mut r.parts[part as usize];
            if stored.is_none_or(|v| x > v) {
                applied = true;
                part.0 += 1;
            } else {
                part.1 += 1;
            }
        }
        applied
    }

    fn contribution(&self, i: usize) -> ContributionRef<'_> {
        codec::contribution_ref(self.fields(i)).expect("fields are encoded by the builder")
    }
}

/// Builds a [`KeyedBatch`] from lines pushed in arrival order. Each line's key and
/// encoded fields go to two byte arenas as it comes (the snapshot can be dropped at once);
/// lines encoded elsewhere ([`EncodedLines`]) are taken whole, as they are
/// ([`BatchBuilder::append`]): the batch is then a list of such stretches, read where they
/// are by [`BatchBuilder::finish`] instead of being copied into one arena first.
///
/// [`BatchBuilder::finish`] is a sample sort: splitters sampled from the batch cut the key
/// space into buckets of a few thousand lines; one pass in arrival order moves each line's
/// key prefix (the first 32 bytes of its key as four big-endian words, taken from the key
/// there), version and encoded fields into its bucket; then each bucket is sorted by key
/// (then arrival) and walked to find each key's records and newest line, while it is in
/// the cache. Sorting the whole batch at once and then copying each final out of the
/// arrival-ordered arena missed the cache on nearly every final. No hash table either
/// (whose probes miss the cache on every line). The buffers are kept for the next batch.
#[derive(Default)]
pub struct BatchBuilder {
    /// The lines pushed, in arrival order: stretch after stretch, none empty.
    stretches: Vec<EncodedLines>,
    /// Per stretch: the number (in arrival order) of its first line.
    starts: Vec<u32>,
    /// Lines in the stretches, and bytes of their keys and of their fields.
    len: usize,
    key_bytes: usize,
    field_bytes: usize,
    /// Emptied stretches of finished batches, with their buffers: to be filled again (see
    /// [`BatchBuilder::spare_lines`]).
    spent: Vec<EncodedLines>,
    /// Per part but the first, the line it starts at (see [`BatchBuilder::next_part`]).
    part_starts: Vec<u32>,
    /// Buffers of [`BatchBuilder::finish`], kept for the next batch.
    sort: SortBuffers,
    /// A batch given back by [`BatchBuilder::recycle`], whose buffers the next
    /// [`BatchBuilder::finish`] fills. One: a pipelined import has up to two batches out
    /// at once (being stored, waiting), and finishes the next once the older is back.
    spare: Option<KeyedBatch>,
}

/// The lines a [`BatchBuilder`] took and has not finished, as [`BatchBuilder::take_pending`]
/// takes them out: the stretches with their first lines' numbers, the counts, and where
/// the parts start.
#[derive(Default)]
pub struct PendingLines {
    stretches: Vec<EncodedLines>,
    starts: Vec<u32>,
    len: usize,
    key_bytes: usize,
    field_bytes: usize,
    part_starts: Vec<u32>,
}

/// The lines of a batch moved into their buckets (bucket after bucket, arrival order
/// within each), for [`BatchBuilder::finish`].
#[derive(Default)]
struct SortBuffers {
    /// Per line in arrival order: its bucket.
    bucket: Vec<u16>,
    /// Per bucketed line: what sorting it needs (its `line` is its place in these buffers).
    lines: Vec<Line>,
    /// The bucket being sorted, as its sort sees it (see [`sort_key`]).
    sorted: Vec<u128>,
    /// Per bucketed line, in the same places: see [`Record`].
    records: Vec<Record>,
    /// The bucketed lines' encoded fields, concatenated in their order.
    fields: Vec<u8>,
}

/// What the walk after sorting reads of a bucketed line besides its [`Line`]: its
/// version, its number in arrival order (to read a long key from the builder's arena) and
/// the end of its encoded fields in [`SortBuffers::fields`] (they start where the previous
/// line's end).
#[derive(Clone, Copy, Default)]
struct Record {
    version: u64,
    arrival: u32,
    fields_to: u32,
}

/// Lines per bucket [`BatchBuilder::finish`] aims at: a bucket's lines, versions and fields
/// (about 90 bytes a line) then sort and are walked within a core's L2 cache.
const BUCKET_LINES: usize = 4096;

/// Buckets at most (bucket numbers are `u16`).
const MAX_BUCKETS: usize = 1024;

/// Prefixes sampled per bucket to choose the splitters.
const OVERSAMPLING: usize = 16;

/// Lines encoded as a [`BatchBuilder`] keeps them, in arrival order: each line's block key
/// and [`codec`]-encoded fields in two byte arenas, and its version. Parsing threads can
/// encode their stretch of a feed into one ([`EncodedLines::push`]) for a builder to take
/// whole ([`BatchBuilder::append`]), so that the thread building batches only copies bytes.
/// Each line's key prefix (see `key_prefix`), which sorting needs, is taken from its key
/// when the batch is finished rather than kept here: lines wait here for up to two
/// batches, and 32 bytes a line was a sixth of an import's peak memory.
#[derive(Debug, Default)]
pub struct EncodedLines {
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
        self.key_end.clear();
        self.keys.clear();
        self.field_end.clear();
        self.fields.clear();
        self.version.clear();
    }

    /// Adds one line. At most 4 GiB of keys and of fields, and 2³² lines.
    pub fn push(&mut self, s: &DossierSnapshot) {
        match (s.source.window(), s.dossier_id.window()) {
            (Some(source), Some(id)) => self.push_key_windows(source, id),
            _ => {
                crate::blocks::key_of(s.source.as_bytes(), s.dossier_id.as_bytes(), &mut self.keys)
            }
        }
        codec::encode(s, &mut self.fields);
        let (k, f) = (self.keys.len(), self.fields.len());
        assert!(
            k <= u32::MAX as usize && f <= u32::MAX as usize && self.len() < u32::MAX as usize,
            "a batch stays under 4 GiB of keys, 4 GiB of fields and 2^32 lines"
        );
        self.key_end.push(k as u32);
        self.field_end.push(f as u32);
        self.version.push(s.version);
    }

    /// Appends the block key of a source and a dossier id held inline (their windows and
    /// lengths, see `ShortStr::window`), copying whole windows: keys are pushed once per
    /// line of a feed.
    #[inline(always)]
    fn push_key_windows(
        &mut self,
        (source, source_len): (&[u8; INLINE_CAPACITY], usize),
        (id, id_len): (&[u8; INLINE_CAPACITY], usize),
    ) {
        let mut key = [0u8; 2 * INLINE_CAPACITY + 4];
        key[..INLINE_CAPACITY].copy_from_slice(source);
        key[source_len] = 0;
        key[source_len + 1..source_len + 1 + INLINE_CAPACITY].copy_from_slice(id);
        // The key's bytes; those after them are the windows' unspecified ones.
        let n = source_len + 1 + id_len;
        let at = self.keys.len();
        self.keys.extend_from_slice(&key);
        self.keys.truncate(at + n);
    }

    fn key(&self, line: usize) -> &[u8] {
        nth(&self.keys, &self.key_end, line)
    }

    /// Line `line`'s key prefix, as [`key_prefix`] gives it, read from the arena in whole
    /// words where 32 bytes follow the key's start (a copy of a key's length of bytes is
    /// a call to `memcpy`; this is done twice per line of a batch).
    #[inline]
    fn prefix(&self, line: usize) -> [u64; 4] {
        let key = span(&self.key_end, line);
        let (start, len) = (key.start, key.len());
        match self.keys.get(start..start + 32) {
            Some(window) => std::array::from_fn(|i| {
                let word = u64::from_be_bytes(window[i * 8..i * 8 + 8].try_into().expect("8"));
                // The word's bytes of the key; those after it are other keys'.
                let valid = len.saturating_sub(i * 8).min(8) as u32;
                word & u64::MAX.checked_shl(64 - 8 * valid).unwrap_or(0)
            }),
            None => key_prefix(&self.keys[key]),
        }
    }

    /// Bytes of keys held.
    fn key_bytes(&self) -> usize {
        self.keys.len()
    }

    fn field_bytes(&self, line: usize) -> &[u8] {
        nth(&self.fields, &self.field_end, line)
    }
}

/// What sorting a line needs (see [`sort_key`]), and what the walk after it reads most:
/// its key's prefix (see [`key_prefix`]), its place in the bucketed buffers (the same
/// order as arrival within a bucket) and its part. (The part fills what would be padding.)
#[derive(Clone, Copy, Default)]
struct Line {
    prefix: [u64; 4],
    line: u32,
    part: u32,
}

impl Line {
    /// Whether the key is shorter than the prefix: equal prefixes are then equal keys, and
    /// the key is the prefix without its trailing 0s. The prefix's last byte is then 0,
    /// and so is an earlier one (the source's end: a dossier id has at least one byte).
    /// A last byte of 0 alone is the end of a source of 31 bytes, in a longer key.
    fn short(&self) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGHS != 0;
        let [w0, w1, w2, w3] = self.prefix;
        w3 & 0xff == 0 && (has_zero(w0) || has_zero(w1) || has_zero(w2) || has_zero(w3 | 0xff))
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
        self.len
    }

    /// An empty stretch to encode lines into for [`BatchBuilder::append`]: one of a
    /// finished batch (whose buffers are already in memory) if there is one. A pipelined
    /// import hands one back for every stretch it appends, so that the stretches of a
    /// batch go round instead of being allocated again.
    pub fn spare_lines(&mut self) -> EncodedLines {
        self.spent.pop().unwrap_or_default()
    }

    /// The stretch lines are pushed into: the last one.
    fn last_stretch(&mut self) -> &mut EncodedLines {
        if self.stretches.is_empty() {
            let spare = self.spare_lines();
            self.starts.push(self.len as u32);
            self.stretches.push(spare);
        }
        self.stretches.last_mut().expect("a stretch")
    }

    /// Lines pushed from now on form the next part of the batch: the batch's lines are
    /// then counted per part as well ([`Resolution::parts`]), so that one transaction can
    /// take the lines of several senders and answer each with its own counts. Parts
    /// follow each other in arrival order.
    pub fn next_part(&mut self) {
        self.part_starts.push(self.len as u32);
    }

    /// Adds one line (lines come in arrival order). A batch holds at most 4 GiB of keys
    /// and of fields, and 2³² lines (the import's batches hold a million).
    pub fn push(&mut self, s: &DossierSnapshot) {
        let last = self.last_stretch();
        let before = (last.key_bytes(), last.fields.len());
        last.push(s);
        let more = (last.key_bytes() - before.0, last.fields.len() - before.1);
        self.count(1, more);
    }

    /// Adds lines encoded elsewhere, after those pushed so far (in the current part). The
    /// stretch is kept as it is, not copied.
    pub fn append(&mut self, lines: EncodedLines) {
        if lines.is_empty() {
            self.spent.push(lines);
            return;
        }
        self.starts.push(self.len as u32);
        self.count(lines.len(), (lines.key_bytes(), lines.fields.len()));
        self.stretches.push(lines);
    }

    /// Takes out the lines added since the last [`BatchBuilder::finish`], for another
    /// builder to finish ([`BatchBuilder::finish_pending`]); this one is then empty and
    /// goes on taking lines. A pipelined import thus adds the next batch's lines while the
    /// last one is being sorted, on another thread.
    pub fn take_pending(&mut self) -> PendingLines {
        let pending = PendingLines {
            stretches: std::mem::take(&mut self.stretches),
            starts: std::mem::take(&mut self.starts),
            len: self.len,
            key_bytes: self.key_bytes,
            field_bytes: self.field_bytes,
            part_starts: std::mem::take(&mut self.part_starts),
        };
        (self.len, self.key_bytes, self.field_bytes) = (0, 0, 0);
        pending
    }

    /// The batch of `pending`'s lines, sorted by key, as [`BatchBuilder::finish`] makes it
    /// (with this builder's buffers and recycled batch). Lines added to this builder and
    /// not finished are kept apart: they stay for its next finish.
    pub fn finish_pending(&mut self, pending: PendingLines) -> KeyedBatch {
        let own = self.take_pending();
        self.put_pending(pending);
        let batch = self.finish();
        self.put_pending(own);
        batch
    }

    /// Puts taken lines back into an empty builder.
    fn put_pending(&mut self, p: PendingLines) {
        debug_assert!(self.stretches.is_empty() && self.len == 0);
        self.stretches = p.stretches;
        self.starts = p.starts;
        (self.len, self.key_bytes, self.field_bytes) = (p.len, p.key_bytes, p.field_bytes);
        self.part_starts = p.part_starts;
    }

    /// The emptied stretches of finished batches, with their buffers, taken out: for the
    /// builder that takes the lines ([`BatchBuilder::give_spent`]) when another finishes.
    pub fn take_spent(&mut self) -> Vec<EncodedLines> {
        std::mem::take(&mut self.spent)
    }

    /// Emptied stretches to fill again ([`BatchBuilder::spare_lines`]).
    pub fn give_spent(&mut self, spent: impl IntoIterator<Item = EncodedLines>) {
        self.spent.extend(spent);
    }

    /// Counts lines added, with their bytes of keys and of fields. Offsets in a batch are
    /// `u32`s.
    fn count(&mut self, lines: usize, (keys, fields): (usize, usize)) {
        self.len += lines;
        self.key_bytes += keys;
        self.field_bytes += fields;
        assert!(
            self.key_bytes <= u32::MAX as usize
                && self.field_bytes <= u32::MAX as usize
                && self.len <= u32::MAX as usize,
            "a batch stays under 4 GiB of keys, 4 GiB of fields and 2^32 lines"
        );
    }

    /// The batch of the lines pushed so far, sorted by key; the builder is then empty (its
    /// buffers keep their capacity).
    pub fn finish(&mut self) -> KeyedBatch {
        let (stretches, starts) = (&self.stretches, &self.starts);
        let (n, key_bytes, field_bytes) = (self.len, self.key_bytes, self.field_bytes);
        let buckets = (n / BUCKET_LINES).next_power_of_two().min(MAX_BUCKETS);
        let splitters = Splitters::new(splitters(
            |i| {
                let (s, j) = locate(stretches, starts, i);
                s.prefix(j)
            },
            n,
            buckets,
        ));
        let sb = &mut self.sort;

        // Each line's bucket, and each bucket's lines and field bytes.
        sb.bucket.clear();
        let mut count = vec![(0usize, 0usize); buckets];
        for enc in stretches {
            // Eight lines at a time: their searches are independent, so the core works
            // on eight at once instead of waiting on each step of one.
            let mut i = 0;
            while i < enc.len() {
                let many = (enc.len() - i).min(LANES);
                let mut prefixes = [[0u64; 4]; LANES];
                for (l, p) in prefixes[..many].iter_mut().enumerate() {
                    *p = enc.prefix(i + l);
                }
                let found = splitters.buckets(&prefixes);
                for (l, &b) in found[..many].iter().enumerate() {
                    sb.bucket.push(b as u16);
                    count[b].0 += 1;
                    count[b].1 += enc.field_bytes(i + l).len();
                }
                i += many;
            }
        }
        // Where each bucket starts, then the lines moved there in arrival order.
        let mut next = Vec::with_capacity(buckets);
        let (mut at, mut field) = (0usize, 0usize);
        for &(lines, bytes) in &count {
            next.push((at, field));
            at += lines;
            field += bytes;
        }
        let bounds: Vec<usize> = next.iter().map(|&(at, _)| at).chain([n]).collect();
        let field_bounds: Vec<usize> = next.iter().map(|&(_, f)| f).chain([field_bytes]).collect();
        room(&mut sb.lines, n);
        sb.lines.resize(n, Line::default());
        room(&mut sb.records, n);
        sb.records.resize(n, Record::default());
        room(&mut sb.fields, field_bytes);
        sb.fields.resize(field_bytes, 0);
        // Parts start at these lines (some parts may be empty).
        let mut part_starts = self.part_starts.iter().map(|&s| s as usize);
        let (mut part, mut part_end) = (0u32, part_starts.next().unwrap_or(usize::MAX));
        let mut i = 0usize;
        for enc in stretches {
            for j in 0..enc.len() {
                while i >= part_end {
                    part += 1;
                    part_end = part_starts.next().unwrap_or(usize::MAX);
                }
                let b = sb.bucket[i] as usize;
                let (at, field) = &mut next[b];
                let bytes = enc.field_bytes(j);
                let to = *field + bytes.len();
                sb.fields[*field..to].copy_from_slice(bytes);
                sb.lines[*at] = Line {
                    prefix: enc.prefix(j),
                    line: *at as u32,
                    part,
                };
                sb.records[*at] = Record {
                    version: enc.version[j],
                    arrival: i as u32,
                    fields_to: to as u32,
                };
                *at += 1;
                *field = to;
                i += 1;
            }
        }

        // Capacities for every line being a final: an upper bound (memory a batch does not
        // use is never touched), so the buffers never grow by copying.
        let mut out = self.spare.take().unwrap_or_default();
        room(&mut out.keys, key_bytes);
        room(&mut out.fields, field_bytes);
        room(&mut out.key_end, n);
        room(&mut out.field_end, n);
        room(&mut out.versions, n);
        room(&mut out.records, n);
        room(&mut out.record_start, n + 1);
        room(&mut out.record_parts, n);
        out.stale_parts.clear();
        out.stale_parts.resize(self.part_starts.len() + 1, 0);
        let records = &sb.records;
        let key = |l: &Line| {
            let (s, j) = locate(stretches, starts, records[l.line as usize].arrival as usize);
            s.key(j)
        };
        let fields_of = |line: usize| {
            let from = if line == 0 {
                0
            } else {
                records[line - 1].fields_to
            };
            &sb.fields[from as usize..records[line].fields_to as usize]
        };
        // Bucket after bucket (a key's lines share its prefix, hence its bucket), while its
        // lines are in the cache: sorted by key, then arrival (equal prefixes of long keys
        // are told apart by the keys), then walked key by key.
        for (b, (w, f)) in bounds.windows(2).zip(field_bounds.windows(2)).enumerate() {
            // The bucket's records and fields were written when the batch was bucketed, and
            // have left the cache since; the walk below reads them in key order, all over
            // the bucket. One pass in their order brings them back at the memory's pace
            // (the prefetcher follows it) instead of a miss at a time.
            let warm = records[w[0]..w[1]]
                .iter()
                .step_by(4)
                .fold(0u64, |a, r| a ^ r.version)
                ^ sb.fields[f[0]..f[1]]
                    .iter()
                    .step_by(64)
                    .fold(0u64, |a, &b| a ^ u64::from(b));
            std::hint::black_box(warm);
            // Sorted as 16-byte numbers (see `sort_key`) rather than as the 40-byte lines:
            // the sort moves its elements about, and that was most of its time.
            let lines = &sb.lines[w[0]..w[1]];
            let from = splitters.shared_bytes(b).min(WINDOW_FROM_MAX);
            let sorted = &mut sb.sorted;
            sorted.clear();
            sorted.extend(
                lines
                    .iter()
                    .enumerate()
                    .map(|(k, l)| sort_key(&l.prefix, from, k)),
            );
            sorted.sort_unstable();
            let line = |o: u128| &lines[o as u32 as usize];
            // Equal windows that end before the prefix does: by prefix, then arrival, too.
            if from + WINDOW < 32 {
                let mut at = 0;
                while at < sorted.len() {
                    let mut end = at + 1;
                    while end < sorted.len() && sorted[end] >> 32 == sorted[at] >> 32 {
                        end += 1;
                    }
                    if end - at > 1 {
                        sorted[at..end].sort_unstable_by(|a, b| {
                            line(*a).prefix.cmp(&line(*b).prefix).then(a.cmp(b))
                        });
                    }
                    at = end;
                }
            }
            // Long keys sharing a prefix: by key, then arrival, too.
            let mut at = 0;
            while at < sorted.len() {
                let mut end = at + 1;
                while end < sorted.len() && line(sorted[end]).prefix == line(sorted[at]).prefix {
                    end += 1;
                }
                if end - at > 1 && !line(sorted[at]).short() {
                    sorted[at..end]
                        .sort_unstable_by(|a, b| key(line(*a)).cmp(key(line(*b))).then(a.cmp(b)));
                }
                at = end;
            }
            let sorted = &*sorted;
            let order = |k: usize| line(sorted[k]);
            let mut at = 0;
            while at < sorted.len() {
                let first = *order(at);
                let short = first.short();
                let mut end = at + 1;
                while end < sorted.len()
                    && order(end).prefix == first.prefix
                    && (short || key(order(end)) == key(&first))
                {
                    end += 1;
                }
                // The key's lines in arrival order: a record is above every earlier line.
                out.record_start.push(out.records.len() as u32);
                let mut newest = first.line as usize;
                let mut version = records[newest].version;
                out.records.push(version);
                out.record_parts.push(first.part);
                for l in (at + 1..end).map(order) {
                    let v = records[l.line as usize].version;
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
                    out.keys.extend_from_slice(key(&first));
                }
                out.fields.extend_from_slice(fields_of(newest));
                out.key_end.push(out.keys.len() as u32);
                out.field_end.push(out.fields.len() as u32);
                out.versions.push(version);
                at = end;
            }
        }
        out.record_start.push(out.records.len() as u32);
        for mut s in self.stretches.drain(..) {
            s.clear();
            self.spent.push(s);
        }
        self.starts.clear();
        (self.len, self.key_bytes, self.field_bytes) = (0, 0, 0);
        self.part_starts.clear();
        out
    }
}

/// `buckets - 1` increasing prefixes that cut `prefixes` into about equal buckets: a line
/// goes to the bucket of the number of splitters not above its prefix. Chosen from a
/// sample spread evenly over the batch, so they follow the keys of this very batch (a
/// feed's new dossiers have keys no earlier batch had). Only speed depends on them.
fn splitters(prefix: impl Fn(usize) -> [u64; 4], n: usize, buckets: usize) -> Vec<[u64; 4]> {
    if buckets <= 1 {
        return Vec::new();
    }
    let samples = (buckets * OVERSAMPLING).min(n);
    let mut sample: Vec<[u64; 4]> = (0..samples).map(|k| prefix(k * n / samples)).collect();
    sample.sort_unstable();
    let mut cut: Vec<[u64; 4]> = (1..buckets)
        .map(|b| sample[b * samples / buckets])
        .collect();
    cut.dedup();
    cut
}

/// Bytes of a key prefix in a bucket's sort key, and where they start at most.
const WINDOW: usize = 12;
const WINDOW_FROM_MAX: usize = 32 - WINDOW;

/// A bucketed line as its bucket's sort sees it: the `WINDOW` bytes of its key's prefix
/// from byte `from` (before which the bucket's lines do not differ), then its place in
/// the bucket, in one number. Sorting these orders the bucket by key prefix, then
/// arrival, but for lines whose windows are equal and whose prefixes differ after them.
fn sort_key(prefix: &[u64; 4], from: usize, place: usize) -> u128 {
    let high = (u128::from(prefix[0]) << 64) | u128::from(prefix[1]);
    let low = (u128::from(prefix[2]) << 64) | u128::from(prefix[3]);
    // The 16 bytes from `from`.
    let bytes = match from * 8 {
        0 => high,
        bits @ 1..128 => (high << bits) | (low >> (128 - bits)),
        bits => low << (bits - 128),
    };
    (bytes & !u128::from(u32::MAX)) | place as u128
}

/// Lines whose buckets [`Splitters::buckets`] finds together.
const LANES: usize = 8;

/// A batch's splitters (increasing, distinct) with what finding a line's bucket, the
/// number of splitters not above its prefix, needs: a binary search without branches.
/// The steps of a search over whole prefixes branch either way at random (a
/// misprediction every other step); here each step's comparison of four words is
/// arithmetic (a subtraction's borrow), and the search moves by a conditional move. The
/// list is padded to a power of two with the largest prefix, so every search takes the
/// same steps.
struct Splitters {
    padded: Vec<[u64; 4]>,
    /// How many are real, and the number of steps (the log of the padded length).
    real: usize,
    steps: u32,
}

impl Splitters {
    fn new(mut splitters: Vec<[u64; 4]>) -> Splitters {
        let real = splitters.len();
        splitters.resize(real.next_power_of_two(), [u64::MAX; 4]);
        Splitters {
            steps: splitters.len().trailing_zeros(),
            padded: splitters,
            real,
        }
    }

    /// How many leading bytes the prefixes of bucket `b` share: those its two splitters
    /// share (none for the first and the last bucket, which have one).
    fn shared_bytes(&self, b: usize) -> usize {
        if b == 0 || b >= self.real {
            return 0;
        }
        let (low, high) = (&self.padded[b - 1], &self.padded[b]);
        let mut bytes = 0;
        for (l, h) in low.iter().zip(high) {
            if l != h {
                return bytes + (l ^ h).leading_zeros() as usize / 8;
            }
            bytes += 8;
        }
        bytes
    }

    /// Whether splitter `i` is not above `prefix`: subtracting it from `prefix`, word by
    /// word from the last, borrows nothing in the end.
    #[inline(always)]
    fn not_above(&self, i: usize, prefix: &[u64; 4]) -> bool {
        let s = &self.padded[i];
        let mut borrow = false;
        for w in (0..4).rev() {
            let (d, b1) = prefix[w].overflowing_sub(s[w]);
            let (_, b2) = d.overflowing_sub(u64::from(borrow));
            borrow = b1 | b2;
        }
        !borrow
    }

    /// The buckets of `LANES` prefixes, searched step by step together.
    #[inline]
    fn buckets(&self, prefixes: &[[u64; 4]; LANES]) -> [usize; LANES] {
        let mut base = [0usize; LANES];
        if self.real == 0 {
            return base;
        }
        for step in (0..self.steps).rev() {
            let half = 1usize << step;
            for (b, p) in base.iter_mut().zip(prefixes) {
                let below = self.not_above(*b + half - 1, p);
                *b = std::hint::select_unpredictable(below, *b + half, *b);
            }
        }
        for (b, p) in base.iter_mut().zip(prefixes) {
            // The padding is the largest prefix, and may equal one sought.
            *b = (*b + usize::from(self.not_above(*b, p))).min(self.real);
        }
        base
    }
}

/// Line `i` (in arrival order) of `stretches`, which start at lines `starts`: its stretch
/// and its place there.
fn locate<'a>(
    stretches: &'a [EncodedLines],
    starts: &[u32],
    i: usize,
) -> (&'a EncodedLines, usize) {
    let s = starts.partition_point(|&start| start as usize <= i) - 1;
    (&stretches[s], i - starts[s] as usize)
}

/// Empties `v` and makes room for `n` items. A buffer too small is replaced rather than
/// grown: growing would copy what it held. The new one has room for an eighth more, so
/// that the next batches, about as large, fit in it too (a batch is a million lines and
/// the rest of the last stretch): fresh memory is faulted in and cleared by the kernel,
/// and room never touched costs nothing.
fn room<T>(v: &mut Vec<T>, n: usize) {
    v.clear();
    if v.capacity() < n {
        *v = Vec::with_capacity(n + n / 8);
    }
}

/// Item `i` of byte strings concatenated in `bytes`, item `k` ending at `ends[k]`.
fn nth<'a>(bytes: &'a [u8], ends: &[u32], i: usize) -> &'a [u8] {
    &bytes[span(ends, i)]
}

/// Where item `i` of byte strings concatenated, item `k` ending at `ends[k]`, lies.
fn span(ends: &[u32], i: usize) -> std::ops::Range<usize> {
    let start = if i == 0 { 0 } else { ends[i - 1] };
    start as usize..ends[i] as usize
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

    /// A feed of `n` lines from a small pool of keys (short ones, and long ones sharing
    /// their first 32 bytes) over three sources, with versions that repeat and go back,
    /// and fields that differ from line to line.
    fn feed(seed: u64, n: usize) -> Vec<DossierSnapshot> {
        let mut x = seed | 1;
        let mut next = move |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        let mut data = String::from(
            "dossier_id,source,version,service_code,province_code,commune_code,channel,end_to_end,status,received_at,due_at,completed_at,fee_vnd,paid_online\n",
        );
        let pool = (n as u64 / 3).max(1);
        for _ in 0..n {
            let k = next(pool);
            let id = if k % 7 == 0 {
                format!("LONG-2025-07-01-00000000000000000000{k}")
            } else {
                format!("D{k}")
            };
            // Sources of 30 to 32 bytes put their end at or around the prefix's last byte.
            let source = [
                "dvcqg",
                "hcc-79",
                "b",
                "portal-of-a-ministry-thirty-by",
                "portal-of-a-ministry-thirty-one",
                "portal-of-a-ministry-thirty-two-",
            ][next(6) as usize];
            let (version, fee) = (next(6), next(1000) * 1000);
            data.push_str(&format!(
                "{id},{source},{version},1.000001,79,,online,true,received,2025-07-01T08:00:00+07:00,,,{fee},false\n"
            ));
        }
        let (v, rej, _) = crate::parse_all(data.as_bytes(), crate::Format::Csv).unwrap();
        assert!(rej.is_empty(), "{rej:?}");
        v
    }

    /// What a batch must hold, worked out line by line: per key in key order, its block
    /// key, final version and encoded fields, and its records with their parts; and the
    /// lines stale within the batch, per part.
    type Expected = (Vec<(Vec<u8>, u64, Vec<u8>, Vec<(u64, u32)>)>, Vec<u64>);

    fn expected(lines: &[DossierSnapshot], part_starts: &[usize]) -> Expected {
        // Per key: its newest version, that line's fields, its records.
        type Key = (u64, Vec<u8>, Vec<(u64, u32)>);
        let mut keys: std::collections::BTreeMap<Vec<u8>, Key> = Default::default();
        let mut stale = vec![0u64; part_starts.len() + 1];
        for (i, s) in lines.iter().enumerate() {
            let part = part_starts.iter().filter(|&&p| p <= i).count();
            let mut key = Vec::new();
            crate::blocks::key_of(s.source.as_bytes(), s.dossier_id.as_bytes(), &mut key);
            let mut fields = Vec::new();
            codec::encode(s, &mut fields);
            match keys.get_mut(&key) {
                Some(k) if s.version > k.0 => {
                    k.2.push((s.version, part as u32));
                    (k.0, k.1) = (s.version, fields);
                }
                Some(_) => stale[part] += 1,
                None => {
                    keys.insert(key, (s.version, fields, vec![(s.version, part as u32)]));
                }
            }
        }
        let finals = keys
            .into_iter()
            .map(|(k, (v, f, r))| (k, v, f, r))
            .collect();
        (finals, stale)
    }

    fn held(b: &KeyedBatch) -> Expected {
        let finals = (0..b.len())
            .map(|i| {
                let r = b.record_start[i] as usize..b.record_start[i + 1] as usize;
                let records = b.records[r.clone()]
                    .iter()
                    .zip(&b.record_parts[r])
                    .map(|(&v, &p)| (v, p))
                    .collect();
                (
                    b.key(i).to_vec(),
                    b.version(i),
                    b.fields(i).to_vec(),
                    records,
                )
            })
            .collect();
        (finals, b.stale_parts.clone())
    }

    /// A value as the CSV fast path holds it: inline in a window whose bytes after the
    /// value are anything (`garbage`), or on the heap when longer.
    fn held_as_parsed(value: &str, garbage: u8) -> crate::ShortStr {
        if value.len() > INLINE_CAPACITY {
            return crate::ShortStr::new(value);
        }
        let mut window = [garbage; INLINE_CAPACITY];
        window[..value.len()].copy_from_slice(value.as_bytes());
        crate::ShortStr::from_ascii_window(&window, value.len())
    }

    proptest::proptest! {
        /// The branch-free search finds the bucket a binary search over whole prefixes
        /// finds, for splitters sharing leading words (each word drawn from a few values)
        /// and prefixes equal to splitters, next to them, below and above them all.
        #[test]
        fn the_branch_free_search_finds_the_buckets_a_binary_search_finds(
            words in proptest::collection::vec(proptest::collection::vec(0u64..4, 4), 0..200),
            probes in proptest::collection::vec(proptest::collection::vec(0u64..5, 4), 1..100),
        ) {
            // Word values 0..4 spread apart, and the extremes, so probes fall between.
            let word = |w: u64| match w { 0 => 0, 4 => u64::MAX, w => w * 1000 };
            let mut sorted: Vec<[u64; 4]> =
                words.iter().map(|w| std::array::from_fn(|i| word(w[i]))).collect();
            sorted.sort_unstable();
            sorted.dedup();
            let splitters = Splitters::new(sorted.clone());
            let near = |p: [u64; 4], d: u64| p.map(|w| w.wrapping_add(d));
            let mut all: Vec<[u64; 4]> = probes
                .iter()
                .map(|w| std::array::from_fn(|i| word(w[i])))
                .collect();
            for s in &sorted {
                all.extend([*s, near(*s, 1), near(*s, u64::MAX)]);
            }
            all.extend([[0; 4], [u64::MAX; 4]]);
            for chunk in all.chunks(LANES) {
                let mut prefixes = [[0u64; 4]; LANES];
                prefixes[..chunk.len()].copy_from_slice(chunk);
                let found = splitters.buckets(&prefixes);
                for (p, b) in chunk.iter().zip(found) {
                    proptest::prop_assert_eq!(
                        b,
                        sorted.partition_point(|s| s <= p),
                        "prefix {:?}", p
                    );
                }
            }
        }
    }

    proptest::proptest! {
        /// A sort key is the `WINDOW` bytes of the prefix from `from`, compared as bytes,
        /// then the line's place.
        #[test]
        fn sort_keys_compare_as_the_window_of_bytes_then_the_place(
            from in 0usize..=WINDOW_FROM_MAX,
            keys in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 32),
                2..20,
            ),
        ) {
            for (i, key) in keys.iter().enumerate() {
                let k = sort_key(&key_prefix(key), from, i);
                let window = key[from..from + WINDOW]
                    .iter()
                    .fold(0u128, |a, &b| (a << 8) | u128::from(b));
                proptest::prop_assert_eq!(k >> 32, window);
                proptest::prop_assert_eq!(k as u32 as usize, i);
            }
        }
    }

    proptest::proptest! {
        /// A line's key and prefix are its source and id as `key_of` and `key_prefix`
        /// make them, however the two are held.
        #[test]
        fn pushed_keys_and_prefixes_are_the_sources_and_ids(
            source in "[a-z0-9-]{1,34}",
            id in "[A-Za-z0-9.-]{1,40}",
            garbage in 1u8..128,
        ) {
            let mut s = snap("X", 1);
            s.source = held_as_parsed(&source, garbage);
            s.dossier_id = held_as_parsed(&id, garbage.wrapping_add(1));
            let mut lines = EncodedLines::new();
            lines.push(&snap("before", 1));
            lines.push(&s);
            let mut key = Vec::new();
            crate::blocks::key_of(&source, &id, &mut key);
            proptest::prop_assert_eq!(lines.key(1), &key[..]);
            // Read from the arena's words, or (the last key, fewer than 32 bytes from the
            // arena's end) copied out.
            proptest::prop_assert_eq!(lines.prefix(1), key_prefix(&key));
            lines.push(&snap("after", 1));
            proptest::prop_assert_eq!(lines.prefix(1), key_prefix(&key));
            proptest::prop_assert_eq!(lines.prefix(0), key_prefix(lines.key(0)));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

        /// Batches large enough to be cut into many buckets hold exactly what applying
        /// their lines one by one gives, whether pushed or appended in stretches, and a
        /// builder reused for the next batch starts afresh.
        #[test]
        fn bucketed_batches_hold_what_line_by_line_application_gives(
            seed in proptest::prelude::any::<u64>(),
            n in 1usize..40_000,
            cuts in proptest::collection::vec(0usize..40_000, 0..4),
            stretch in 1usize..5_000,
        ) {
            let lines = feed(seed, n);
            let mut part_starts: Vec<usize> = cuts.into_iter().filter(|&c| c < n).collect();
            part_starts.sort_unstable();
            let want = expected(&lines, &part_starts);
            let (mut pushed, mut appended) = (BatchBuilder::new(), BatchBuilder::new());
            for round in 0..2 {
                let mut enc = EncodedLines::new();
                for (i, s) in lines.iter().enumerate() {
                    for _ in part_starts.iter().filter(|&&p| p == i) {
                        pushed.next_part();
                        appended.append(std::mem::take(&mut enc));
                        appended.next_part();
                    }
                    pushed.push(s);
                    enc.push(s);
                    if enc.len() == stretch {
                        appended.append(std::mem::take(&mut enc));
                    }
                }
                appended.append(std::mem::take(&mut enc));
                let (p, a) = (pushed.finish(), appended.finish());
                proptest::prop_assert_eq!(&held(&p), &want, "pushed, round {}", round);
                proptest::prop_assert_eq!(&held(&a), &want, "appended, round {}", round);
                pushed.recycle(p);
                appended.recycle(a);
            }
        }
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
    fn a_source_of_31_bytes_keeps_its_ids_apart() {
        // The 0 byte after such a source is the prefix's last byte: the key is longer
        // than the prefix all the same.
        let source = "s".repeat(31);
        let mut lines = Vec::new();
        for (id, version) in [("b", 1), ("a", 2), ("b", 3), ("a", 1)] {
            let mut s = snap(id, version);
            s.source = crate::ShortStr::new(&source);
            lines.push(s);
        }
        let kb = KeyedBatch::new(lines);
        let keys: Vec<(Vec<u8>, u64)> = (0..kb.len())
            .map(|i| (kb.key(i).to_vec(), kb.version(i)))
            .collect();
        let key = |id: &str| {
            let mut k = Vec::new();
            crate::blocks::key_of(&source, id, &mut k);
            k
        };
        assert_eq!(keys, vec![(key("a"), 2), (key("b"), 3)]);
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
    fn encoded_stored_fields_resolve_as_decoded_ones() {
        let stored = [snap("a", 2), snap("b", 2), snap("c", 9)];
        let mut changed = snap("b", 3);
        changed.channel = crate::Channel::Direct;
        let mut b = BatchBuilder::new();
        for s in [snap("a", 3), changed, snap("c", 4), snap("d", 1)] {
            b.push(&s);
        }
        let kb = b.finish();
        // Stored as this version writes them, and as format 1 (databases written before).
        let encoders: [fn(&DossierSnapshot, &mut Vec<u8>); 2] =
            [codec::encode, codec::tests::encode_1];
        for encoder in encoders {
            let encoded: Vec<Vec<u8>> = stored
                .iter()
                .map(|s| {
                    let mut v = Vec::new();
                    encoder(s, &mut v);
                    v
                })
                .collect();
            let (mut by_bytes, mut by_value) = (kb.resolution(), kb.resolution());
            for i in 0..kb.len() {
                let at = stored
                    .iter()
                    .position(|s| s.dossier_id == kb.snapshot(i).dossier_id);
                let bytes = at.map(|k| (stored[k].version, encoded[k].as_slice()));
                let value = at.map(|k| (stored[k].version, Contribution::of(&stored[k])));
                let wins = kb.resolve_encoded(i, bytes, &mut by_bytes);
                assert_eq!(wins, Some(kb.resolve_one(i, value.as_ref(), &mut by_value)));
            }
            assert_eq!(by_bytes.parts, by_value.parts);
            assert_eq!(by_bytes.delta.cells(), by_value.delta.cells());
            // a's fields are unchanged; b moved out of online; d is new.
            let cells = by_bytes.delta.cells();
            assert_eq!(cells.len(), 1);
            assert_eq!((cells[0].1.received, cells[0].1.online), (1, 0));
        }
        // Damaged stored fields: refused once the final wins, kept when it loses.
        let mut r = kb.resolution();
        assert_eq!(kb.resolve_encoded(0, Some((1, &b"\x01"[..])), &mut r), None);
        assert_eq!(
            kb.resolve_encoded(0, Some((9, &b"\x01"[..])), &mut r),
            Some(false)
        );
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
                appended.append(std::mem::take(&mut stretch));
                if n == 3 {
                    appended.next_part();
                }
            }
            stretch.push(s);
        }
        assert_eq!(stretch.len(), 2);
        appended.append(stretch);
        assert_eq!(appended.lines(), lines.len());
        let (p, a) = (pushed.finish(), appended.finish());
        assert_eq!(finals(&a), finals(&p));
        assert_eq!(a.len(), 3);
        // Part 0: a 2, b 5 applied, a 1 stale; part 1: the long key once applied, once
        // stale, b 6 and a 4 applied.
        assert_eq!(part_counts(&a), vec![(2, 1), (3, 1)]);
        assert_eq!(part_counts(&p), part_counts(&a));
    }

    /// A batch's finals: key, version and encoded fields.
    fn finals(b: &KeyedBatch) -> Vec<(Vec<u8>, u64, Vec<u8>)> {
        (0..b.len())
            .map(|i| (b.key(i).to_vec(), b.version(i), b.fields(i).to_vec()))
            .collect()
    }

    /// A batch's (applied, stale) counts per part, against an empty store.
    fn part_counts(b: &KeyedBatch) -> Vec<(u64, u64)> {
        let mut r = b.resolution();
        for i in 0..b.len() {
            b.resolve_one(i, None, &mut r);
        }
        r.parts
    }

    /// Appends `lines` in two stretches, the second (from the third line) a part of its own.
    fn append_in_two_parts(b: &mut BatchBuilder, lines: &[DossierSnapshot]) {
        let mut stretch = EncodedLines::new();
        for (n, s) in lines.iter().enumerate() {
            if n == 2 {
                b.append(std::mem::take(&mut stretch));
                b.next_part();
            }
            stretch.push(s);
        }
        b.append(stretch);
    }

    #[test]
    fn lines_taken_out_finish_elsewhere_as_they_would_have_here() {
        let first = [
            snap("a", 2),
            snap("b", 5),
            snap("a", 1),
            snap(&"7".repeat(40), 3),
        ];
        let second = [snap("b", 6), snap("c", 1), snap("a", 9)];
        // Each batch built and finished in one builder, as the reference.
        let whole = |lines: &[DossierSnapshot]| {
            let mut b = BatchBuilder::new();
            append_in_two_parts(&mut b, lines);
            b.finish()
        };
        let (want_first, want_second) = (whole(&first), whole(&second));

        // The taking builder hands the first batch over and goes on with the second; the
        // finishing builder, holding a line of its own, finishes the first apart from it.
        let (mut taking, mut finishing) = (BatchBuilder::new(), BatchBuilder::new());
        append_in_two_parts(&mut taking, &first);
        let pending = taking.take_pending();
        assert_eq!(taking.lines(), 0);
        finishing.push(&snap("z", 1));
        append_in_two_parts(&mut taking, &second);
        let got_first = finishing.finish_pending(pending);
        assert_eq!(finals(&got_first), finals(&want_first));
        assert_eq!(part_counts(&got_first), part_counts(&want_first));
        // Part 0: a 2 and b 5 applied; part 1: a 1 stale, the long key applied.
        assert_eq!(part_counts(&got_first), vec![(2, 0), (1, 1)]);
        // The finished batch's emptied stretches go back to the taking builder.
        let spent = finishing.take_spent();
        assert_eq!(spent.len(), 2);
        assert!(spent.iter().all(EncodedLines::is_empty));
        taking.give_spent(spent);
        // The finishing builder's own line is still there, alone.
        assert_eq!(finishing.lines(), 1);
        assert_eq!(finishing.finish().len(), 1);
        let got_second = taking.finish();
        assert_eq!(finals(&got_second), finals(&want_second));
        assert_eq!(part_counts(&got_second), part_counts(&want_second));
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

//! A batch resolved in memory before a store sees it: the newest snapshot of each key the
//! batch carries (first of equal versions), sorted by key, plus what is needed to count
//! applied and stale lines exactly once the stored versions are known.
//!
//! A store then reads each key once (in key order, so its index is walked sequentially),
//! writes each changed dossier once and applies one [`Delta`] — instead of one lookup and
//! one write per line. The counts are those of applying the lines one by one: a line is
//! applied when its version is above every version seen before it for its key (stored or
//! earlier in the batch), stale otherwise.

use std::hash::{Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::FxHasher;

use crate::indicators::{Contribution, Delta};
use crate::snapshot::DossierSnapshot;

/// A batch reduced to one snapshot per key. See the module docs.
#[derive(Debug, Default)]
pub struct KeyedBatch {
    /// The newest snapshot of every key in the batch, sorted by `(source, dossier_id)`
    /// (byte order, as SQLite and PostgreSQL's "C" collation compare text).
    pub finals: Vec<DossierSnapshot>,
    /// Per final: the versions of the batch's lines of that key that were above all earlier
    /// lines of the key in the batch ("records"), in arrival order; the last is the final's.
    /// Stored compactly: `records[record_start[i]..record_start[i + 1]]`.
    records: Vec<u64>,
    record_start: Vec<u32>,
    /// Lines not above an earlier line of their key in the batch: stale whatever is stored.
    stale_in_batch: u64,
}

/// Counts and indicator change of a batch resolved against what is stored (final by
/// final, with [`KeyedBatch::resolve_one`]).
#[derive(Debug, Default)]
pub struct Resolution {
    pub applied: u64,
    pub stale: u64,
    pub delta: Delta,
}

impl KeyedBatch {
    /// Groups a batch (in arrival order) by key.
    pub fn new(batch: Vec<DossierSnapshot>) -> KeyedBatch {
        KeyedBatch::from_chunks(vec![batch])
    }

    /// Groups a batch given as consecutive chunks (in arrival order) by key, without first
    /// gathering the chunks into one vector.
    ///
    /// The lines stay where they are while they are grouped: the hash table holds only
    /// slot numbers, each slot the position of its key's newest line; each final is copied
    /// once, in key order, at the end.
    pub fn from_chunks(chunks: Vec<Vec<DossierSnapshot>>) -> KeyedBatch {
        let lines: usize = chunks.iter().map(Vec::len).sum();
        // A line's position: its chunk in the high 32 bits, its index in the low ones.
        let at = |pos: u64| &chunks[(pos >> 32) as usize][(pos & 0xffff_ffff) as usize];
        let key_hash = |s: &DossierSnapshot| {
            let mut h = FxHasher::default();
            s.source.as_bytes().hash(&mut h);
            s.dossier_id.as_bytes().hash(&mut h);
            h.finish()
        };
        let mut table: HashTable<u32> = HashTable::with_capacity(lines);
        // Per key in first-seen order: its 32-byte prefix (see `key_prefix`), the position
        // and version of its newest line, and the versions of its record lines. Probing
        // compares prefixes, kept together, rather than the snapshots, spread over memory.
        let mut prefix: Vec<[u8; 32]> = Vec::with_capacity(lines);
        let mut newest: Vec<u64> = Vec::with_capacity(lines);
        let mut newest_version: Vec<u64> = Vec::with_capacity(lines);
        let mut chains: Vec<Chain> = Vec::with_capacity(lines);
        let mut stale_in_batch = 0u64;
        for (c, chunk) in chunks.iter().enumerate() {
            for (i, s) in chunk.iter().enumerate() {
                let pos = (c as u64) << 32 | i as u64;
                let p = key_prefix(s);
                // Equal prefixes mean equal keys when the key fits in the prefix.
                let fits = s.source.len() + 1 + s.dossier_id.len() < 32;
                let entry = table.entry(
                    key_hash(s),
                    |&slot| {
                        let slot = slot as usize;
                        prefix[slot] == p && (fits || same_key(at(newest[slot]), s))
                    },
                    |&slot| key_hash(at(newest[slot as usize])),
                );
                match entry {
                    hashbrown::hash_table::Entry::Vacant(e) => {
                        e.insert(newest.len() as u32);
                        prefix.push(p);
                        newest.push(pos);
                        newest_version.push(s.version);
                        chains.push(Chain::One(s.version));
                    }
                    hashbrown::hash_table::Entry::Occupied(e) => {
                        let slot = *e.get() as usize;
                        // `supersedes`: a higher version than the newest line so far.
                        if s.version > newest_version[slot] {
                            chains[slot].push(s.version);
                            newest[slot] = pos;
                            newest_version[slot] = s.version;
                        } else {
                            stale_in_batch += 1;
                        }
                    }
                }
            }
        }
        drop(table);
        // Sorted on a 32-byte prefix of the key kept next to the slot (cache-friendly),
        // with the full key deciding ties.
        let mut sortable: Vec<([u8; 32], u32)> = prefix
            .into_iter()
            .enumerate()
            .map(|(slot, p)| (p, slot as u32))
            .collect();
        sortable.sort_unstable_by(|(pa, a), (pb, b)| {
            pa.cmp(pb).then_with(|| {
                let x = at(newest[*a as usize]);
                let y = at(newest[*b as usize]);
                (x.source.as_bytes(), x.dossier_id.as_bytes())
                    .cmp(&(y.source.as_bytes(), y.dossier_id.as_bytes()))
            })
        });
        let mut records = Vec::with_capacity(sortable.len());
        let mut record_start = Vec::with_capacity(sortable.len() + 1);
        for &(_, slot) in &sortable {
            record_start.push(records.len() as u32);
            match &chains[slot as usize] {
                Chain::One(v) => records.push(*v),
                Chain::Many(vs) => records.extend_from_slice(vs),
            }
        }
        record_start.push(records.len() as u32);
        drop(chains);
        let finals = sortable
            .iter()
            .map(|&(_, slot)| at(newest[slot as usize]).clone())
            .collect();
        KeyedBatch {
            finals,
            records,
            record_start,
            stale_in_batch,
        }
    }

    /// Lines in the batch (snapshots handed to [`KeyedBatch::new`]).
    pub fn lines(&self) -> u64 {
        self.records.len() as u64 + self.stale_in_batch
    }

    pub fn is_empty(&self) -> bool {
        self.finals.is_empty()
    }

    /// An empty resolution to be filled by [`KeyedBatch::resolve_one`]: it starts with the
    /// lines that are stale within the batch itself.
    pub fn resolution(&self) -> Resolution {
        Resolution {
            stale: self.stale_in_batch,
            ..Resolution::default()
        }
    }

    /// Resolves `finals[i]` against the stored version and contribution of its key (if
    /// any): adds its lines to the counts and its indicator change to `r.delta`. Returns
    /// whether the final replaces (or is the first of) the stored snapshot. Each final is
    /// resolved once, in any order.
    pub fn resolve_one(
        &self,
        i: usize,
        stored: Option<&(u64, Contribution)>,
        r: &mut Resolution,
    ) -> bool {
        let records =
            &self.records[self.record_start[i] as usize..self.record_start[i + 1] as usize];
        let applied = match stored {
            None => records.len(),
            Some((v, _)) => records.iter().filter(|&&x| x > *v).count(),
        };
        r.applied += applied as u64;
        r.stale += (records.len() - applied) as u64;
        if applied > 0 {
            r.delta
                .replace(stored.map(|(_, c)| c), &Contribution::of(&self.finals[i]));
        }
        applied > 0
    }
}

fn same_key(a: &DossierSnapshot, b: &DossierSnapshot) -> bool {
    a.dossier_id.as_bytes() == b.dossier_id.as_bytes() && a.source.as_bytes() == b.source.as_bytes()
}

/// The first 32 bytes of `source`, a 0 byte, `dossier_id` (zero-padded). Neither string
/// holds a 0 byte (no control characters), so comparing these prefixes, then the full
/// keys on a tie, orders keys exactly as comparing `(source, dossier_id)` byte-wise.
fn key_prefix(s: &DossierSnapshot) -> [u8; 32] {
    let mut p = [0u8; 32];
    let src = s.source.as_bytes();
    let n = src.len().min(32);
    p[..n].copy_from_slice(&src[..n]);
    if n + 1 < 32 {
        let id = s.dossier_id.as_bytes();
        let m = id.len().min(32 - n - 1);
        p[n + 1..n + 1 + m].copy_from_slice(&id[..m]);
    }
    p
}

/// The record versions of one key, without a heap allocation for the common single line.
enum Chain {
    One(u64),
    Many(Vec<u64>),
}

impl Chain {
    fn push(&mut self, v: u64) {
        match self {
            Chain::One(first) => *self = Chain::Many(vec![*first, v]),
            Chain::Many(vs) => vs.push(v),
        }
    }
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
        let keys: Vec<(&str, u64)> = kb
            .finals
            .iter()
            .map(|s| (s.dossier_id.as_str(), s.version))
            .collect();
        assert_eq!(
            keys,
            [
                (format!("{long}1").as_str(), 2),
                (format!("{long}2").as_str(), 1)
            ]
        );
        assert_eq!(kb.lines(), 4);
        assert_eq!(kb.resolution().stale, 1);
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
        let keys: Vec<&str> = kb.finals.iter().map(|s| s.dossier_id.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c"]);
        let mut r = kb.resolution();
        let mut changed = Vec::new();
        for (i, s) in kb.finals.iter().enumerate() {
            let stored = live
                .latest
                .get(s.source.as_str(), s.dossier_id.as_str())
                .map(|o| (o.version, Contribution::of(o)));
            if kb.resolve_one(i, stored.as_ref(), &mut r) {
                changed.push(i);
            }
        }
        // a: 1 stale, 3 applied, 3 stale; b: 5 applied, 5 stale, 7 applied; c applied.
        assert_eq!((r.applied, r.stale), (4, 3));
        assert_eq!(changed, vec![0, 1, 2]);
    }
}

//! The audit trail's tamper evidence: each entry's hash covers its content and the hash of
//! the entry before it, so an edited, inserted or deleted entry breaks the chain.

use sha2::{Digest, Sha256};

/// A time as the audit trail stores it: UTC, microseconds, fixed width, so that text order
/// is time order in every database.
pub fn timestamp_text(ts: jiff::Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Now, as [`timestamp_text`].
pub fn now_text() -> String {
    timestamp_text(jiff::Timestamp::now())
}

/// The hash that stands before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One recorded change, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When, RFC 3339 in UTC (stored as text so the hash is reproducible).
    pub at: String,
    /// Who: `user:ID email`, `key:ID name`, `cli` …
    pub actor: String,
    /// The client's address, when the change came over the network.
    pub address: Option<String>,
    /// What was done, e.g. `user.create`, `key.revoke`, `session.login`.
    pub action: String,
    /// The object changed, e.g. `user:3`, `key:2`, `unit_contact:province/24`.
    pub object: String,
    /// The object before (JSON), if it existed.
    pub old: Option<String>,
    /// The object after (JSON), if it still exists.
    pub new: Option<String>,
    /// Hash of the previous entry ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// Hash of this entry.
    pub hash: String,
}

/// The change to record, before it gets its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Who.
    pub actor: String,
    /// From where.
    pub address: Option<String>,
    /// What was done.
    pub action: String,
    /// To what.
    pub object: String,
    /// Before (JSON).
    pub old: Option<String>,
    /// After (JSON).
    pub new: Option<String>,
}

impl Change {
    /// A change with no before/after content.
    pub fn new(actor: impl Into<String>, action: &str, object: impl Into<String>) -> Change {
        Change {
            actor: actor.into(),
            address: None,
            action: action.to_owned(),
            object: object.into(),
            old: None,
            new: None,
        }
    }

    /// Sets the client address.
    pub fn from_address(mut self, address: Option<String>) -> Change {
        self.address = address;
        self
    }

    /// Sets the before and after content.
    pub fn with(mut self, old: Option<String>, new: Option<String>) -> Change {
        self.old = old;
        self.new = new;
        self
    }

    /// Places the change after `prev` (seq and hash of the last entry, if any) at time `at`.
    pub fn seal(self, prev: Option<(i64, &str)>, at: String) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            Some((s, h)) => (s + 1, h.to_owned()),
            None => (1, GENESIS.to_owned()),
        };
        let mut e = AuditEntry {
            seq,
            at,
            actor: self.actor,
            address: self.address,
            action: self.action,
            object: self.object,
            old: self.old,
            new: self.new,
            prev_hash,
            hash: String::new(),
        };
        e.hash = entry_hash(&e);
        e
    }
}

/// The hash of an entry's content and its predecessor's hash. Fields are length-prefixed
/// so that moving text from one field to the next changes the hash.
pub fn entry_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let mut field = |present: bool, s: &str| {
        h.update([u8::from(present)]);
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(true, &e.prev_hash);
    field(true, &e.seq.to_string());
    field(true, &e.at);
    field(true, &e.actor);
    field(e.address.is_some(), e.address.as_deref().unwrap_or(""));
    field(true, &e.action);
    field(true, &e.object);
    field(e.old.is_some(), e.old.as_deref().unwrap_or(""));
    field(e.new.is_some(), e.new.as_deref().unwrap_or(""));
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit entry {seq}: {reason}")]
pub struct ChainBreak {
    /// The first entry that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: String,
}

/// Verifies entries in order: sequence without gaps, each linked to the previous hash,
/// each hash matching its content, and the last one matching the recorded head (count and
/// hash kept beside the log, so that deleting the newest entries is detected too).
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    head: Option<(i64, &str)>,
) -> Result<u64, ChainBreak> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_owned();
    let mut n = 0;
    for e in entries {
        if e.seq != prev_seq + 1 {
            return Err(ChainBreak {
                seq: e.seq,
                reason: format!("follows entry {prev_seq}: entries are missing"),
            });
        }
        if e.prev_hash != prev_hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "does not link to the entry before it".to_owned(),
            });
        }
        if entry_hash(e) != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "its content does not match its hash: it was changed".to_owned(),
            });
        }
        prev_seq = e.seq;
        prev_hash = e.hash.clone();
        n += 1;
    }
    match head {
        Some((seq, hash)) if seq != prev_seq || hash != prev_hash => Err(ChainBreak {
            seq: prev_seq + 1,
            reason: format!(
                "the log ends at entry {prev_seq} but {seq} were recorded: entries were deleted"
            ),
        }),
        None if prev_seq != 0 => Err(ChainBreak {
            seq: 1,
            reason: "entries exist but no head was recorded".to_owned(),
        }),
        _ => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = Change::new("cli", "user.create", format!("user:{i}"))
                .with(None, Some(format!("{{\"i\":{i}}}")))
                .seal(prev, format!("2026-01-01T00:00:0{i}Z"));
            out.push(e);
        }
        out
    }

    fn head(c: &[AuditEntry]) -> Option<(i64, &str)> {
        c.last().map(|e| (e.seq, e.hash.as_str()))
    }

    #[test]
    fn an_intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify_chain(&c, head(&c)), Ok(5));
        assert_eq!(verify_chain(&[], None), Ok(0));
    }

    #[test]
    fn edits_deletions_and_truncation_are_detected() {
        let c = chain(5);
        let h = head(&c).map(|(s, h)| (s, h.to_owned()));
        let h = h.as_ref().map(|(s, h)| (*s, h.as_str()));

        let mut edited = c.clone();
        edited[2].new = Some("{\"i\":99}".into());
        assert_eq!(verify_chain(&edited, h).unwrap_err().seq, 3);

        let mut moved = c.clone();
        moved[1].actor = "clix".into();
        assert_eq!(verify_chain(&moved, h).unwrap_err().seq, 2);

        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(verify_chain(&deleted, h).unwrap_err().seq, 3);

        let truncated = &c[..4];
        assert!(
            verify_chain(truncated, h)
                .unwrap_err()
                .reason
                .contains("deleted")
        );

        let mut rehashed = c.clone();
        rehashed[4].action = "user.delete".into();
        rehashed[4].hash = entry_hash(&rehashed[4]);
        assert!(
            verify_chain(&rehashed, h).is_err(),
            "a recomputed last hash no longer matches the head"
        );
    }
}

//! The newest-snapshot rule in memory: a map from `(source, dossier_id)` to the newest
//! snapshot seen, and [`LiveIndicators`], which keeps the indicator table up to date as
//! snapshots arrive. Stores implement the same rule on disk; this is the reference
//! (and what the property tests check them against).

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::indicators::{Aggregates, Contribution, Delta};
use crate::snapshot::{DossierSnapshot, ShortStr};

/// What offering a snapshot to [`Latest`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    /// First snapshot of this dossier.
    Inserted,
    /// Newer than the stored one, which is returned.
    Replaced(Box<DossierSnapshot>),
    /// Version ≤ the stored one: nothing changed.
    Ignored,
}

/// Newest snapshot per `(source, dossier_id)`.
#[derive(Clone, Default, Debug)]
pub struct Latest {
    map: HashMap<(ShortStr, ShortStr), DossierSnapshot>,
}

impl Latest {
    pub fn new() -> Latest {
        Latest::default()
    }

    /// Keeps `s` if it is the first or a strictly newer snapshot of its dossier.
    pub fn offer(&mut self, s: DossierSnapshot) -> Offer {
        match self.map.entry((s.source.clone(), s.dossier_id.clone())) {
            Entry::Vacant(e) => {
                e.insert(s);
                Offer::Inserted
            }
            Entry::Occupied(mut e) => {
                if s.supersedes(e.get()) {
                    Offer::Replaced(Box::new(std::mem::replace(e.get_mut(), s)))
                } else {
                    Offer::Ignored
                }
            }
        }
    }

    /// The stored snapshot of a dossier.
    pub fn get(&self, source: &str, dossier_id: &str) -> Option<&DossierSnapshot> {
        self.map
            .get(&(ShortStr::new(source), ShortStr::new(dossier_id)))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All newest snapshots, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &DossierSnapshot> {
        self.map.values()
    }
}

/// Newest snapshots plus their indicator table, updated snapshot by snapshot.
#[derive(Clone, Default, Debug)]
pub struct LiveIndicators {
    pub latest: Latest,
    pub aggregates: Aggregates,
}

impl LiveIndicators {
    pub fn new() -> LiveIndicators {
        LiveIndicators::default()
    }

    /// Offers one snapshot; returns whether it changed anything.
    pub fn ingest(&mut self, s: DossierSnapshot) -> bool {
        let new = Contribution::of(&s);
        match self.latest.offer(s) {
            Offer::Inserted => {
                self.aggregates.add(&new);
                true
            }
            Offer::Replaced(old) => {
                self.aggregates.replace(Some(&Contribution::of(&old)), &new);
                true
            }
            Offer::Ignored => false,
        }
    }

    /// Offers a batch, collecting its net effect as a [`Delta`] (what a store writes)
    /// instead of touching [`LiveIndicators::aggregates`]; merge it with
    /// [`Aggregates::merge`].
    pub fn ingest_batch_as_delta<I: IntoIterator<Item = DossierSnapshot>>(
        &mut self,
        batch: I,
    ) -> Delta {
        let mut delta = Delta::new();
        for s in batch {
            let new = Contribution::of(&s);
            match self.latest.offer(s) {
                Offer::Inserted => delta.replace(None, &new),
                Offer::Replaced(old) => delta.replace(Some(&Contribution::of(&old)), &new),
                Offer::Ignored => {}
            }
        }
        delta
    }
}

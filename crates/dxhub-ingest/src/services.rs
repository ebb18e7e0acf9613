//! The online dossiers per service of one indicator cell (province × month), kept by the
//! stores as one text value per cell: a line per service with at least one online
//! dossier, `service_code`, a tab, the count. A batch rewrites the few cells it touches
//! instead of one row per (cell, service). `services_online` is the number of lines.
//!
//! Tabs and line breaks cannot occur in a service code (the feed refuses control
//! characters), and the format can be built in SQL (`group_concat` / `string_agg`), which
//! is how the stores' migrations fill it from the earlier row-per-service table.

use crate::snapshot::ShortStr;

/// A cell's online count per service, sorted by service code (byte order). Every count is
/// above zero. A sorted vector rather than a map: a cell is read and written whole once
/// per batch (thousands of services), and a batch changes the counts of a few of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounts(Vec<(ShortStr, u64)>);

/// Why stored counts cannot be read or changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCountsError(pub String);

impl std::fmt::Display for ServiceCountsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServiceCountsError {}

impl ServiceCounts {
    /// Reads the stored text (`None`: the cell has no online dossier yet). The text is
    /// written in byte order, but need not be (a migration's aggregate may order it
    /// otherwise).
    pub fn parse(text: Option<&str>) -> Result<ServiceCounts, ServiceCountsError> {
        let mut counts: Vec<(ShortStr, u64)> = Vec::new();
        let mut sorted = true;
        for line in text.unwrap_or("").split('\n').filter(|l| !l.is_empty()) {
            let parsed = line.split_once('\t').and_then(|(code, n)| {
                let n: u64 = n.parse().ok()?;
                (n > 0 && !code.is_empty()).then_some((code, n))
            });
            let Some((code, n)) = parsed else {
                return Err(ServiceCountsError(format!(
                    "stored per-service online count '{line}' is invalid"
                )));
            };
            if let Some((last, _)) = counts.last() {
                sorted &= last.as_bytes() < code.as_bytes();
            }
            counts.push((ShortStr::new(code), n));
        }
        if !sorted {
            counts.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        if let Some(w) = counts.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(ServiceCountsError(format!(
                "stored per-service online counts name '{}' twice",
                w[0].0
            )));
        }
        Ok(ServiceCounts(counts))
    }

    /// The counts after a batch: the stored text (`None`: nothing stored) read and the
    /// batch's signed changes added; see [`ServiceCounts::apply`].
    pub fn after<'a>(
        stored: Option<&str>,
        changes: impl IntoIterator<Item = (&'a ShortStr, &'a i64)>,
        cell: &str,
    ) -> Result<ServiceCounts, ServiceCountsError> {
        let mut counts = ServiceCounts::parse(stored)?;
        counts.apply(changes, cell)?;
        Ok(counts)
    }

    /// Adds a batch's signed changes; a service whose count reaches zero leaves. `cell`
    /// names the cell in the error when a count would fall below zero (damaged data).
    pub fn apply<'a>(
        &mut self,
        changes: impl IntoIterator<Item = (&'a ShortStr, &'a i64)>,
        cell: &str,
    ) -> Result<(), ServiceCountsError> {
        let below = |svc: &ShortStr| {
            ServiceCountsError(format!(
                "online count of {svc} in {cell} would fall below zero"
            ))
        };
        let overflow = |svc: &ShortStr| {
            ServiceCountsError(format!("online count of {svc} in {cell} overflows"))
        };
        // Services already counted change in place; new ones are gathered, then merged in.
        let mut added: Vec<(ShortStr, i128)> = Vec::new();
        for (svc, &change) in changes {
            match self
                .0
                .binary_search_by(|(code, _)| code.as_bytes().cmp(svc.as_bytes()))
            {
                Ok(at) => {
                    let next = i128::from(self.0[at].1) + i128::from(change);
                    if next < 0 {
                        return Err(below(svc));
                    }
                    // A zero count stays until the end (so positions hold), then leaves.
                    self.0[at].1 = u64::try_from(next).map_err(|_| overflow(svc))?;
                }
                Err(_) => added.push((svc.clone(), i128::from(change))),
            }
        }
        added.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        // The same service twice in `changes`: add the changes up.
        added.dedup_by(|later, first| {
            let same = later.0 == first.0;
            if same {
                first.1 += later.1;
            }
            same
        });
        let mut new = Vec::with_capacity(added.len());
        for (svc, n) in added {
            if n < 0 {
                return Err(below(&svc));
            }
            let n = u64::try_from(n).map_err(|_| overflow(&svc))?;
            new.push((svc, n));
        }
        let mut merged = Vec::with_capacity(self.0.len() + new.len());
        let mut old = std::mem::take(&mut self.0).into_iter().peekable();
        for (svc, n) in new {
            while let Some(o) = old.next_if(|(code, _)| code.as_bytes() < svc.as_bytes()) {
                merged.push(o);
            }
            merged.push((svc, n));
        }
        merged.extend(old);
        merged.retain(|(_, n)| *n > 0);
        self.0 = merged;
        Ok(())
    }

    /// Services with at least one online dossier.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The service codes.
    pub fn services(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(code, _)| code.as_str())
    }

    /// The stored text, services in byte order.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::with_capacity(self.0.len() * 16);
        for (code, n) in &self.0 {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(code.as_str());
            out.push('\t');
            let _ = write!(out, "{n}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_change_and_refuse_damage() {
        let mut c = ServiceCounts::parse(Some("1.000002\t3\n1.000001\t1")).unwrap();
        assert_eq!(c.len(), 2);
        let (a, b, z) = (
            ShortStr::new("1.000001"),
            ShortStr::new("2.000009"),
            ShortStr::new("1.000002"),
        );
        c.apply([(&a, &-1), (&b, &2), (&z, &1)], "79 2025-08")
            .unwrap();
        assert_eq!(c.to_text(), "1.000002\t4\n2.000009\t2");
        assert_eq!(ServiceCounts::parse(Some(&c.to_text())).unwrap(), c);
        let err = c.apply([(&a, &-1)], "79 2025-08").unwrap_err();
        assert_eq!(
            err.0,
            "online count of 1.000001 in 79 2025-08 would fall below zero"
        );
        assert!(ServiceCounts::parse(None).unwrap().is_empty());
        // Text out of order (as a migration may write it) reads the same.
        assert_eq!(
            ServiceCounts::parse(Some("2.000009\t2\n1.000002\t4")).unwrap(),
            c
        );
        // A service new to the cell with zero net change stays out; two changes of one
        // new service add up.
        let n = ShortStr::new("0.5");
        c.apply([(&n, &0), (&a, &2), (&a, &-1)], "79 2025-08")
            .unwrap();
        assert_eq!(c.to_text(), "1.000001\t1\n1.000002\t4\n2.000009\t2");
        for bad in [
            "x",
            "x\t0",
            "x\t-1",
            "\t2",
            "x\t1\nx\t2",
            "y\t1\nx\t1\ny\t2",
        ] {
            assert!(ServiceCounts::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}

//! The online dossiers per service of one indicator cell (province × month), kept by the
//! stores as one text value per cell: a line per service with at least one online
//! dossier, `service_code`, a tab, the count. A batch rewrites the few cells it touches
//! instead of one row per (cell, service). `services_online` is the number of lines.
//!
//! Tabs and line breaks cannot occur in a service code (the feed refuses control
//! characters), and the format can be built in SQL (`group_concat` / `string_agg`), which
//! is how the stores' migrations fill it from the earlier row-per-service table.

use std::collections::BTreeMap;

use crate::snapshot::ShortStr;

/// A cell's online count per service. Every count is above zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceCounts(BTreeMap<String, u64>);

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
    /// Reads the stored text (`None`: the cell has no online dossier yet).
    pub fn parse(text: Option<&str>) -> Result<ServiceCounts, ServiceCountsError> {
        let mut counts = BTreeMap::new();
        for line in text.unwrap_or("").split('\n').filter(|l| !l.is_empty()) {
            let parsed = line.split_once('\t').and_then(|(code, n)| {
                let n: u64 = n.parse().ok()?;
                (n > 0 && !code.is_empty()).then(|| (code.to_owned(), n))
            });
            let Some((code, n)) = parsed else {
                return Err(ServiceCountsError(format!(
                    "stored per-service online count '{line}' is invalid"
                )));
            };
            if counts.insert(code, n).is_some() {
                return Err(ServiceCountsError(format!(
                    "stored per-service online counts name '{line}' twice"
                )));
            }
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
        for (svc, &change) in changes {
            let now = self.0.get(svc.as_str()).copied().unwrap_or(0);
            let next = i128::from(now) + i128::from(change);
            if next < 0 {
                return Err(ServiceCountsError(format!(
                    "online count of {svc} in {cell} would fall below zero"
                )));
            }
            if next == 0 {
                self.0.remove(svc.as_str());
            } else {
                let next = u64::try_from(next).map_err(|_| {
                    ServiceCountsError(format!("online count of {svc} in {cell} overflows"))
                })?;
                self.0.insert(svc.as_str().to_owned(), next);
            }
        }
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
        self.0.keys().map(String::as_str)
    }

    /// The stored text, services in byte order.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.0.len() * 14);
        for (code, n) in &self.0 {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(code);
            out.push('\t');
            out.push_str(&n.to_string());
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
        for bad in ["x", "x\t0", "x\t-1", "\t2", "x\t1\nx\t2"] {
            assert!(ServiceCounts::parse(Some(bad)).is_err(), "{bad}");
        }
    }
}

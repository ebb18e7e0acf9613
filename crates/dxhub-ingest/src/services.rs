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
            let (code, n) = read_line(line)?;
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

    /// The stored text after a batch's signed changes (see [`ServiceCounts::apply`]), and
    /// the number of services it names (`services_online`; the text is empty when none is
    /// left). `stored` is `None` when nothing is stored.
    ///
    /// Written in one pass over the stored text, which is in byte order as this module
    /// writes it: a line whose service the batch does not change is checked and copied
    /// as it is, so a cell of thousands of services costs no more than a scan. (Reading
    /// the text into a [`ServiceCounts`], changing it and writing it out again took about
    /// 30 ms of each million-line batch of the 20 M import, on the thread the store
    /// waits on.) Text in another order, which a migration may have written, and changes
    /// that cannot be made go the general way, which says why.
    pub fn rewrite<'a>(
        stored: Option<&str>,
        changes: impl IntoIterator<Item = (&'a ShortStr, &'a i64)>,
        cell: &str,
    ) -> Result<(String, usize), ServiceCountsError> {
        let changes: Vec<(&ShortStr, &i64)> = changes.into_iter().collect();
        if let Some(done) = rewrite_sorted(stored.unwrap_or(""), &changes) {
            return Ok(done);
        }
        let mut counts = ServiceCounts::parse(stored)?;
        counts.apply(changes, cell)?;
        Ok((counts.to_text(), counts.len()))
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
        // The changes of a batch are added up per service before any count is checked,
        // whatever their order: a count may dip below zero part way through the list and
        // still end above it. Changes to services already counted are summed by
        // position; new services are gathered, then merged in. Nothing changes on error.
        let mut sums: Vec<i128> = vec![0; self.0.len()];
        let mut added: Vec<(ShortStr, i128)> = Vec::new();
        for (svc, &change) in changes {
            match self
                .0
                .binary_search_by(|(code, _)| code.as_bytes().cmp(svc.as_bytes()))
            {
                Ok(at) => sums[at] += i128::from(change),
                Err(_) => added.push((svc.clone(), i128::from(change))),
            }
        }
        let mut next = Vec::with_capacity(self.0.len());
        for ((svc, n), d) in self.0.iter().zip(&sums) {
            let after = i128::from(*n) + d;
            if after < 0 {
                return Err(below(svc));
            }
            // A zero count stays until the merge below, then leaves.
            next.push(u64::try_from(after).map_err(|_| overflow(svc))?);
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
        for ((_, n), after) in self.0.iter_mut().zip(next) {
            *n = after;
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
        let mut out = String::with_capacity(self.0.len() * 16);
        for (code, n) in &self.0 {
            push_line(&mut out, code.as_str(), Some(*n));
        }
        out
    }
}

/// A service code ordered as its bytes are, comparing its first eight bytes as one number
/// first (most codes, such as `2.007861`, differ there): sorting a batch's changes and
/// walking a cell's thousands of services compare codes at every step.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Code<'a> {
    head: u64,
    bytes: &'a [u8],
}

impl<'a> Code<'a> {
    fn of(bytes: &'a [u8]) -> Code<'a> {
        // Padded with zero bytes: a code that is a prefix of another sorts first, as with
        // the bytes; equal heads are told apart by the bytes.
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        Code {
            head: u64::from_be_bytes(head),
            bytes,
        }
    }
}

impl Ord for Code<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.bytes.cmp(other.bytes))
    }
}

impl PartialOrd for Code<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends a line of the stored text: a service code and its count, or (`n` is `None`) a
/// stored line as it is.
fn push_line(out: &mut String, line: &str, n: Option<u64>) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(line);
    if let Some(n) = n {
        out.push('\t');
        push_count(out, n);
    }
}

/// Appends `n` in decimal (without `fmt`'s machinery: a cell's text is written per batch).
fn push_count(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// One line of the stored text: a service code and its count (above zero).
fn read_line(line: &str) -> Result<(&str, u64), ServiceCountsError> {
    line.split_once('\t')
        .and_then(|(code, n)| {
            let n: u64 = n.parse().ok()?;
            (n > 0 && !code.is_empty()).then_some((code, n))
        })
        .ok_or_else(|| {
            ServiceCountsError(format!(
                "stored per-service online count '{line}' is invalid"
            ))
        })
}

/// A service's count `n` after the change `d`: `Some(None)` when it reaches zero (the
/// service leaves the cell), `None` when it would fall below zero or overflow.
fn count_of(n: u64, d: i128) -> Option<Option<u64>> {
    let after = u64::try_from(i128::from(n) + d).ok()?;
    Some((after > 0).then_some(after))
}

/// [`ServiceCounts::rewrite`] in one pass, for text in byte order and changes that can be
/// made; `None` otherwise.
fn rewrite_sorted(text: &str, changes: &[(&ShortStr, &i64)]) -> Option<(String, usize)> {
    let mut sorted: Vec<(Code<'_>, &ShortStr, i64)> = changes
        .iter()
        .map(|&(svc, &n)| (Code::of(svc.as_bytes()), svc, n))
        .collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::with_capacity(text.len() + 16 * sorted.len());
    let mut services = 0usize;
    let mut put = |out: &mut String, line: &str, n: Option<u64>| {
        push_line(out, line, n);
        services += 1;
    };
    // The changes in order, those of one service added up.
    let mut pending = sorted.iter().peekable();
    let mut next_change = || {
        let &(code, svc, first) = pending.next()?;
        let mut sum = i128::from(first);
        while let Some(&(_, _, n)) = pending.next_if(|(other, _, _)| *other == code) {
            sum += i128::from(n);
        }
        Some((code, svc, sum))
    };
    let mut change = next_change();
    let mut last: Option<Code<'_>> = None;
    for line in text.split('\n').filter(|l| !l.is_empty()) {
        let (name, n) = read_line(line).ok()?;
        let code = Code::of(name.as_bytes());
        if last.is_some_and(|l| l >= code) {
            return None;
        }
        last = Some(code);
        // Services new to the cell, before this one.
        while let Some((_, svc, d)) = change.filter(|c| c.0 < code) {
            if let Some(n) = count_of(0, d)? {
                put(&mut out, svc.as_str(), Some(n));
            }
            change = next_change();
        }
        match change.filter(|c| c.0 == code) {
            Some((_, _, d)) => {
                if let Some(n) = count_of(n, d)? {
                    put(&mut out, name, Some(n));
                }
                change = next_change();
            }
            None => put(&mut out, line, None),
        }
    }
    while let Some((_, svc, d)) = change {
        if let Some(n) = count_of(0, d)? {
            put(&mut out, svc.as_str(), Some(n));
        }
        change = next_change();
    }
    Some((out, services))
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

    /// What [`ServiceCounts::rewrite`] must give: the text read, changed and written out
    /// again, or the same error.
    fn by_parts(
        stored: Option<&str>,
        changes: &[(ShortStr, i64)],
    ) -> Result<(String, usize), ServiceCountsError> {
        let mut counts = ServiceCounts::parse(stored)?;
        counts.apply(changes.iter().map(|(s, n)| (s, n)), "79 2025-08")?;
        Ok((counts.to_text(), counts.len()))
    }

    #[test]
    fn rewriting_in_one_pass_gives_what_reading_changing_and_writing_give() {
        let a = ShortStr::new("1.000001");
        type Case<'a> = (Option<&'a str>, Vec<(ShortStr, i64)>);
        let cases: Vec<Case<'_>> = vec![
            (None, vec![]),
            (None, vec![(a.clone(), 2), (ShortStr::new("0.5"), 0)]),
            (Some("1.000001\t3\n1.000002\t1"), vec![(a.clone(), -3)]),
            (Some("1.000001\t3\n1.000002\t1"), vec![(a.clone(), -4)]),
            (Some("2.000009\t2\n1.000002\t4"), vec![(a.clone(), 1)]),
            (Some("1.000002\t4"), vec![(a.clone(), 2), (a.clone(), -1)]),
            // Below zero part way through the list, zero at its end.
            (Some("1.000001\t3"), vec![(a.clone(), -4), (a.clone(), 1)]),
            (
                Some("1.000002\t18446744073709551615"),
                vec![(ShortStr::new("1.000002"), 1)],
            ),
            (Some("1.000002\t0"), vec![]),
        ];
        for (stored, changes) in cases {
            let got =
                ServiceCounts::rewrite(stored, changes.iter().map(|(s, n)| (s, n)), "79 2025-08");
            assert_eq!(got, by_parts(stored, &changes), "{stored:?} {changes:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn rewriting_matches_reading_changing_and_writing(
            stored in proptest::collection::btree_map(0u16..60, 1u64..5, 0..30),
            shuffle in proptest::bool::weighted(0.2),
            changes in proptest::collection::vec((0u16..70, -6i64..6), 0..40),
        ) {
            let code = |c: u16| format!("{}.{:06}", c % 3, c);
            let mut lines: Vec<String> =
                stored.iter().map(|(c, n)| format!("{}\t{n}", code(*c))).collect();
            lines.sort();
            if shuffle {
                lines.reverse();
            }
            let text = lines.join("\n");
            let stored = (!text.is_empty()).then_some(text.as_str());
            let changes: Vec<(ShortStr, i64)> =
                changes.into_iter().map(|(c, n)| (ShortStr::new(&code(c)), n)).collect();
            let got = ServiceCounts::rewrite(stored, changes.iter().map(|(s, n)| (s, n)), "79 2025-08");
            proptest::prop_assert_eq!(got, by_parts(stored, &changes));
        }
    }
}

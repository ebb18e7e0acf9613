//! Errors of the readers: a [`Rejection`] for one bad line, an [`IngestError`] for a file
//! that cannot be read at all (I/O failure, a CSV header that is not the spec's).

use std::fmt;

use crate::fields::FieldError;

/// One line that breaks the spec. The rest of the file is still read.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Rejection {
    /// 1-based physical line number in the file (the CSV header is line 1). For a CSV
    /// record whose quoted cell spans several lines, the line where the record starts.
    pub line: u64,
    /// The field at fault (its wire name); `None` when the whole line is at fault
    /// (wrong cell count, invalid UTF-8, not JSON, an unknown NDJSON key, …).
    pub field: Option<String>,
    /// Plain-English reason, starting with the field name when there is one, e.g.
    /// `version: "-3" is not an integer ≥ 0`.
    pub reason: String,
}

impl Rejection {
    pub(crate) fn new(line: u64, e: FieldError) -> Rejection {
        Rejection {
            line,
            field: e.field.map(|f| f.name().to_string()),
            reason: e.reason,
        }
    }

    pub(crate) fn whole_line(line: u64, reason: String) -> Rejection {
        Rejection {
            line,
            field: None,
            reason,
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for Rejection {}

/// What is wrong with a CSV header row. Names are as they appear in the file.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct HeaderProblem {
    /// Line of the header (1 unless the file starts with empty lines).
    pub line: u64,
    /// Spec fields that have no column.
    pub missing: Vec<String>,
    /// Columns that are not spec fields.
    pub unknown: Vec<String>,
    /// Columns given more than once.
    pub duplicate: Vec<String>,
    /// Set when the header row itself could not be read (bad quoting, invalid UTF-8).
    pub malformed: Option<String>,
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: the CSV header is not the spec's", self.line)?;
        if let Some(m) = &self.malformed {
            write!(f, ": {m}")?;
        }
        let list = |v: &Vec<String>| {
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.missing.is_empty() {
            write!(f, "; missing columns: {}", list(&self.missing))?;
        }
        if !self.unknown.is_empty() {
            write!(f, "; unknown columns: {}", list(&self.unknown))?;
        }
        if !self.duplicate.is_empty() {
            write!(f, "; duplicate columns: {}", list(&self.duplicate))?;
        }
        Ok(())
    }
}

/// A failure that stops reading the whole file.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("reading the feed failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Header(HeaderProblem),
    #[error("the CSV file is empty: it has no header row")]
    NoHeader,
}

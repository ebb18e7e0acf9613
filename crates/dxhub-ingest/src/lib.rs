//! Parsers and validators of the dossier-sync feed (`shared/spec/dossier-sync.md`), and
//! the pure public-service indicator aggregation built on its snapshots. No database,
//! no HTTP, no async: readers take any `std::io::Read`.
//!
//! - [`CsvReader`] / [`NdjsonReader`] (or [`DossierReader`] for either) stream a feed
//!   with constant memory and hand out, per data line, a validated
//!   [`DossierSnapshot`] or a [`Rejection`] (line number, field, plain-English
//!   reason). Only an unreadable input or a wrong CSV header stops a file
//!   ([`IngestError`]).
//! - [`indicators`] computes the province × month table exactly like the DuckDB
//!   baseline, from scratch or incrementally; [`latest`] is the in-memory newest-snapshot
//!   rule.
//! - For stores: [`KeyedBatch`] (a batch reduced to one snapshot per key), [`codec`] (a
//!   snapshot's fields in ~25 bytes), [`blocks`] (snapshots in key-ordered blocks) and
//!   [`services`] (a cell's online count per service as one value).
//!
//! - [`parse_parallel`] parses one feed on several threads and delivers the results in
//!   file order (same output as the sequential readers).
//!
//! Speed: CSV lines go through an allocation-free single-pass fast path (`fast.rs`);
//! readers fill caller-owned vectors in batches ([`CsvReader::next_batch`]).
//! `examples/parse_bench.rs` measures lines/s and MB/s on a file.

pub mod batch;
pub mod blocks;
mod buffer;
pub mod codec;
pub mod csv;
pub mod error;
mod fast;
pub mod fields;
pub mod indicators;
pub mod latest;
pub mod ndjson;
pub mod parallel;
pub mod services;
pub mod snapshot;
pub mod text;
pub mod timestamp;

use std::io::Read;
use std::path::Path;

pub use crate::batch::{BatchBuilder, EncodedLines, KeyedBatch, PendingLines, Resolution};
pub use crate::buffer::MAX_LINE_BYTES;
pub use crate::csv::CsvReader;
pub use crate::error::{HeaderProblem, IngestError, Rejection};
pub use crate::fields::{Field, FieldError};
pub use crate::indicators::{
    Aggregates, Cell, CellKey, Contribution, ContributionRef, Delta, IndicatorRow, YearMonth,
};
pub use crate::latest::{Latest, LiveIndicators};
pub use crate::ndjson::NdjsonReader;
pub use crate::parallel::{
    Check, ParallelSummary, ParsedBatch, Spares, chunks_in_flight, parse_parallel,
    parse_parallel_with,
};
pub use crate::snapshot::{
    Channel, CommuneCode, DigitCode, DossierSnapshot, ProvinceCode, ShortStr, Status,
};

/// The two encodings of the feed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    /// From a file name's extension: `.csv`, or `.ndjson` / `.jsonl` / `.json`
    /// (case-insensitive).
    pub fn from_path<P: AsRef<Path>>(path: P) -> Option<Format> {
        let ext = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// From an HTTP content type (parameters such as `; charset=utf-8` ignored):
    /// `text/csv`, or `application/x-ndjson`, `application/ndjson`,
    /// `application/jsonl`, `application/x-jsonlines`, `application/json`.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match mime.as_str() {
            "text/csv" | "application/csv" => Some(Format::Csv),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
            | "application/jsonlines"
            | "application/json" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// From the first bytes of the content: NDJSON if the first character after an
    /// optional byte-order mark and white space is `{`, CSV otherwise.
    pub fn sniff(first_bytes: &[u8]) -> Format {
        let b = first_bytes
            .strip_prefix(&[0xEF, 0xBB, 0xBF])
            .unwrap_or(first_bytes);
        match b.iter().find(|c| !c.is_ascii_whitespace()) {
            Some(b'{') => Format::Ndjson,
            _ => Format::Csv,
        }
    }

    /// The content type, if given and known, wins; then the file name's extension;
    /// then the content itself.
    pub fn detect(
        file_name: Option<&str>,
        content_type: Option<&str>,
        first_bytes: &[u8],
    ) -> Format {
        content_type
            .and_then(Format::from_content_type)
            .or_else(|| file_name.and_then(Format::from_path))
            .unwrap_or_else(|| Format::sniff(first_bytes))
    }
}

/// A reader of either encoding.
// One reader exists per file, so the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum DossierReader<R> {
    Csv(CsvReader<R>),
    Ndjson(NdjsonReader<R>),
}

impl<R: Read> DossierReader<R> {
    /// Opens a feed of a known format (reads the CSV header).
    pub fn new(reader: R, format: Format) -> Result<DossierReader<R>, IngestError> {
        Ok(match format {
            Format::Csv => DossierReader::Csv(CsvReader::new(reader)?),
            Format::Ndjson => DossierReader::Ndjson(NdjsonReader::new(reader)?),
        })
    }

    /// Opens a feed whose format is given by the first bytes of its content
    /// ([`Format::sniff`]).
    pub fn sniffed(reader: R) -> Result<DossierReader<R>, IngestError> {
        let mut buf = crate::buffer::Buffer::new(reader);
        let format = Format::sniff(buf.peek(4096)?);
        Ok(match format {
            Format::Csv => DossierReader::Csv(CsvReader::from_buffer(buf)?),
            Format::Ndjson => DossierReader::Ndjson(NdjsonReader::from_buffer(buf)?),
        })
    }

    pub fn format(&self) -> Format {
        match self {
            DossierReader::Csv(_) => Format::Csv,
            DossierReader::Ndjson(_) => Format::Ndjson,
        }
    }

    /// See [`CsvReader::next_batch`].
    pub fn next_batch(
        &mut self,
        snapshots: &mut Vec<DossierSnapshot>,
        rejections: &mut Vec<Rejection>,
        max: usize,
    ) -> Result<usize, IngestError> {
        match self {
            DossierReader::Csv(r) => r.next_batch(snapshots, rejections, max),
            DossierReader::Ndjson(r) => r.next_batch(snapshots, rejections, max),
        }
    }

    /// Physical lines consumed so far (header and empty lines included).
    pub fn lines_read(&self) -> u64 {
        match self {
            DossierReader::Csv(r) => r.lines_read(),
            DossierReader::Ndjson(r) => r.lines_read(),
        }
    }

    /// Data lines handed out so far (snapshots plus rejections).
    pub fn records_read(&self) -> u64 {
        match self {
            DossierReader::Csv(r) => r.records_read(),
            DossierReader::Ndjson(r) => r.records_read(),
        }
    }
}

impl<R: Read> Iterator for DossierReader<R> {
    type Item = Result<Result<DossierSnapshot, Rejection>, IngestError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            DossierReader::Csv(r) => r.next(),
            DossierReader::Ndjson(r) => r.next(),
        }
    }
}

/// Reads a whole (small) feed into memory: `(snapshots, rejections, physical lines)`.
pub fn parse_all<R: Read>(
    reader: R,
    format: Format,
) -> Result<(Vec<DossierSnapshot>, Vec<Rejection>, u64), IngestError> {
    let mut r = DossierReader::new(reader, format)?;
    let mut snapshots = Vec::new();
    let mut rejections = Vec::new();
    while r.next_batch(&mut snapshots, &mut rejections, 64 * 1024)? > 0 {}
    Ok((snapshots, rejections, r.lines_read()))
}

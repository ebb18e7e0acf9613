//! Streaming reader of the CSV encoding of the dossier-sync feed.
//!
//! Decisions (the spec leaves them open):
//!
//! - **Header.** The first non-empty line is the header. It must name each of the 14
//!   fields exactly once, in any order; anything else (missing, unknown or duplicate
//!   column) is an [`IngestError::Header`] that names the columns — no line is read.
//!   A UTF-8 byte-order mark before it is ignored.
//! - **Line numbers** are physical lines, the header being line 1. `\n` ends a line; a
//!   `\r` right before it is dropped (CRLF files work).
//! - **Empty lines** (nothing between two line ends) are skipped and produce neither a
//!   snapshot nor a rejection; they still count as lines. A trailing newline at the end
//!   of the file therefore produces nothing. A line of spaces is *not* empty: it is a
//!   record with one cell and is rejected.
//! - **Quoting** follows RFC 4180: a cell may be quoted (`"a,b"`, `"say ""hi"""`); an
//!   empty cell, quoted or not, is an absent value. A quoted cell may contain line
//!   breaks; the record then spans several physical lines, is reported under the line
//!   where it starts, and line numbers after it stay physical. (No field of the spec
//!   may contain a line break, so such a record is always rejected, once.) A quote
//!   inside an unquoted cell, or text after a closing quote, rejects the line.
//! - **Unclosed quote.** If a quoted cell is still open at end of file, or after
//!   [`MAX_LINE_BYTES`], only the line where it opened is rejected and reading resumes
//!   on the next physical line — so one stray quote cannot swallow the valid lines after
//!   it.
//! - **Cell count.** A record with other than 14 cells is rejected with the count.
//! - **Invalid UTF-8** rejects the line; the rest continues.
//! - **Long lines.** A line longer than [`MAX_LINE_BYTES`] is rejected and skipped
//!   without being held in memory.
//!
//! Speed: each line is first offered to the fast path (`fast.rs`), which parses
//! and validates a plain, valid line in one pass straight out of the read buffer,
//! allocating nothing unless a string is longer than 30 bytes. Anything else (quotes,
//! non-ASCII text, any fault) takes the general path here: RFC 4180 framing into a
//! reusable scratch buffer, validation by [`crate::fields`] and a precise reason.

use std::io::Read;

use memchr::{memchr, memchr_iter, memchr3};

use crate::buffer::{Buffer, MAX_LINE_BYTES};
use crate::error::{HeaderProblem, IngestError, Rejection};
use crate::fast::FastParser;
use crate::fields::{FIELD_COUNT, Field, FieldError, from_text_cells};
use crate::snapshot::DossierSnapshot;

/// The column layout read from a header row.
#[derive(Clone, Debug)]
pub struct CsvColumns {
    /// `col_of_field[f.index()]` is the column holding field `f`.
    col_of_field: [usize; FIELD_COUNT],
    /// Columns are in the spec's order (no permutation needed).
    canonical: bool,
}

impl CsvColumns {
    /// The spec's column order (the generator's header).
    pub fn canonical() -> CsvColumns {
        CsvColumns {
            col_of_field: std::array::from_fn(|i| i),
            canonical: true,
        }
    }

    /// Maps a header row's names to fields; any missing, unknown or duplicate column is
    /// an error naming them.
    pub fn from_header<S: AsRef<str>>(names: &[S], line: u64) -> Result<CsvColumns, HeaderProblem> {
        let mut col_of_field = [usize::MAX; FIELD_COUNT];
        let mut problem = HeaderProblem {
            line,
            ..HeaderProblem::default()
        };
        for (col, name) in names.iter().enumerate() {
            let name = name.as_ref();
            match Field::from_name(name) {
                None => problem.unknown.push(name.to_string()),
                Some(f) if col_of_field[f.index()] != usize::MAX => {
                    if !problem.duplicate.iter().any(|d| d == name) {
                        problem.duplicate.push(name.to_string());
                    }
                }
                Some(f) => col_of_field[f.index()] = col,
            }
        }
        for f in Field::ALL {
            if col_of_field[f.index()] == usize::MAX {
                problem.missing.push(f.name().to_string());
            }
        }
        if problem.missing.is_empty() && problem.unknown.is_empty() && problem.duplicate.is_empty()
        {
            let canonical = col_of_field.iter().enumerate().all(|(i, &c)| i == c);
            Ok(CsvColumns {
                col_of_field,
                canonical,
            })
        } else {
            Err(problem)
        }
    }

    /// Parses one physical line that contains no `"` and no line break (the `\r` of a
    /// CRLF already removed) by the general rules — what RFC 4180 framing comes down to
    /// for such a line.
    #[inline]
    pub fn parse_plain_line(&self, line: &[u8]) -> Result<DossierSnapshot, FieldError> {
        let s = std::str::from_utf8(line).map_err(|e| utf8_error(line, e))?;
        let mut cells: [&str; FIELD_COUNT] = [""; FIELD_COUNT];
        let mut n = 0usize;
        let mut start = 0usize;
        for p in memchr_iter(b',', line) {
            if n < FIELD_COUNT {
                cells[n] = &s[start..p];
            }
            n += 1;
            start = p + 1;
        }
        if n != FIELD_COUNT - 1 {
            return Err(cell_count_error(n + 1));
        }
        cells[FIELD_COUNT - 1] = &s[start..];
        self.build(&cells)
    }

    #[inline]
    fn build(&self, cells: &[&str; FIELD_COUNT]) -> Result<DossierSnapshot, FieldError> {
        if self.canonical {
            from_text_cells(cells)
        } else {
            let by_field: [&str; FIELD_COUNT] =
                std::array::from_fn(|f| cells[self.col_of_field[f]]);
            from_text_cells(&by_field)
        }
    }
}

fn cell_count_error(found: usize) -> FieldError {
    FieldError::line(format!("expected {FIELD_COUNT} cells, found {found}"))
}

pub(crate) fn utf8_error(bytes: &[u8], e: std::str::Utf8Error) -> FieldError {
    let at = e.valid_up_to();
    FieldError::line(format!(
        "the line is not valid UTF-8 (byte 0x{:02x} at byte {} of the line)",
        bytes[at],
        at + 1
    ))
}

/// Reusable storage for the cells of a quoted record.
#[derive(Default)]
struct Scratch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Scratch {
    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    fn end_cell(&mut self) {
        self.ends.push(self.bytes.len());
    }

    fn push_cell(&mut self, cell: &[u8]) {
        self.bytes.extend_from_slice(cell);
        self.end_cell();
    }

    fn cells(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let c = &self.bytes[start..end];
            start = end;
            c
        })
    }
}

/// The outcome of framing one RFC 4180 record.
enum Framed {
    /// A complete record of `consumed` bytes (through its final `\n`, if any) spanning
    /// `lines` physical lines; its cells are in the scratch buffer unless `malformed`.
    Record {
        consumed: usize,
        lines: u64,
        malformed: Option<&'static str>,
    },
    /// The buffer ends inside the record.
    NeedMore,
    /// End of input inside a quoted cell.
    Unterminated,
}

/// Frames one record at the start of `data`, unescaping its cells into `scratch`.
fn frame_record(data: &[u8], eof: bool, scratch: &mut Scratch) -> Framed {
    scratch.clear();
    let len = data.len();
    let mut i = 0usize;
    let mut inner_newlines = 0u64;
    // Ends the record at `at` (index of `\n`, or `len` at end of file).
    let record_end = |at: usize, inner: u64, malformed| Framed::Record {
        consumed: if at < len { at + 1 } else { len },
        lines: inner + 1,
        malformed,
    };
    // After a fault, the record runs to the end of the current physical line.
    let malformed_from =
        |from: usize, inner: u64, why: &'static str| match memchr(b'\n', &data[from..]) {
            Some(k) => record_end(from + k, inner, Some(why)),
            None if eof => record_end(len, inner, Some(why)),
            None => Framed::NeedMore,
        };
    loop {
        if i < len && data[i] == b'"' {
            i += 1;
            loop {
                match memchr(b'"', &data[i..]) {
                    None => {
                        return if eof {
                            Framed::Unterminated
                        } else {
                            Framed::NeedMore
                        };
                    }
                    Some(k) => {
                        let chunk = &data[i..i + k];
                        inner_newlines += memchr_iter(b'\n', chunk).count() as u64;
                        scratch.bytes.extend_from_slice(chunk);
                        i += k + 1;
                        if i < len && data[i] == b'"' {
                            scratch.bytes.push(b'"');
                            i += 1;
                            continue;
                        }
                        if i == len && !eof {
                            return Framed::NeedMore;
                        }
                        break;
                    }
                }
            }
            scratch.end_cell();
            match data.get(i) {
                Some(b',') => i += 1,
                Some(b'\n') => return record_end(i, inner_newlines, None),
                None => return record_end(len, inner_newlines, None),
                Some(b'\r') if data.get(i + 1) == Some(&b'\n') => {
                    return record_end(i + 1, inner_newlines, None);
                }
                Some(b'\r') if i + 1 == len => {
                    return if eof {
                        record_end(len, inner_newlines, None)
                    } else {
                        Framed::NeedMore
                    };
                }
                Some(_) => {
                    return malformed_from(
                        i,
                        inner_newlines,
                        "a quoted cell must be followed by a comma or the end of the line",
                    );
                }
            }
        } else {
            match memchr3(b',', b'\n', b'"', &data[i..]) {
                Some(k) => {
                    let at = i + k;
                    match data[at] {
                        b',' => {
                            scratch.push_cell(&data[i..at]);
                            i = at + 1;
                        }
                        b'\n' => {
                            let cell = &data[i..at];
                            scratch.push_cell(cell.strip_suffix(b"\r").unwrap_or(cell));
                            return record_end(at, inner_newlines, None);
                        }
                        _ => {
                            return malformed_from(
                                at,
                                inner_newlines,
                                "a quote inside an unquoted cell (quote the whole cell and double the quote)",
                            );
                        }
                    }
                }
                None if eof => {
                    let cell = &data[i..];
                    scratch.push_cell(cell.strip_suffix(b"\r").unwrap_or(cell));
                    return record_end(len, inner_newlines, None);
                }
                None => return Framed::NeedMore,
            }
        }
    }
}

/// Validates a framed quoted record's cells.
fn parse_framed(
    columns: &CsvColumns,
    raw: &[u8],
    scratch: &Scratch,
    malformed: Option<&'static str>,
) -> Result<DossierSnapshot, FieldError> {
    std::str::from_utf8(raw).map_err(|e| utf8_error(raw, e))?;
    if let Some(why) = malformed {
        return Err(FieldError::line(format!("malformed CSV: {why}")));
    }
    if scratch.ends.len() != FIELD_COUNT {
        return Err(cell_count_error(scratch.ends.len()));
    }
    let mut cells: [&str; FIELD_COUNT] = [""; FIELD_COUNT];
    for (slot, c) in cells.iter_mut().zip(scratch.cells()) {
        // Removing ASCII quotes from valid UTF-8 keeps it valid; this cannot fail.
        *slot = std::str::from_utf8(c).map_err(|e| utf8_error(c, e))?;
    }
    columns.build(&cells)
}

/// A streaming reader of a dossier-sync CSV file over any [`Read`].
///
/// Memory is one 2 MiB buffer whatever the file size. Use [`CsvReader::next_batch`]
/// (fastest) or iterate: each item is one data line, `Ok(snapshot)` or `Err(rejection)`,
/// wrapped in an outer `Result` for I/O failures.
pub struct CsvReader<R> {
    buf: Buffer<R>,
    columns: CsvColumns,
    fast: FastParser,
    /// The next line was found incomplete at the end of the buffer: after the refill,
    /// send it straight to the general path.
    retry_slow_first: bool,
    scratch: Scratch,
    header_line: u64,
    data_lines: u64,
}

impl<R: Read> CsvReader<R> {
    /// Reads and checks the header row.
    pub fn new(reader: R) -> Result<CsvReader<R>, IngestError> {
        CsvReader::from_buffer(Buffer::new(reader))
    }

    pub(crate) fn from_buffer(mut buf: Buffer<R>) -> Result<CsvReader<R>, IngestError> {
        buf.skip_bom()?;
        let mut scratch = Scratch::default();
        loop {
            let data = &buf.buf[buf.start..buf.end];
            if data.is_empty() && buf.eof {
                return Err(IngestError::NoHeader);
            }
            // Skip empty lines before the header.
            if data.first() == Some(&b'\n') {
                buf.start += 1;
                buf.line += 1;
                continue;
            }
            if data.starts_with(b"\r\n") {
                buf.start += 2;
                buf.line += 1;
                continue;
            }
            match frame_record(data, buf.eof, &mut scratch) {
                Framed::Record {
                    consumed,
                    lines,
                    malformed,
                } => {
                    let line = buf.line + 1;
                    let bad = |m: String| {
                        IngestError::Header(HeaderProblem {
                            line,
                            malformed: Some(m),
                            ..HeaderProblem::default()
                        })
                    };
                    if let Some(why) = malformed {
                        return Err(bad(why.to_string()));
                    }
                    let raw = &data[..consumed];
                    if let Err(e) = std::str::from_utf8(raw) {
                        return Err(bad(utf8_error(raw, e).reason));
                    }
                    let names: Vec<String> = scratch
                        .cells()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    let columns =
                        CsvColumns::from_header(&names, line).map_err(IngestError::Header)?;
                    buf.start += consumed;
                    buf.line += lines;
                    let header_line = buf.line;
                    let fast = FastParser::new(columns.col_of_field);
                    return Ok(CsvReader {
                        buf,
                        fast,
                        retry_slow_first: false,
                        columns,
                        scratch,
                        header_line,
                        data_lines: 0,
                    });
                }
                Framed::Unterminated => {
                    return Err(IngestError::Header(HeaderProblem {
                        line: buf.line + 1,
                        malformed: Some("a quoted name is not closed".into()),
                        ..HeaderProblem::default()
                    }));
                }
                Framed::NeedMore => {
                    if buf.pending() > MAX_LINE_BYTES {
                        return Err(IngestError::Header(HeaderProblem {
                            line: buf.line + 1,
                            malformed: Some(format!(
                                "the header row is longer than {MAX_LINE_BYTES} bytes"
                            )),
                            ..HeaderProblem::default()
                        }));
                    }
                    buf.fill()?;
                }
            }
        }
    }

    /// The column layout of this file.
    pub fn columns(&self) -> &CsvColumns {
        &self.columns
    }

    pub(crate) fn buffer_mut(&mut self) -> &mut Buffer<R> {
        &mut self.buf
    }

    /// A fresh fast-path parser for this file's columns (for another thread).
    pub(crate) fn fast_parser(&self) -> FastParser {
        FastParser::new(self.columns.col_of_field)
    }

    /// Physical lines consumed so far, header and empty lines included (after the last
    /// batch: the number of lines in the file).
    pub fn lines_read(&self) -> u64 {
        self.buf.line
    }

    /// Line number of the header row.
    pub fn header_line(&self) -> u64 {
        self.header_line
    }

    /// Data lines (records) handed out so far: snapshots plus rejections.
    pub fn records_read(&self) -> u64 {
        self.data_lines
    }

    /// Parses up to `max` data lines, appending valid snapshots to `snapshots` and bad
    /// lines to `rejections`. Returns how many data lines were handled; `0` means the
    /// end of the file.
    pub fn next_batch(
        &mut self,
        snapshots: &mut Vec<DossierSnapshot>,
        rejections: &mut Vec<Rejection>,
        max: usize,
    ) -> Result<usize, IngestError> {
        let mut n = 0usize;
        while n < max {
            let eof = self.buf.eof;
            let data = &self.buf.buf[self.buf.start..self.buf.end];
            let mut pos = 0usize;
            let mut line = self.buf.line;
            let mut need_more = false;
            let mut huge_line = false;
            while n < max {
                let rest = &data[pos..];
                // After a refill the first line was already tried (and was incomplete):
                // trying again on every refill would be quadratic on a very long line.
                if !std::mem::take(&mut self.retry_slow_first)
                    && let Some(consumed) = self.fast.parse_in_buffer(rest, snapshots)
                {
                    line += 1;
                    pos += consumed;
                    n += 1;
                    continue;
                }
                let (l, advance) = match memchr(b'\n', rest) {
                    Some(k) => (&rest[..k], k + 1),
                    None if !eof => {
                        need_more = true;
                        self.retry_slow_first = true;
                        break;
                    }
                    None if rest.is_empty() => break,
                    None => (rest, rest.len()),
                };
                if l.len() > MAX_LINE_BYTES {
                    line += 1;
                    pos += advance;
                    n += 1;
                    rejections.push(Rejection::whole_line(line, too_long()));
                    continue;
                }
                let l = l.strip_suffix(b"\r").unwrap_or(l);
                if l.is_empty() {
                    line += 1;
                    pos += advance;
                    continue;
                }
                if self.fast.parse_into(l, snapshots) {
                    line += 1;
                    pos += advance;
                    n += 1;
                    continue;
                }
                // The general path: RFC 4180 framing (a quoted cell may run over several
                // lines), full validation and a precise reason.
                match frame_record(rest, eof, &mut self.scratch) {
                    Framed::Record {
                        consumed,
                        lines,
                        malformed,
                    } if consumed <= MAX_LINE_BYTES + 1 => {
                        let first = line + 1;
                        line += lines;
                        pos += consumed;
                        n += 1;
                        match parse_framed(
                            &self.columns,
                            &rest[..consumed],
                            &self.scratch,
                            malformed,
                        ) {
                            Ok(s) => snapshots.push(s),
                            Err(e) => rejections.push(Rejection::new(first, e)),
                        }
                    }
                    Framed::NeedMore if rest.len() <= MAX_LINE_BYTES => {
                        need_more = true;
                        self.retry_slow_first = true;
                        break;
                    }
                    Framed::Record { .. } | Framed::NeedMore | Framed::Unterminated => {
                        // A quoted cell still open at the end of the file or after the
                        // length limit: reject only the line where it opened and resume
                        // on the next physical line.
                        let Some(k) = memchr(b'\n', rest) else {
                            if eof {
                                line += 1;
                                n += 1;
                                pos += rest.len();
                                rejections
                                    .push(Rejection::whole_line(line, UNCLOSED_AT_EOF.into()));
                                continue;
                            }
                            // One line longer than the limit: skipped below, unbuffered.
                            need_more = true;
                            huge_line = true;
                            break;
                        };
                        line += 1;
                        n += 1;
                        pos += k + 1;
                        let reason = if eof {
                            UNCLOSED_AT_EOF.to_string()
                        } else {
                            format!(
                                "malformed CSV: a quoted cell is not closed within {MAX_LINE_BYTES} bytes"
                            )
                        };
                        rejections.push(Rejection::whole_line(line, reason));
                    }
                }
            }
            self.buf.start += pos;
            self.buf.line = line;
            if !need_more {
                break;
            }
            if huge_line || self.buf.pending() > MAX_LINE_BYTES {
                // A line longer than the limit: reject it and skip it unbuffered.
                let line = self.buf.line + 1;
                self.buf.skip_line()?;
                n += 1;
                rejections.push(Rejection::whole_line(line, too_long()));
                continue;
            }
            self.buf.fill()?;
        }
        self.data_lines += n as u64;
        Ok(n)
    }
}

pub(crate) fn too_long() -> String {
    format!("the line is longer than {MAX_LINE_BYTES} bytes")
}

const UNCLOSED_AT_EOF: &str =
    "malformed CSV: a quoted cell is not closed before the end of the file";

impl<R: Read> Iterator for CsvReader<R> {
    type Item = Result<Result<DossierSnapshot, Rejection>, IngestError>;

    /// One data line at a time (slower than [`CsvReader::next_batch`]).
    fn next(&mut self) -> Option<Self::Item> {
        let mut s = Vec::with_capacity(1);
        let mut r = Vec::new();
        match self.next_batch(&mut s, &mut r, 1) {
            Err(e) => Some(Err(e)),
            Ok(0) => None,
            Ok(_) => Some(Ok(match s.pop() {
                Some(snap) => Ok(snap),
                None => Err(r.pop().expect("one line was handled")),
            })),
        }
    }
}

/// Exposed for tests and benchmarks: parse one CSV line (no line break) in the spec's
/// column order, the way the reader's fast path does.
pub fn parse_csv_line(line: &str) -> Result<DossierSnapshot, FieldError> {
    let columns = CsvColumns::canonical();
    if line.contains('"') {
        let mut scratch = Scratch::default();
        match frame_record(line.as_bytes(), true, &mut scratch) {
            Framed::Record {
                consumed,
                malformed,
                ..
            } => parse_framed(&columns, &line.as_bytes()[..consumed], &scratch, malformed),
            _ => Err(FieldError::line(
                "malformed CSV: a quoted cell is not closed before the end of the file".into(),
            )),
        }
    } else {
        columns.parse_plain_line(line.as_bytes())
    }
}

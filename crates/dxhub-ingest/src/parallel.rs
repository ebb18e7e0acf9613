//! Parsing one feed on several threads, with results delivered in file order.
//!
//! The calling thread reads the input and cuts it into chunks of whole lines
//! (~512 KiB), each handed over in the very buffer it was read into (what follows its last
//! line is copied to the next buffer; emptied buffers come back from the workers), so the
//! input is copied once, by the kernel; worker threads parse the chunks; the calling
//! thread hands each chunk's snapshots and rejections to a sink, in file order, so that
//! "the first of equal versions wins" still holds downstream. The result is identical to
//! the sequential readers' (a test checks it on every golden file): a chunk never contains
//! a `"` (the only thing that can make a CSV record span lines); a line with a quote is
//! handed to the sequential reader on the calling thread, which frames it by RFC 4180.
//! Memory stays bounded: at most `2 × threads + 2` chunks are in flight.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use memchr::{memchr, memchr_iter, memrchr};

use crate::batch::EncodedLines;
use crate::buffer::{Buffer, MAX_LINE_BYTES};
use crate::csv::{CsvColumns, too_long};
use crate::error::{IngestError, Rejection};
use crate::fast::FastParser;
use crate::ndjson::JsonParser;
use crate::snapshot::DossierSnapshot;
use crate::{CsvReader, DossierReader, Format, NdjsonReader};

/// Target size of a chunk handed to a worker.
const CHUNK_BYTES: usize = 512 * 1024;

/// The parsed lines of one stretch of the input, in file order.
#[derive(Debug, Default)]
pub struct ParsedBatch {
    /// Line number of the first line of the stretch.
    pub first_line: u64,
    /// Physical lines in the stretch (empty lines included).
    pub lines: u64,
    pub snapshots: Vec<DossierSnapshot>,
    /// The line number of each snapshot (`snapshot_lines[i]` for `snapshots[i]`; for a
    /// record spanning lines, its last line), for checks made after parsing.
    pub snapshot_lines: Vec<u64>,
    pub rejections: Vec<Rejection>,
    /// With [`parse_parallel_with`] given a [`Check`]: the snapshots that passed it,
    /// encoded for a [`crate::BatchBuilder`] (`snapshots` is then empty).
    pub encoded: EncodedLines,
}

/// A check of each parsed snapshot made on the parsing threads (see
/// [`parse_parallel_with`]): `Err((field, reason))` rejects the line.
pub type Check = dyn Fn(&DossierSnapshot) -> Result<(), (&'static str, String)> + Sync;

impl ParsedBatch {
    /// Checks each snapshot with `check`, encoding those that pass into `encoded` and
    /// rejecting the others (rejections may then no longer follow line order).
    fn check_and_encode(&mut self, check: &Check) {
        let (mut snapshots, mut lines) = (
            std::mem::take(&mut self.snapshots),
            std::mem::take(&mut self.snapshot_lines),
        );
        for (s, &line) in snapshots.iter().zip(&lines) {
            self.check_and_encode_one(s, line, check);
        }
        snapshots.clear();
        lines.clear();
        (self.snapshots, self.snapshot_lines) = (snapshots, lines);
    }

    /// Checks one snapshot (of line `line`), encoding it if it passes and rejecting it if
    /// not.
    #[inline(always)]
    fn check_and_encode_one(&mut self, s: &DossierSnapshot, line: u64, check: &Check) {
        match check(s) {
            Ok(()) => self.encoded.push(s),
            Err((field, reason)) => self.rejections.push(Rejection {
                line,
                field: Some(field.to_owned()),
                reason,
            }),
        }
    }
}

/// Emptied [`ParsedBatch`]es that a consumer of [`parse_parallel_with`] gives back
/// ([`Spares::give`]) for the workers to fill again. A long parse then allocates its
/// buffers a few times rather than once per chunk: fresh memory is faulted in and zeroed
/// by the kernel, and memory freed on another thread than the one that allocated it is
/// not reused at once by the allocator.
#[derive(Clone, Debug)]
pub struct Spares {
    spares: Arc<Mutex<Vec<ParsedBatch>>>,
    /// Spare batches kept at most.
    limit: usize,
}

/// Spare batches kept at most by default (a few more than the chunks in flight).
const MAX_SPARES: usize = 16;

impl Default for Spares {
    fn default() -> Spares {
        Spares::with_limit(MAX_SPARES)
    }
}

impl Spares {
    pub fn new() -> Spares {
        Spares::default()
    }

    /// Keeping up to `limit` spares: as many as there can be parsed batches in flight
    /// (waiting for the consumer, and being filled), or those beyond are dropped when the
    /// consumer catches up and are grown again from nothing.
    pub fn with_limit(limit: usize) -> Spares {
        Spares {
            spares: Arc::default(),
            limit,
        }
    }

    /// Takes back a batch the consumer is done with (its contents are dropped, its
    /// buffers kept).
    pub fn give(&self, mut b: ParsedBatch) {
        b.snapshots.clear();
        b.snapshot_lines.clear();
        b.rejections.clear();
        b.encoded.clear();
        if let Ok(mut spares) = self.spares.lock()
            && spares.len() < self.limit
        {
            spares.push(b);
        }
    }

    /// An empty batch: a spare if there is one.
    fn take(&self, first_line: u64) -> ParsedBatch {
        let mut b = self
            .spares
            .lock()
            .ok()
            .and_then(|mut spares| spares.pop())
            .unwrap_or_default();
        b.first_line = first_line;
        b.lines = 0;
        b
    }
}

impl ParsedBatch {
    fn push(&mut self, s: DossierSnapshot, line: u64) {
        self.snapshots.push(s);
        self.snapshot_lines.push(line);
    }
}

/// Whole lines cut out of the input, without any `"` (so each line is one record): the
/// bytes `range` of `data`, a read buffer handed over as it is (see [`Buffer::hand_over`]).
pub(crate) struct Chunk {
    pub first_line: u64,
    pub data: Vec<u8>,
    pub range: std::ops::Range<usize>,
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        &self.data[self.range.clone()]
    }
}

/// Read buffers that parsed chunks leave, for the reading thread to read into again:
/// buffers go round instead of being allocated (and faulted in) for every chunk.
#[derive(Default)]
pub(crate) struct ReadBuffers(Mutex<Vec<Vec<u8>>>);

impl ReadBuffers {
    /// Buffers kept at most: more than are ever in flight.
    const MAX: usize = 64;

    fn give(&self, b: Vec<u8>) {
        if let Ok(mut v) = self.0.lock()
            && v.len() < Self::MAX
        {
            v.push(b);
        }
    }

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_default()
    }
}

/// What a reader hands to the parallel driver.
pub(crate) enum Piece {
    /// Lines for a worker to parse.
    Lines(Chunk),
    /// Already parsed on the reading thread (a quoted record, an overlong line).
    Parsed(ParsedBatch),
}

/// Cuts the next chunk of whole lines out of `buf`, stopping before any line that
/// contains a quote (`quotes_matter`, for CSV). `None` means: the next record needs the
/// sequential reader (it starts with a quoted line, or is longer than a chunk).
/// `Some(None)` is the end of the input.
pub(crate) fn next_chunk<R: Read>(
    buf: &mut Buffer<R>,
    quotes_matter: bool,
    buffers: &ReadBuffers,
) -> Result<Option<Option<Chunk>>, IngestError> {
    buf.fill_upto(CHUNK_BYTES)?;
    let data = &buf.buf[buf.start..buf.end];
    if data.is_empty() {
        return Ok(Some(None));
    }
    let window = &data[..data.len().min(CHUNK_BYTES)];
    let mut end = if buf.eof && data.len() <= CHUNK_BYTES {
        data.len()
    } else {
        match memrchr(b'\n', window) {
            Some(k) => k + 1,
            None => return Ok(None), // one line longer than a chunk
        }
    };
    if quotes_matter && let Some(q) = memchr::memchr(b'"', &data[..end]) {
        end = memrchr(b'\n', &data[..q]).map_or(0, |k| k + 1);
        if end == 0 {
            return Ok(None);
        }
    }
    let chunk = &data[..end];
    let mut lines = memchr_iter(b'\n', chunk).count() as u64;
    if chunk.last() != Some(&b'\n') {
        lines += 1; // the last line of the file, without a line break
    }
    let first_line = buf.line + 1;
    let (data, range) = buf.hand_over(end, buffers.take());
    buf.line += lines;
    Ok(Some(Some(Chunk {
        first_line,
        data,
        range,
    })))
}

/// How a worker parses one line of a chunk.
#[derive(Clone)]
enum LineParser {
    Csv(CsvColumns, Box<FastParser>),
    Ndjson(Box<JsonParser>),
}

impl LineParser {
    /// Parses `chunk` into `out` (empty); with a `check`, each snapshot is checked and
    /// encoded as soon as it is parsed (see [`ParsedBatch::check_and_encode`]), while it
    /// is in the cache, rather than gathered with the chunk's others first.
    fn parse_chunk(
        &mut self,
        chunk: &Chunk,
        mut out: ParsedBatch,
        check: Option<&Check>,
    ) -> ParsedBatch {
        let mut line = chunk.first_line - 1;
        let data = chunk.bytes();
        let mut pos = 0usize;
        while pos < data.len() {
            if let Some(check) = check
                && !out.snapshots.is_empty()
            {
                out.check_and_encode(check);
            }
            line += 1;
            out.lines += 1;
            let rest = &data[pos..];
            if let LineParser::Csv(_, fast) = self {
                // The usual line: checked and encoded where it was parsed, if it is to be.
                let taken = match check {
                    Some(check) => fast.parse_in_buffer_with(rest, |s| {
                        out.check_and_encode_one(&s, line, check);
                    }),
                    None => fast.parse_in_buffer_with(rest, |s| out.push(s, line)),
                };
                if let Some(consumed) = taken {
                    pos += consumed;
                    continue;
                }
            }
            // The end of the last line of the file may have no line break.
            let end = memchr(b'\n', rest).unwrap_or(rest.len());
            pos += end + 1;
            let l = &rest[..end];
            if l.len() > MAX_LINE_BYTES {
                out.rejections.push(Rejection::whole_line(line, too_long()));
                continue;
            }
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if l.is_empty() {
                continue;
            }
            match self {
                LineParser::Csv(columns, fast) => {
                    if fast.parse_into(l, &mut out.snapshots) {
                        out.snapshot_lines.push(line);
                    } else {
                        // A quote-free line is one record: the plain general path is
                        // what the sequential reader's RFC 4180 framing comes down to.
                        match columns.parse_plain_line(l) {
                            Ok(s) => out.push(s, line),
                            Err(e) => out.rejections.push(Rejection::new(line, e)),
                        }
                    }
                }
                LineParser::Ndjson(parser) => match parser.parse(l) {
                    Ok(s) => out.push(s, line),
                    Err(e) => out.rejections.push(Rejection::new(line, e)),
                },
            }
        }
        if let Some(check) = check {
            out.check_and_encode(check);
        }
        out
    }
}

/// Sent by a worker: a parsed chunk, or notice that the worker died (panicked).
enum Done {
    Batch(u64, Box<ParsedBatch>),
    Died,
}

/// Sends `Done::Died` if the worker unwinds, so the driver never waits forever.
struct DeathNotice(mpsc::Sender<Done>);

impl Drop for DeathNotice {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Done::Died);
        }
    }
}

/// Chunks [`parse_parallel_with`] hands out at most with `threads` workers before it waits
/// for the first to be delivered: with the stretches a consumer lets wait, what a
/// [`Spares`] pool needs to hold to cover every stretch in flight.
pub fn chunks_in_flight(threads: usize) -> usize {
    2 * threads.max(1) + 2
}

/// Totals of a parallel parse.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParallelSummary {
    /// Physical lines in the input (CSV header and empty lines included).
    pub lines: u64,
    /// Snapshots parsed (and passing the [`Check`], if any).
    pub snapshots: u64,
    /// Lines rejected (by the [`Check`] too, if any).
    pub rejections: u64,
}

/// Parses a whole feed with `threads` worker threads (at least 1), calling `sink` on
/// the calling thread with each parsed stretch, in file order. The result is the same as
/// reading with [`DossierReader`] sequentially.
pub fn parse_parallel<R, F>(
    reader: R,
    format: Format,
    threads: usize,
    sink: F,
) -> Result<ParallelSummary, IngestError>
where
    R: Read,
    F: FnMut(ParsedBatch),
{
    parse_parallel_with(reader, format, threads, &Spares::new(), None, sink)
}

/// [`parse_parallel`], with the workers filling the batches the consumer gives back to
/// `spares` (when it has one) rather than new ones. With a `check`, the parsing threads
/// also check each snapshot and encode those that pass ([`ParsedBatch::encoded`]), work
/// that the consumer's thread then does not do.
pub fn parse_parallel_with<R, F>(
    reader: R,
    format: Format,
    threads: usize,
    spares: &Spares,
    check: Option<&Check>,
    mut sink: F,
) -> Result<ParallelSummary, IngestError>
where
    R: Read,
    F: FnMut(ParsedBatch),
{
    let mut reader = DossierReader::new(reader, format)?;
    let template = match &reader {
        DossierReader::Csv(r) => LineParser::Csv(r.columns().clone(), Box::new(r.fast_parser())),
        DossierReader::Ndjson(_) => LineParser::Ndjson(Box::default()),
    };
    let mut summary = ParallelSummary {
        lines: reader.lines_read(),
        ..ParallelSummary::default()
    };
    let threads = threads.max(1);
    let max_in_flight = chunks_in_flight(threads);
    let (job_tx, job_rx) = mpsc::sync_channel::<(u64, Chunk)>(threads + 1);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let buffers = ReadBuffers::default();
    let buffers = &buffers;

    std::thread::scope(|scope| {
        // Owned by this closure so that a panic here drops it and the workers stop.
        let job_tx = job_tx;
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let mut parser = template.clone();
            let worker = move || {
                let notice = DeathNotice(done_tx.clone());
                loop {
                    let job = job_rx.lock().expect("job queue").recv();
                    let Ok((seq, chunk)) = job else { break };
                    let out = parser.parse_chunk(&chunk, spares.take(chunk.first_line), check);
                    buffers.give(chunk.data);
                    if done_tx.send(Done::Batch(seq, Box::new(out))).is_err() {
                        break;
                    }
                }
                drop(notice);
            };
            // Named, for profiles (std's `spawn` also panics if no thread can be made).
            std::thread::Builder::new()
                .name("dx-parse".into())
                .spawn_scoped(scope, worker)
                .expect("a parsing thread");
        }
        drop(done_tx);

        let mut next_seq = 0u64; // next sequence number to hand out
        let mut next_out = 0u64; // next sequence number the sink expects
        let mut ready: BTreeMap<u64, ParsedBatch> = BTreeMap::new();
        let mut deliver = |ready: &mut BTreeMap<u64, ParsedBatch>,
                           next_out: &mut u64,
                           summary: &mut ParallelSummary| {
            while let Some(b) = ready.remove(next_out) {
                summary.lines += b.lines;
                summary.snapshots += (b.snapshots.len() + b.encoded.len()) as u64;
                summary.rejections += b.rejections.len() as u64;
                sink(b);
                *next_out += 1;
            }
        };
        let receive = |ready: &mut BTreeMap<u64, ParsedBatch>, block: bool| -> bool {
            let got = if block {
                done_rx.recv().ok()
            } else {
                done_rx.try_recv().ok()
            };
            match got {
                Some(Done::Batch(seq, b)) => {
                    ready.insert(seq, *b);
                    true
                }
                Some(Done::Died) => panic!("a parsing thread panicked"),
                None => false,
            }
        };

        let result = (|| -> Result<(), IngestError> {
            loop {
                while next_seq - next_out >= max_in_flight as u64 {
                    receive(&mut ready, true);
                    deliver(&mut ready, &mut next_out, &mut summary);
                }
                while receive(&mut ready, false) {}
                deliver(&mut ready, &mut next_out, &mut summary);
                let piece = match &mut reader {
                    DossierReader::Csv(r) => r.next_piece(buffers)?,
                    DossierReader::Ndjson(r) => r.next_piece(buffers)?,
                };
                match piece {
                    None => return Ok(()),
                    Some(Piece::Lines(chunk)) => {
                        job_tx
                            .send((next_seq, chunk))
                            .expect("workers outlive the job queue");
                    }
                    Some(Piece::Parsed(mut batch)) => {
                        if let Some(check) = check {
                            batch.check_and_encode(check);
                        }
                        ready.insert(next_seq, batch);
                    }
                }
                next_seq += 1;
            }
        })();
        drop(job_tx);
        if result.is_ok() {
            while next_out < next_seq {
                if !ready.contains_key(&next_out) {
                    receive(&mut ready, true);
                }
                deliver(&mut ready, &mut next_out, &mut summary);
            }
        }
        result
    })?;
    Ok(summary)
}

impl<R: Read> CsvReader<R> {
    /// The next stretch for [`parse_parallel`]: plain lines for a worker, or one record
    /// parsed here when it needs the sequential reader. `None` at the end.
    pub(crate) fn next_piece(
        &mut self,
        buffers: &ReadBuffers,
    ) -> Result<Option<Piece>, IngestError> {
        match next_chunk(self.buffer_mut(), true, buffers)? {
            Some(Some(chunk)) => Ok(Some(Piece::Lines(chunk))),
            Some(None) => Ok(None),
            None => self.one_record().map(|b| b.map(Piece::Parsed)),
        }
    }
}

impl<R: Read> NdjsonReader<R> {
    pub(crate) fn next_piece(
        &mut self,
        buffers: &ReadBuffers,
    ) -> Result<Option<Piece>, IngestError> {
        match next_chunk(self.buffer_mut(), false, buffers)? {
            Some(Some(chunk)) => Ok(Some(Piece::Lines(chunk))),
            Some(None) => Ok(None),
            None => self.one_record().map(|b| b.map(Piece::Parsed)),
        }
    }
}

/// Shared by both readers: parse exactly one record sequentially.
macro_rules! one_record {
    ($t:ident) => {
        impl<R: Read> $t<R> {
            fn one_record(&mut self) -> Result<Option<ParsedBatch>, IngestError> {
                let first = self.lines_read();
                let mut b = ParsedBatch {
                    first_line: first + 1,
                    ..ParsedBatch::default()
                };
                let n = self.next_batch(&mut b.snapshots, &mut b.rejections, 1)?;
                b.lines = self.lines_read() - first;
                b.snapshot_lines = vec![self.lines_read(); b.snapshots.len()];
                Ok((n > 0 || b.lines > 0).then_some(b))
            }
        }
    };
}
one_record!(CsvReader);
one_record!(NdjsonReader);

//! `dxhub import dossiers` and `dxhub export public-services`: streaming ingestion of
//! dossier-sync feeds (CSV or NDJSON) in batches, each batch one store transaction, and
//! the indicator table out, grouped by province or nation per month, quarter or year, as
//! CSV, JSON or XLSX.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use std::sync::atomic::{AtomicBool, Ordering};

use dxhub_ingest::{
    BatchBuilder, DossierSnapshot, EncodedLines, Format, IngestError, KeyedBatch, ParsedBatch,
    PendingLines, Rejection, Spares, chunks_in_flight, parse_parallel_with,
};
use dxhub_store::{GroupedRow, Grouping, IndicatorQuery, Store};
use dxhub_web::ingest::UnitCalendar;
use serde::Serialize;

/// Totals of one import, printed as JSON.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Data lines read (header and empty lines excluded).
    pub lines: u64,
    /// Snapshots that changed the store.
    pub applied: u64,
    /// Snapshots whose version was not newer than the stored one.
    pub stale: u64,
    /// Lines rejected, each reported with its line number, field and reason.
    pub rejected: u64,
    /// Per file.
    pub files: Vec<FileSummary>,
}

/// Totals of one file.
#[derive(Debug, Default, Serialize)]
pub struct FileSummary {
    /// The file.
    pub file: String,
    /// `csv` or `ndjson`.
    pub format: String,
    /// Data lines read.
    pub lines: u64,
    /// Applied snapshots.
    pub applied: u64,
    /// Stale snapshots.
    pub stale: u64,
    /// Rejected lines.
    pub rejected: u64,
}

/// Where rejected lines go: standard error as text, or a CSV file.
enum RejectSink {
    Stderr,
    Csv(Box<csv::Writer<BufWriter<File>>>),
}

impl RejectSink {
    fn write(&mut self, file: &str, r: &Rejection) -> anyhow::Result<()> {
        match self {
            RejectSink::Stderr => {
                eprintln!("{file}:{}: {}", r.line, r.reason);
                Ok(())
            }
            RejectSink::Csv(w) => {
                w.write_record([
                    file,
                    &r.line.to_string(),
                    r.field.as_deref().unwrap_or(""),
                    &r.reason,
                ])?;
                Ok(())
            }
        }
    }
}

/// Lines per store transaction. Large, so that each dossier is resolved in memory and the
/// store sees it once per batch (a store rewrites each block a batch touches, and a batch
/// touches most blocks of recently received dossiers, so fewer, larger batches rewrite
/// less); memory stays bounded: a batch is held compactly (about 90 bytes per dossier, see
/// [`KeyedBatch`]), and at most two are out at once (being stored, waiting) while the
/// next is built, into the buffers of the one before. The 20 M-line import peaks at about
/// 830–910 MiB with 2 M lines (720–750 MiB with 1.5 M, since lines waiting in a batch no
/// longer keep their 32-byte key prefixes). 2 M writes 14 % fewer pages than 1.5 M and
/// took 1–3 % less time in alternating pairs (BENCHMARKS.md, sessions 14 and 15); 1.5 M
/// took 6 % less than 1 M, and 1.25 M was slower than 1.5 M. SQLite's page cache for
/// ingesting connections holds a whole batch's pages.
pub const BATCH: usize = 2_000_000;

/// Threads parsing the feed (besides the one reading it and the one storing batches).
const PARSE_THREADS: usize = 2;

/// How much lower the reading and parsing threads' priority is than the rest of the
/// import's (a `nice` increment; Linux keeps one per thread). The 20 M-line import took
/// about 6 % less time with 10 than with the same priority, in five alternating pairs
/// (BENCHMARKS.md, session 12).
#[cfg(target_os = "linux")]
const READ_NICE: i32 = 10;

/// Parsed stretches of the feed (512 KiB each) waiting for the batching thread. When that
/// thread also sorted each full batch (about 0.2 s), 64 let the parsing threads go on
/// through part of the sort: with 4 the 20 M import took 9.91-11.47 s (median 10.4) against
/// 9.57-10.54 s (median 9.8). The sort now has a thread of its own (session 12), and the
/// queue only evens out the hand-overs.
const PARSED_QUEUE: usize = 64;

/// A batch ready for the store: checked and reduced to one snapshot per key on the
/// finishing thread, so the storing task only does the database work.
struct Ready {
    batch: KeyedBatch,
    rejected: Vec<Rejection>,
}

/// Starts building the unit calendar that imports check lines against on a thread of its
/// own (it reads the embedded unit files, some milliseconds), so that it is ready when the
/// first lines are parsed: call it before opening the store.
pub fn warm_up() {
    std::thread::spawn(|| {
        UnitCalendar::embedded();
    });
}

/// Imports every file; fails only when a file or the database cannot be used.
pub async fn import(
    store: Arc<dyn Store>,
    files: &[PathBuf],
    rejects: Option<&Path>,
) -> anyhow::Result<Summary> {
    let mut sink = match rejects {
        None => RejectSink::Stderr,
        Some(p) => {
            let f = File::create(p)
                .with_context(|| format!("cannot write the rejects file {}", p.display()))?;
            let mut w = csv::Writer::from_writer(BufWriter::new(f));
            w.write_record(["file", "line", "field", "reason"])?;
            RejectSink::Csv(Box::new(w))
        }
    };
    let mut summary = Summary::default();
    for path in files {
        let fs = import_file(&store, path, &mut sink).await?;
        summary.lines += fs.lines;
        summary.applied += fs.applied;
        summary.stale += fs.stale;
        summary.rejected += fs.rejected;
        tracing::info!(file = %fs.file, lines = fs.lines, applied = fs.applied, stale = fs.stale, rejected = fs.rejected, "file imported");
        summary.files.push(fs);
    }
    if let RejectSink::Csv(mut w) = sink {
        w.flush()?;
    }
    Ok(summary)
}

/// One file: a reading thread parses, checks and encodes it (with [`parse_parallel_with`])
/// into batches of [`BATCH`] lines, a batching thread gathers each batch's lines, a
/// finishing thread sorts and reduces each full batch, and this task stores the previous
/// batch meanwhile, so the four overlap.
async fn import_file(
    store: &Arc<dyn Store>,
    path: &Path,
    sink: &mut RejectSink,
) -> anyhow::Result<FileSummary> {
    let name = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("cannot read {name}"))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let format = match Format::from_path(path) {
        Some(f) => f,
        None => {
            let mut head = Vec::with_capacity(4096);
            (&mut file)
                .take(4096)
                .read_to_end(&mut head)
                .with_context(|| format!("cannot read {name}"))?;
            file.seek(SeekFrom::Start(0))
                .with_context(|| format!("cannot read {name}"))?;
            Format::sniff(&head)
        }
    };
    let reader = CountingReader::new(file);
    let progress = reader.counter();
    let cancel = reader.cancel.clone();
    // Set once the finishing thread has taken the file's last lines: the batch it is
    // finishing (if any) is then the last.
    let last_taken = Arc::new(AtomicBool::new(false));
    let batcher_last_taken = last_taken.clone();
    let bar = progress_bar(size, &name);
    let mut fs = FileSummary {
        file: name.clone(),
        format: match format {
            Format::Csv => "csv".into(),
            Format::Ndjson => "ndjson".into(),
        },
        ..FileSummary::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Ready>(1);
    // Four stages on their own threads: the reading thread (with the parsing threads of
    // `parse_parallel_with`) parses the feed in stretches, each line checked against the unit
    // calendar and encoded as a batch keeps it; the batching thread adds each stretch to
    // the batch being built (an emptied stretch goes back to the parsing threads in its
    // place); the finishing thread sorts each full batch; this task stores the batches.
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<ParsedBatch>(PARSED_QUEUE);
    // Buffers go back to where they are filled: parsed stretches to the parsing threads,
    // stored batches to the finishing thread.
    // As many as can be in flight: waiting for the batching thread, and being parsed.
    let spares = Spares::with_limit(PARSED_QUEUE + chunks_in_flight(PARSE_THREADS));
    let batcher_spares = spares.clone();
    // Every batch handed to the storing task comes back once stored (`None` if its
    // buffers could not be taken back).
    let (stored_tx, stored_rx) = std::sync::mpsc::channel::<Option<KeyedBatch>>();
    let batcher_cancel = cancel.clone();
    // Full batches' lines go from the batching thread to the finishing thread, which sorts
    // them into a batch for the storing task while the batching thread takes the next
    // batch's lines: the parsing threads go on meanwhile, instead of waiting for the sort
    // (or for the store to take a batch). A rendezvous: at most one batch being finished
    // and one being filled. Their emptied stretches come back to be filled again.
    let (pending_tx, pending_rx) =
        std::sync::mpsc::sync_channel::<(PendingLines, Vec<Rejection>)>(0);
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<Vec<EncodedLines>>();
    let finisher = std::thread::Builder::new()
        .name("dx-finish".into())
        .spawn(move || {
            let mut builder = BatchBuilder::new();
            // Batches handed to the storing task and not back yet.
            let mut out = 0usize;
            for (pending, mut rejected) in pending_rx {
                rejected.sort_by_key(|r| r.line);
                // At most two batches out at once (one being stored, one waiting): with two
                // out, the next is finished only once the older is stored, into its buffers.
                // A third would take about 130 MB more, and fresh memory is costly (the kernel
                // clears each page on first touch).
                while out >= 2 {
                    match stored_rx.recv() {
                        Ok(stored) => {
                            out -= 1;
                            stored.into_iter().for_each(|b| builder.recycle(b));
                        }
                        Err(_) => break, // the storing side is gone: the send below fails
                    }
                }
                for stored in stored_rx.try_iter() {
                    out = out.saturating_sub(1);
                    stored.into_iter().for_each(|b| builder.recycle(b));
                }
                out += 1;
                let ready = Ready {
                    batch: builder.finish_pending(pending),
                    rejected,
                };
                let _ = spent_tx.send(builder.take_spent());
                if tx.blocking_send(ready).is_err() {
                    // The storing side gave up: stop reading.
                    batcher_cancel.store(true, Ordering::Relaxed);
                    return;
                }
            }
        })
        .context("cannot start the finishing thread")?;
    let batcher = std::thread::Builder::new()
        .name("dx-batch".into())
        .spawn(move || {
            let mut builder = BatchBuilder::new();
            let mut rejected: Vec<Rejection> = Vec::new();
            let send = |builder: &mut BatchBuilder, rejected: &mut Vec<Rejection>| {
                pending_tx
                    .send((builder.take_pending(), std::mem::take(rejected)))
                    .is_ok()
            };
            for mut parsed in raw_rx {
                rejected.append(&mut parsed.rejections);
                for spent in spent_rx.try_iter() {
                    builder.give_spent(spent);
                }
                // The stretch stays in the batch as it is; the parsing threads get an emptied
                // one of an earlier batch in its place.
                let stretch = std::mem::replace(&mut parsed.encoded, builder.spare_lines());
                builder.append(stretch);
                batcher_spares.give(parsed);
                if builder.lines() + rejected.len() >= BATCH && !send(&mut builder, &mut rejected) {
                    break;
                }
            }
            if builder.lines() + rejected.len() > 0 {
                send(&mut builder, &mut rejected);
            }
            batcher_last_taken.store(true, Ordering::Relaxed);
            drop(pending_tx);
            // A panic there is this thread's, so that the import fails instead of ending
            // early as if the file had.
            if let Err(panic) = finisher.join() {
                std::panic::resume_unwind(panic);
            }
        })
        .context("cannot start the batching thread")?;
    let parser = std::thread::Builder::new()
        .name("dx-read".into())
        .spawn(move || {
            // Reading and parsing run ahead of the store, the pipeline's slowest stage, by up
            // to two batches: at a lower priority (which the parsing threads this thread
            // starts inherit) they take what the storing and merging threads leave of the
            // cores, instead of a fair share that delays the store. Best effort.
            #[cfg(target_os = "linux")]
            let _ = rustix::process::nice(READ_NICE);
            let mut closed = false;
            // The parsing threads check each line against the unit calendar and encode it. The
            // calendar is built once, by [`warm_up`] or else by the first line's check (the
            // reading thread does not wait for it).
            let check = |s: &DossierSnapshot| UnitCalendar::embedded().check(s);
            let result =
                parse_parallel_with(reader, format, PARSE_THREADS, &spares, Some(&check), |b| {
                    if !closed && raw_tx.send(b).is_err() {
                        closed = true;
                        cancel.store(true, Ordering::Relaxed);
                    }
                });
            drop(raw_tx);
            if let Err(panic) = batcher.join() {
                std::panic::resume_unwind(panic);
            }
            result
        })
        .context("cannot start the reading thread")?;
    let mut failure = None;
    let t0 = std::time::Instant::now();
    let mut waited = std::time::Duration::ZERO;
    let mut storing = std::time::Duration::ZERO;
    // Whether the store was asked to settle ([`DossierStore::settle`]), once the input is
    // read and this task waits for the last batches.
    let mut settled = false;
    loop {
        let tw = std::time::Instant::now();
        let next = match rx.try_recv() {
            Ok(batch) => Some(batch),
            Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                if !settled && last_taken.load(Ordering::Relaxed) {
                    settled = true;
                    if let Err(e) = store.settle().await {
                        failure = Some(e);
                        break;
                    }
                }
                rx.recv().await
            }
            Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => None,
        };
        let Some(batch) = next else { break };
        waited += tw.elapsed();
        let ts = std::time::Instant::now();
        fs.lines += batch.batch.lines() + batch.rejected.len() as u64;
        fs.rejected += batch.rejected.len() as u64;
        for r in &batch.rejected {
            sink.write(&name, r)?;
        }
        if batch.batch.is_empty() {
            let _ = stored_tx.send(Some(batch.batch));
        } else {
            let keyed = Arc::new(batch.batch);
            let stored = store.ingest_keyed(Arc::clone(&keyed)).await;
            // Back to the finishing thread, its buffers for the batch after next (that
            // thread may be gone).
            let _ = stored_tx.send(Arc::into_inner(keyed));
            match stored {
                Ok(counts) => {
                    fs.applied += counts.applied;
                    fs.stale += counts.stale;
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        storing += ts.elapsed();
        if let Some(b) = &bar {
            b.set_position(progress.get());
        }
    }
    // Where the import's time went: waiting for the parsing, batching and finishing threads,
    // or in the store (the storing side is the pipeline's bottleneck when `waited` is small).
    tracing::debug!(file = %name, total_ms = t0.elapsed().as_millis() as u64,
        waited_ms = waited.as_millis() as u64, storing_ms = storing.as_millis() as u64, "import timing");
    drop(rx);
    // The finishing thread may wait for a stored batch: no more come.
    drop(stored_tx);
    let parsed = tokio::task::spawn_blocking(move || parser.join())
        .await
        .context("the parsing thread could not be joined")?;
    if let Some(e) = failure {
        return Err(anyhow::Error::new(e).context(format!("{name}: the database refused a batch")));
    }
    match parsed {
        Ok(Ok(_)) => {}
        Ok(Err(e @ (IngestError::Header(_) | IngestError::NoHeader))) => {
            return Err(
                anyhow::Error::new(e).context(format!("{name}: cannot be read as a dossier feed"))
            );
        }
        Ok(Err(e)) => {
            return Err(anyhow::Error::new(e).context(format!("{name}: reading stopped")));
        }
        Err(_) => bail!("{name}: a reading, batching or finishing thread panicked"),
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(fs)
}

fn progress_bar(size: u64, name: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || size == 0 {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ~{eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.to_owned());
    Some(bar)
}

/// Counts the bytes read, for the progress bar; fails once `cancel` is set, which stops
/// the parser when the database side has given up.
struct CountingReader<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
    cancel: Arc<AtomicBool>,
}

struct Counter(Arc<std::sync::atomic::AtomicU64>);

impl Counter {
    fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        CountingReader {
            inner,
            count: Arc::default(),
            cancel: Arc::default(),
        }
    }
    fn counter(&self) -> Counter {
        Counter(self.count.clone())
    }
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("import cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// The CSV/XLSX header for a grouping: the indicator table's columns, with the period
/// column named `month` (`YYYY-MM`), `quarter` (`YYYY-Qn`) or `year` (`YYYY`). Nation-wide
/// groupings keep the `province_code` column and fill it with `VN`. For province × month
/// the header is exactly [`dxhub_ingest::indicators::CSV_HEADER`].
pub fn header(by: Grouping) -> Vec<&'static str> {
    vec![
        "province_code",
        by.period().column(),
        "received",
        "online",
        "end_to_end",
        "completed",
        "completed_on_time",
        "online_payments",
        "online_payment_vnd",
        "services_online",
    ]
}

fn numbers(r: &GroupedRow) -> [u64; 8] {
    let c = &r.cell;
    [
        c.received,
        c.online,
        c.end_to_end,
        c.completed,
        c.completed_on_time,
        c.online_payments,
        c.online_payment_vnd,
        r.services_online,
    ]
}

/// `part / whole`, or `None` when `whole` is 0.
fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Writes the public-service indicators grouped as `--by` says, as CSV, JSON or XLSX.
pub async fn export(
    store: Arc<dyn Store>,
    by: &str,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let Some(grouping) = Grouping::parse(by) else {
        let names: Vec<&str> = Grouping::ALL.iter().map(|g| g.as_str()).collect();
        bail!("--by {by}: expected one of {}", names.join(", "));
    };
    if !matches!(format, "csv" | "json" | "xlsx") {
        bail!("--format {format}: expected csv, json or xlsx");
    }
    if format == "xlsx" && out.is_none() {
        bail!("--format xlsx writes a binary workbook: name the file with --out FILE");
    }
    let rows = store
        .grouped_indicator_rows(&IndicatorQuery::default(), grouping)
        .await?;
    if format == "xlsx" {
        let path = out.expect("checked above");
        return write_xlsx(&rows, grouping, path)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let head = header(grouping);
    if format == "csv" {
        writeln!(w, "{}", head.join(","))?;
        for r in &rows {
            let n = numbers(r).map(|v| v.to_string());
            writeln!(w, "{},{},{}", r.unit, r.period, n.join(","))?;
        }
    } else {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                let mut o = serde_json::Map::new();
                o.insert(head[0].into(), r.unit.clone().into());
                o.insert(head[1].into(), r.period.clone().into());
                for (name, v) in head[2..].iter().zip(numbers(r)) {
                    o.insert((*name).into(), v.into());
                }
                serde_json::Value::Object(o)
            })
            .collect();
        serde_json::to_writer_pretty(&mut w, &serde_json::json!({ "by": by, "rows": list }))?;
        writeln!(w)?;
    }
    w.flush()?;
    Ok(())
}

/// The workbook: one sheet, a frozen bold header, counts as numbers, and three rate
/// columns (online share, end-to-end share, on-time share) formatted as percentages and
/// left empty where the denominator is 0.
fn write_xlsx(rows: &[GroupedRow], by: Grouping, path: &Path) -> anyhow::Result<()> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("public_services")?;
    let bold = Format::new().set_bold();
    let count = Format::new().set_num_format("#,##0");
    let percent = Format::new().set_num_format("0.0%");
    let mut head: Vec<&str> = header(by);
    head.extend(["online_share", "end_to_end_share", "on_time_share"]);
    for (col, name) in head.iter().enumerate() {
        let col = col as u16;
        sheet.write_string_with_format(0, col, *name, &bold)?;
        let width = match col {
            0 | 1 => 14.0,
            _ => (name.len() as f64 + 2.0).max(12.0),
        };
        sheet.set_column_width(col, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        sheet.write_string(row, 0, &r.unit)?;
        sheet.write_string(row, 1, &r.period)?;
        for (j, v) in numbers(r).into_iter().enumerate() {
            sheet.write_number_with_format(row, j as u16 + 2, v as f64, &count)?;
        }
        let c = &r.cell;
        let rates = [
            share(c.online, c.received),
            share(c.end_to_end, c.received),
            share(c.completed_on_time, c.completed),
        ];
        for (j, v) in rates.into_iter().enumerate() {
            if let Some(v) = v {
                sheet.write_number_with_format(row, j as u16 + 10, v, &percent)?;
            }
        }
    }
    book.save(path)?;
    Ok(())
}

//! `dxhub import dossiers` and `dxhub export public-services`: streaming ingestion of
//! dossier-sync feeds (CSV or NDJSON) in batches, each batch one store transaction, and
//! the indicator table out as CSV or JSON.

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use dxhub_ingest::{DossierReader, Format, Rejection};
use dxhub_store::{IndicatorQuery, Store};
use dxhub_web::ingest::UnitCalendar;
use serde::Serialize;

/// Lines per store transaction.
pub const BATCH: usize = 10_000;

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
    let calendar = UnitCalendar::embedded();
    let mut summary = Summary::default();
    for path in files {
        let name = path.display().to_string();
        let file = File::open(path).with_context(|| format!("cannot read {name}"))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let format = Format::from_path(path);
        let reader = BufReader::with_capacity(1 << 20, CountingReader::new(file));
        let progress = reader.get_ref().counter();
        let mut reader = match format {
            Some(f) => DossierReader::new(reader, f),
            None => DossierReader::sniffed(reader),
        }
        .with_context(|| format!("{name}: cannot be read as a dossier feed"))?;
        let bar = progress_bar(size, &name);
        let mut fs = FileSummary {
            file: name.clone(),
            format: match reader.format() {
                Format::Csv => "csv".into(),
                Format::Ndjson => "ndjson".into(),
            },
            ..FileSummary::default()
        };
        let mut batch = Vec::with_capacity(BATCH);
        let mut rejected = Vec::new();
        loop {
            // Items one at a time so every snapshot's line is known for the unit check.
            let mut read_any = false;
            while batch.len() < BATCH {
                let Some(item) = reader.next() else { break };
                read_any = true;
                let line = reader.lines_read();
                match item.with_context(|| format!("{name}: reading stopped"))? {
                    Ok(s) => match calendar.check(&s) {
                        Ok(()) => batch.push(s),
                        Err((field, reason)) => rejected.push(Rejection {
                            line,
                            field: Some(field.to_owned()),
                            reason,
                        }),
                    },
                    Err(r) => rejected.push(r),
                }
            }
            if !read_any && batch.is_empty() && rejected.is_empty() {
                break;
            }
            fs.lines += (batch.len() + rejected.len()) as u64;
            fs.rejected += rejected.len() as u64;
            for r in rejected.drain(..) {
                sink.write(&name, &r)?;
            }
            if !batch.is_empty() {
                let counts = store
                    .ingest_dossiers(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                    .await
                    .with_context(|| format!("{name}: the database refused a batch"))?;
                fs.applied += counts.applied;
                fs.stale += counts.stale;
            }
            if let Some(b) = &bar {
                b.set_position(progress.get());
            }
            if !read_any {
                break;
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        summary.lines += fs.lines;
        summary.applied += fs.applied;
        summary.stale += fs.stale;
        summary.rejected += fs.rejected;
        tracing::info!(file = %name, lines = fs.lines, applied = fs.applied, stale = fs.stale, rejected = fs.rejected, "file imported");
        summary.files.push(fs);
    }
    if let RejectSink::Csv(mut w) = sink {
        w.flush()?;
    }
    Ok(summary)
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

/// Counts the bytes read, for the progress bar.
struct CountingReader<R> {
    inner: R,
    count: Arc<std::sync::atomic::AtomicU64>,
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
        }
    }
    fn counter(&self) -> Counter {
        Counter(self.count.clone())
    }
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

/// Writes the province × month indicator table.
pub async fn export(
    store: Arc<dyn Store>,
    by: &str,
    format: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    if by != "province-month" {
        bail!("--by {by}: only province-month is available so far");
    }
    let rows = store.indicator_rows(&IndicatorQuery::default()).await?;
    let mut w: Box<dyn Write> = match out {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot write {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    match format {
        "csv" => dxhub_ingest::indicators::write_csv(&rows, &mut w)?,
        "json" => {
            let list: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "province_code": r.key.province_code.as_str(), "month": r.key.month.to_string(),
                        "received": r.cell.received, "online": r.cell.online, "end_to_end": r.cell.end_to_end,
                        "completed": r.cell.completed, "completed_on_time": r.cell.completed_on_time,
                        "online_payments": r.cell.online_payments, "online_payment_vnd": r.cell.online_payment_vnd,
                        "services_online": r.services_online,
                    })
                })
                .collect();
            serde_json::to_writer_pretty(&mut w, &serde_json::json!({ "by": by, "rows": list }))?;
            writeln!(w)?;
        }
        other => bail!("--format {other}: expected csv or json"),
    }
    w.flush()?;
    Ok(())
}

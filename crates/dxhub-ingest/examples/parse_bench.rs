//! Benchmark program: parses a dossier-sync file and prints lines/s and MB/s.
//!
//! ```text
//! cargo run --release -p dxhub-ingest --example parse_bench -- FILE [--repeat N] [--batch N] [--indicators] [--threads N] [--encode] [--table OUT.csv]
//! ```
//!
//! `--encode` (with `--threads`) has the parsing threads also encode each line as a batch
//! keeps it, as the import's do (with a check that accepts every line): parsing, checking
//! and encoding are then timed together.
//!
//! `--threads N` parses with `parse_parallel` on N worker threads (the figure is then
//! wall-clock throughput of the whole process). `--table` writes the indicator table
//! (implies `--indicators`), in the DuckDB baseline's format, for comparison.
//!
//! The format comes from the file name (`.csv`, `.ndjson`/`.jsonl`) or its content.
//! `--indicators` also builds the newest-snapshot map and the indicator table in
//! memory and reports that phase separately. The file is read through the OS page
//! cache: run it twice and take the second figure to leave the disk out.

use std::fs::File;
use std::time::Instant;

use dxhub_ingest::indicators::write_csv;
use dxhub_ingest::{
    DossierReader, Format, LiveIndicators, Spares, parse_parallel, parse_parallel_with,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut repeat = 3usize;
    let mut batch = 8192usize;
    let mut indicators = false;
    let mut encode = false;
    let mut threads = 0usize;
    let mut table: Option<String> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => repeat = args.next().ok_or("--repeat N")?.parse()?,
            "--batch" => batch = args.next().ok_or("--batch N")?.parse()?,
            "--indicators" => indicators = true,
            "--encode" => encode = true,
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            "--table" => {
                table = Some(args.next().ok_or("--table FILE")?);
                indicators = true;
            }
            _ => path = Some(a),
        }
    }
    let path = path.ok_or(
        "usage: parse_bench FILE [--repeat N] [--batch N] [--indicators] [--threads N] [--encode] [--table OUT]",
    )?;
    let bytes = std::fs::metadata(&path)?.len();
    let mut best = f64::INFINITY;
    let mut total_lines = 0u64;
    for run in 1..=repeat {
        let file = File::open(&path)?;
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        if threads > 0 {
            let format = Format::from_path(&path).unwrap_or(Format::Csv);
            let mut live = indicators.then(LiveIndicators::new);
            let sum = if encode {
                let spares = Spares::new();
                let accept = |_: &dxhub_ingest::DossierSnapshot| Ok(());
                parse_parallel_with(file, format, threads, &spares, Some(&accept), |b| {
                    spares.give(b)
                })?
            } else {
                parse_parallel(file, format, threads, |b| {
                    if let Some(live) = live.as_mut() {
                        for s in b.snapshots {
                            live.ingest(s);
                        }
                    }
                })?
            };
            let secs = t.elapsed().as_secs_f64();
            let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a).unwrap_or(0.0);
            println!(
                "run {run}: {} lines ({} snapshots, {} rejected) with {threads} parsing threads{} in {secs:.3} s wall ({cpu:.2} s CPU): {:.2} M lines/s, {:.0} MB/s",
                sum.lines,
                sum.snapshots,
                sum.rejections,
                if indicators {
                    " + indicators on the calling thread"
                } else {
                    ""
                },
                sum.lines as f64 / secs / 1e6,
                bytes as f64 / secs / 1e6,
            );
            best = best.min(secs);
            total_lines = sum.lines;
            if let (Some(out), Some(live)) = (&table, &live) {
                write_csv(&live.aggregates.rows(), File::create(out)?)?;
            }
            continue;
        }
        let mut reader = match Format::from_path(&path) {
            Some(f) => DossierReader::new(file, f)?,
            None => DossierReader::sniffed(file)?,
        };
        let mut snaps = Vec::with_capacity(batch);
        let mut rejects = Vec::new();
        let (mut ok, mut bad) = (0u64, 0u64);
        let mut live = indicators.then(LiveIndicators::new);
        let mut agg_secs = 0.0;
        loop {
            snaps.clear();
            rejects.clear();
            if reader.next_batch(&mut snaps, &mut rejects, batch)? == 0 {
                break;
            }
            ok += snaps.len() as u64;
            bad += rejects.len() as u64;
            if let Some(live) = live.as_mut() {
                let t = Instant::now();
                for s in snaps.drain(..) {
                    live.ingest(s);
                }
                agg_secs += t.elapsed().as_secs_f64();
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
        if let (Some(out), Some(live)) = (&table, &live) {
            write_csv(&live.aggregates.rows(), File::create(out)?)?;
        }
        let parse_secs = secs - agg_secs;
        let lines = reader.lines_read();
        best = best.min(parse_secs);
        total_lines = lines;
        println!(
            "run {run}: {lines} lines ({ok} snapshots, {bad} rejected) in {parse_secs:.3} s parse: {:.2} M lines/s, {:.0} MB/s{}{}",
            lines as f64 / parse_secs / 1e6,
            bytes as f64 / parse_secs / 1e6,
            match cpu {
                Some(c) if !indicators => format!(
                    " (process CPU time {c:.2} s: {:.2} M lines/s per CPU-second)",
                    lines as f64 / c / 1e6
                ),
                _ => String::new(),
            },
            match &live {
                Some(l) => format!(
                    "; newest-per-dossier + indicators {agg_secs:.3} s ({} dossiers, {} cells)",
                    l.latest.len(),
                    l.aggregates.len()
                ),
                None => String::new(),
            }
        );
    }
    println!(
        "best: {:.2} M lines/s, {:.0} MB/s ({} bytes, {})",
        total_lines as f64 / best / 1e6,
        bytes as f64 / best / 1e6,
        bytes,
        path
    );
    Ok(())
}

/// User + system CPU time of this process (Linux `/proc/self/stat`, 10 ms resolution):
/// on a shared machine wall time includes waiting for a core, CPU time does not.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

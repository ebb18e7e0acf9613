//! Benchmark program: builds key-ordered batches ([`BatchBuilder`]) from a dossier-sync
//! file and prints the time per line of pushing the lines and of finishing each batch, and
//! the time per final of decoding its contribution (what merging a batch does).
//!
//! ```text
//! cargo run --release -p dxhub-ingest --example batch_bench -- FILE [--batch N] [--repeat N]
//! ```
//!
//! The file is parsed once into memory first (so take a feed of a few million lines);
//! each repetition then builds every batch of `--batch` lines (1,000,000 by default, as
//! the import does) from it.

use std::fs::File;
use std::time::{Duration, Instant};

use dxhub_ingest::{BatchBuilder, Delta, DossierSnapshot, Format, codec, parse_parallel};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut batch = 1_000_000usize;
    let mut repeat = 3usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--batch" => batch = args.next().ok_or("--batch N")?.parse()?,
            "--repeat" => repeat = args.next().ok_or("--repeat N")?.parse()?,
            _ => path = Some(a),
        }
    }
    let path = path.ok_or("usage: batch_bench FILE [--batch N] [--repeat N]")?;
    let format = Format::from_path(&path).unwrap_or(Format::Csv);
    let mut lines: Vec<DossierSnapshot> = Vec::new();
    parse_parallel(File::open(&path)?, format, 2, |b| lines.extend(b.snapshots))?;
    println!("{} snapshots parsed", lines.len());
    let mut builder = BatchBuilder::new();
    for run in 1..=repeat {
        let (mut push, mut finish, mut decode) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut finals = 0usize;
        for chunk in lines.chunks(batch) {
            let t = Instant::now();
            for s in chunk {
                builder.push(s);
            }
            push += t.elapsed();
            let t = Instant::now();
            let kb = builder.finish();
            finish += t.elapsed();
            finals += kb.len();
            // What merging a batch reads of each final (its contribution) and does with it
            // (a change of its cell), as if nothing were stored.
            let t = Instant::now();
            let mut delta = Delta::new();
            for i in 0..kb.len() {
                let c = codec::contribution_ref(kb.fields(i)).ok_or("fields do not decode")?;
                delta.replace_ref(None, c);
            }
            std::hint::black_box(&delta);
            decode += t.elapsed();
            // As the import does once the store is done with a batch.
            builder.recycle(kb);
        }
        let n = lines.len() as f64;
        println!(
            "run {run}: {} lines, {finals} finals: push {:.1} ns/line ({:.3} s), finish {:.1} ns/line ({:.3} s), contributions and their cells' change {:.1} ns/final",
            lines.len(),
            push.as_secs_f64() * 1e9 / n,
            push.as_secs_f64(),
            finish.as_secs_f64() * 1e9 / n,
            finish.as_secs_f64(),
            decode.as_secs_f64() * 1e9 / finals as f64,
        );
    }
    Ok(())
}

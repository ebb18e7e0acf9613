//! HTTP ingestion throughput: starts the real dxhub server on loopback over a store,
//! creates an API key allowed to ingest every source of the feed, and POSTs the feed to
//! `/api/v1/dossiers` in 10 k-line bodies from a few concurrent clients: CSV (the header
//! repeated in each body), or NDJSON for a feed named `*.ndjson`. Prints lines/s.
//! A benchmark program, not a test.
//!
//!     cargo run --release -p dxhub --example http_ingest_bench -- FEED.csv|FEED.ndjson \
//!         [--lines 2000000] [--clients 4] [--batch 10000] [--database URL]
//!
//! Without `--database` the store is a fresh SQLite file in a temporary directory.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use dxhub_core::audit::Change;
use dxhub_web::{AppState, security};

/// The allocator of the `dxhub` binary, so that the server measured here is the one served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Args {
    feed: String,
    lines: usize,
    clients: usize,
    batch: usize,
    database: Option<String>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        feed: String::new(),
        lines: 2_000_000,
        clients: 4,
        batch: 10_000,
        database: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut value = || it.next().context("a value is missing");
        match x.as_str() {
            "--lines" => a.lines = value()?.parse()?,
            "--clients" => a.clients = value()?.parse()?,
            "--batch" => a.batch = value()?.parse()?,
            "--database" => a.database = Some(value()?),
            f if !f.starts_with("--") => a.feed = f.to_owned(),
            other => bail!("unknown option {other}"),
        }
    }
    if a.feed.is_empty() {
        bail!(
            "usage: http_ingest_bench FEED.csv [--lines N] [--clients N] [--batch N] [--database URL]"
        );
    }
    Ok(a)
}

/// Whether the feed is NDJSON (by its name), else CSV.
fn is_ndjson(a: &Args) -> bool {
    a.feed.ends_with(".ndjson") || a.feed.ends_with(".jsonl")
}

/// The feed cut into bodies of `batch` lines each (a CSV feed's header repeated in each),
/// and its sources.
fn bodies(a: &Args) -> anyhow::Result<(Vec<String>, Vec<String>, usize)> {
    let file = std::fs::File::open(&a.feed).with_context(|| format!("cannot read {}", a.feed))?;
    let mut lines = BufReader::with_capacity(1 << 20, file).lines();
    let ndjson = is_ndjson(a);
    let header = if ndjson {
        None
    } else {
        Some(lines.next().context("empty feed")??)
    };
    let mut sources = std::collections::BTreeSet::new();
    let (mut out, mut body, mut n, mut total) = (Vec::new(), String::new(), 0, 0);
    for line in lines.take(a.lines) {
        let line = line?;
        let source = if ndjson {
            serde_json::from_str::<serde_json::Value>(&line)?["source"]
                .as_str()
                .map(str::to_owned)
        } else {
            line.split(',').nth(1).map(str::to_owned)
        };
        sources.extend(source);
        if let (0, Some(header)) = (n, &header) {
            body.push_str(header);
            body.push('\n');
        }
        body.push_str(&line);
        body.push('\n');
        n += 1;
        total += 1;
        if n == a.batch {
            out.push(std::mem::take(&mut body));
            n = 0;
        }
    }
    if n > 0 {
        out.push(body);
    }
    Ok((out, sources.into_iter().collect(), total))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = args()?;
    let (bodies, sources, total) = bodies(&a)?;
    let dir = tempfile::tempdir()?;
    let url = a
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.sqlite").display()));
    let store = dxhub_db::open(&url).await?;

    let caps = ["ingest:dossiers"];
    let mut new = dxhub_web::validate_key("http-bench", &sources.join(","), &caps)
        .map_err(anyhow::Error::msg)?;
    let (secret, hash) = security::new_api_key_secret();
    new.secret_hash = hash;
    let key = store
        .create_key(
            &new,
            Change::new("bench", "key.create", "key:http-bench".to_owned()),
        )
        .await?;
    let bearer = format!("Bearer {}", security::format_api_key(key.id, &secret));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(dxhub_web::serve(
        listener,
        AppState::new(store.clone()),
        async move {
            let _ = stop_rx.await;
        },
    ));

    let endpoint = format!("http://{addr}/api/v1/dossiers");
    let content_type = if is_ndjson(&a) {
        "application/x-ndjson"
    } else {
        "text/csv"
    };
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..a.clients {
        let (bodies, next, endpoint, bearer) = (
            bodies.clone(),
            next.clone(),
            endpoint.clone(),
            bearer.clone(),
        );
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut lines = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { break };
                let resp = http
                    .post(&endpoint)
                    .header("authorization", &bearer)
                    .header("content-type", content_type)
                    .body(body.clone())
                    .send()
                    .await?;
                let status = resp.status();
                let text = resp.text().await?;
                if !status.is_success() {
                    bail!("POST answered {status}: {text}");
                }
                let summary: serde_json::Value = serde_json::from_str(&text)?;
                lines += summary["lines"].as_u64().unwrap_or(0);
            }
            anyhow::Ok(lines)
        }));
    }
    let mut lines = 0;
    for c in clients {
        lines += c.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    server.await??;
    println!(
        "{} lines ({} read from the feed) in {} bodies of {} lines, {} clients, store {}: {:.2} s, {:.0} lines/s",
        lines,
        total,
        bodies.len(),
        a.batch,
        a.clients,
        store.backend(),
        secs,
        lines as f64 / secs
    );
    Ok(())
}

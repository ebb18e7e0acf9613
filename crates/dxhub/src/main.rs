//! The `dxhub` command: a thin CLI over the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dxhub_store::{ReferenceLoad, Store};

/// dxhub — đo lường chuyển đổi số quốc gia / measuring national digital transformation.
#[derive(Parser)]
#[command(name = "dxhub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the web server on the embedded SQLite store, loading the reference data on
    /// first run.
    Demo {
        #[command(flatten)]
        listen: Listen,
        /// Where the SQLite file lives (created if missing).
        #[arg(long, default_value = "dxhub-data", env = "DXHUB_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Starts the web server on any store, loading the reference data if it is missing.
    Serve {
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        db: Database,
    },
    /// Loads data into a store.
    Import {
        #[command(subcommand)]
        what: Import,
    },
    /// Creates or upgrades the database schema, and nothing else.
    Migrate {
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Subcommand)]
enum Import {
    /// The reference data shipped in the binary: administrative units, lineage, ministries.
    Reference {
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Args)]
struct Listen {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "DXHUB_LISTEN")]
    listen: SocketAddr,
}

#[derive(Args)]
struct Database {
    /// sqlite:///path/to/dxhub.db or postgres://user:password@host/dbname
    #[arg(long, env = "DXHUB_DATABASE_URL")]
    database: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn,tokio_postgres=warn".into()),
        )
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { listen, data_dir } => {
            let url = dxhub_db::sqlite_url_in(&data_dir);
            tracing::info!(data_dir = %data_dir.display(), "demo: embedded SQLite store");
            let store = open(&url).await?;
            ensure_reference(&*store).await?;
            serve(store, listen.listen).await
        }
        Command::Serve { listen, db } => {
            let store = open(&db.database).await?;
            ensure_reference(&*store).await?;
            serve(store, listen.listen).await
        }
        Command::Import {
            what: Import::Reference { db },
        } => {
            let store = open(&db.database).await?;
            ensure_reference(&*store).await
        }
        Command::Migrate { db } => {
            open(&db.database).await?;
            tracing::info!("schema is up to date");
            Ok(())
        }
    }
}

async fn open(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let started = Instant::now();
    let store = dxhub_db::open(url)
        .await
        .with_context(|| format!("cannot use the database {}", dxhub_db::redact(url)))?;
    tracing::info!(
        backend = store.backend(),
        database = %dxhub_db::redact(url),
        ms = started.elapsed().as_millis() as u64,
        "store open, schema up to date"
    );
    Ok(store)
}

/// Loads the embedded reference data unless this version is already in the store. The
/// version is checked before parsing so that a restart costs milliseconds.
async fn ensure_reference(store: &dyn Store) -> anyhow::Result<()> {
    let version = dxhub_reference::embedded_version();
    if store.reference_version().await?.as_deref() == Some(version.as_str()) {
        tracing::info!(%version, "reference data already loaded");
        return Ok(());
    }
    let started = Instant::now();
    let data = dxhub_reference::ReferenceData::embedded()
        .context("the reference data shipped in this binary is invalid")?;
    match store.load_reference(&data).await? {
        ReferenceLoad::AlreadyLoaded => {
            tracing::info!(%version, "reference data already loaded (by another process)")
        }
        ReferenceLoad::Loaded { units, edges } => tracing::info!(
            %version,
            units,
            lineage_edges = edges,
            ms = started.elapsed().as_millis() as u64,
            "reference data loaded"
        ),
    }
    Ok(())
}

async fn serve(store: Arc<dyn Store>, addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let state = dxhub_web::AppState::new(store);
    // Project the boundaries in the background so the first visitor does not wait.
    let maps = state.maps.clone();
    tokio::task::spawn_blocking(move || maps.warm());
    tracing::info!("serving on http://{}", listener.local_addr()?);
    dxhub_web::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

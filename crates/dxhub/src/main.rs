//! The `dxhub` command: a thin CLI over the library crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use dxhub_store::{ReferenceLoad, Store};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod demo_feed;
mod demo_index;
mod dossiers;
mod index_cli;

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
        #[command(flatten)]
        web: Web,
        /// Where the SQLite file lives (created if missing).
        #[arg(long, default_value = "dxhub-data", env = "DXHUB_DATA_DIR")]
        data_dir: PathBuf,
    },
    /// Starts the web server on any store, loading the reference data if it is missing.
    Serve {
        #[command(flatten)]
        listen: Listen,
        #[command(flatten)]
        web: Web,
        #[command(flatten)]
        db: Database,
    },
    /// Loads data into a store.
    Import {
        #[command(subcommand)]
        what: Import,
    },
    /// Writes data out of a store.
    Export {
        #[command(subcommand)]
        what: Export,
    },
    /// Creates or upgrades the database schema, and nothing else.
    Migrate {
        #[command(flatten)]
        db: Database,
    },
    /// People's accounts.
    User {
        #[command(subcommand)]
        what: UserCmd,
    },
    /// API keys of systems.
    Key {
        #[command(subcommand)]
        what: KeyCmd,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        what: AuditCmd,
    },
    /// Indicator methodologies and scores (nothing stored).
    Index {
        #[command(subcommand)]
        what: index_cli::IndexCmd,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Creates an account; prints a generated password once unless --password-stdin is given.
    Add {
        #[command(flatten)]
        db: Database,
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
        /// team_leader, province_officer, ministry_officer, reviewer or admin.
        #[arg(long)]
        role: String,
        /// Province code, ministry code or team id; omit for reviewer and admin.
        #[arg(long)]
        scope: Option<String>,
        /// Name shown in the interface (default: the e-mail).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Gives an account a new generated password (printed once) and ends its sessions.
    ResetPassword {
        #[command(flatten)]
        db: Database,
        /// The account's e-mail.
        #[arg(long)]
        email: String,
    },
    /// Lists accounts.
    List {
        #[command(flatten)]
        db: Database,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Creates a key and prints it once.
    Create {
        #[command(flatten)]
        db: Database,
        /// The system's name.
        #[arg(long)]
        name: String,
        /// The `source` values it may send (comma-separated or repeated).
        #[arg(long, required = true)]
        source: Vec<String>,
        /// Capabilities, e.g. ingest:dossiers (comma-separated or repeated).
        #[arg(long = "can", required = true, value_delimiter = ',')]
        can: Vec<String>,
    },
    /// Lists keys (never their secrets).
    List {
        #[command(flatten)]
        db: Database,
    },
    /// Revokes a key.
    Revoke {
        #[command(flatten)]
        db: Database,
        /// The key's id.
        id: i64,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Checks the hash chain of the audit trail; exits non-zero if it was tampered with.
    Verify {
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
    /// Dossier snapshots (shared/spec/dossier-sync.md), CSV or NDJSON, streamed in batches;
    /// prints a JSON summary; rejected lines go to standard error or --rejects.
    Dossiers {
        #[command(flatten)]
        db: Database,
        /// Write rejected lines (file, line, field, reason) to this CSV file.
        #[arg(long)]
        rejects: Option<PathBuf>,
        /// Feed files (.csv, .ndjson/.jsonl; other names are recognised by content).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Export {
    /// Public-service indicators.
    PublicServices {
        #[command(flatten)]
        db: Database,
        /// Grouping: province-month, nation-month, province-quarter, nation-quarter,
        /// province-year or nation-year (nation rows have province_code VN).
        #[arg(long, default_value = "province-month")]
        by: String,
        /// csv, json or xlsx (xlsx needs --out).
        #[arg(long, default_value = "csv")]
        format: String,
        /// Output file (standard output when absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct Listen {
    /// Address and port to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "DXHUB_LISTEN")]
    listen: SocketAddr,
}

/// How the web server is reached and how people sign in.
#[derive(Args)]
#[allow(rustdoc::bare_urls)] // the field comments are the command's help text
struct Web {
    /// The external base URL of this server (for the OpenID Connect redirect URI), e.g.
    /// https://dxhub.example.vn; default: http://LISTEN. An https URL also marks cookies
    /// Secure.
    #[arg(long, env = "DXHUB_PUBLIC_URL", value_name = "URL")]
    public_url: Option<String>,
    /// Issuer URL of an OpenID Connect provider (e.g. the national e-ID) to sign in with;
    /// discovered at start-up.
    #[arg(
        long,
        env = "DXHUB_OIDC_ISSUER",
        value_name = "URL",
        requires_all = ["oidc_client_id", "oidc_client_secret"]
    )]
    oidc_issuer: Option<String>,
    /// This server's client id at the OpenID Connect provider.
    #[arg(long, env = "DXHUB_OIDC_CLIENT_ID", requires = "oidc_issuer")]
    oidc_client_id: Option<String>,
    /// Its client secret (better given through the environment).
    #[arg(
        long,
        env = "DXHUB_OIDC_CLIENT_SECRET",
        hide_env_values = true,
        requires = "oidc_issuer"
    )]
    oidc_client_secret: Option<String>,
    /// Accept a plain-http issuer on a host other than loopback (labs only).
    #[arg(long, env = "DXHUB_OIDC_ALLOW_HTTP")]
    oidc_allow_http: bool,
    /// Whether the store holds the generated demo feed (pages then say so).
    #[arg(skip)]
    demo: bool,
}

impl Web {
    /// The web settings, with the public URL defaulting to the listening address.
    fn config(&self, listening: SocketAddr) -> anyhow::Result<dxhub_web::WebConfig> {
        let public_url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{listening}"));
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            anyhow::bail!("--public-url: expected an http:// or https:// URL, got {public_url}");
        }
        let oidc = match (&self.oidc_issuer, &self.oidc_client_id) {
            (Some(issuer), Some(client_id)) => Some(dxhub_web::oidc::OidcSettings {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret: self.oidc_client_secret.clone(),
                public_url: public_url.clone(),
                allow_http: self.oidc_allow_http,
            }),
            _ => None,
        };
        Ok(dxhub_web::WebConfig {
            secure_cookies: public_url.starts_with("https://"),
            oidc,
            demo: self.demo,
            ..dxhub_web::WebConfig::default()
        })
    }
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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,tower_http=warn,tokio_postgres=warn,refinery_core=warn".into()
            }),
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
        Command::Demo {
            listen,
            web,
            data_dir,
        } => {
            let url = dxhub_db::sqlite_url_in(&data_dir);
            tracing::info!(data_dir = %data_dir.display(), "demo: embedded SQLite store");
            let store = open(&url).await?;
            ensure_reference(&*store).await?;
            if store.dossier_count().await? == 0 {
                load_demo_feed(&*store).await?;
            }
            demo_index::load(&*store).await?;
            let web = Web { demo: true, ..web };
            serve(store, listen.listen, &web).await
        }
        Command::Serve { listen, web, db } => {
            let store = open(&db.database).await?;
            ensure_reference(&*store).await?;
            serve(store, listen.listen, &web).await
        }
        Command::Import {
            what: Import::Reference { db },
        } => {
            let store = open(&db.database).await?;
            ensure_reference(&*store).await
        }
        Command::Import {
            what: Import::Dossiers { db, rejects, files },
        } => {
            dossiers::warm_up();
            let store = open(&db.database).await?;
            let summary = dossiers::import(store, &files, rejects.as_deref()).await?;
            println!("{}", serde_json::to_string(&summary)?);
            Ok(())
        }
        Command::Export {
            what:
                Export::PublicServices {
                    db,
                    by,
                    format,
                    out,
                },
        } => {
            let store = open(&db.database).await?;
            dossiers::export(store, &by, &format, out.as_deref()).await
        }
        Command::Migrate { db } => {
            open(&db.database).await?;
            tracing::info!("schema is up to date");
            Ok(())
        }
        Command::User { what } => admin::user(what).await,
        Command::Key { what } => admin::key(what).await,
        Command::Audit {
            what: AuditCmd::Verify { db },
        } => admin::audit_verify(&db.database).await,
        Command::Index { what } => index_cli::run(what),
    }
}

mod admin {
    //! The account, key and audit commands.

    use std::collections::BTreeSet;
    use std::io::Read;

    use anyhow::{Context, bail};
    use dxhub_core::accounts::NewUser;
    use dxhub_core::audit::{Change, verify_chain};
    use dxhub_core::auth::{Role, Scope};
    use dxhub_core::units::UnitLevel;
    use dxhub_web::security;

    use super::{KeyCmd, UserCmd, open};

    /// Changes made from the command line are audited as the operating-system user.
    fn actor() -> String {
        format!(
            "cli:{}",
            std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned())
        )
    }

    pub async fn user(cmd: UserCmd) -> anyhow::Result<()> {
        match cmd {
            UserCmd::Add {
                db,
                email,
                role,
                scope,
                name,
                password_stdin,
            } => {
                let role: Role = role.parse().map_err(anyhow::Error::msg).context("--role")?;
                let scope = Scope::for_role(role, scope.as_deref())
                    .map_err(anyhow::Error::msg)
                    .context("--scope")?;
                let email = email.trim().to_lowercase();
                if !dxhub_core::accounts::looks_like_email(&email) {
                    bail!("--email: '{email}' is not an e-mail address");
                }
                let store = open(&db.database).await?;
                if let Scope::Province(c) | Scope::Ministry(c) = &scope {
                    let level = if matches!(scope, Scope::Province(_)) {
                        UnitLevel::Province
                    } else {
                        UnitLevel::Ministry
                    };
                    if store.unit_versions(c, Some(level)).await?.is_empty() {
                        bail!(
                            "--scope: there is no {level} with code {c} (is the reference data loaded?)"
                        );
                    }
                }
                let (password, generated) = if password_stdin {
                    let mut s = String::new();
                    std::io::stdin()
                        .read_to_string(&mut s)
                        .context("reading the password from standard input")?;
                    (s.trim_end_matches(['\r', '\n']).to_owned(), false)
                } else {
                    (security::random_password(), true)
                };
                let hash = security::hash_password(&password)
                    .map_err(anyhow::Error::msg)
                    .context("password")?;
                let new = NewUser {
                    email: email.clone(),
                    display_name: name.unwrap_or_else(|| email.clone()),
                    role,
                    scope: scope.clone(),
                    password_hash: Some(hash),
                };
                let desc = serde_json::json!({"email": email, "display_name": new.display_name, "role": role.as_str(), "scope": scope.to_text()});
                let user = store
                    .create_user(
                        &new,
                        Change::new(actor(), "user.create", format!("user:{email}"))
                            .with(None, Some(desc.to_string())),
                    )
                    .await?;
                println!("created account {} ({}, {})", user.email, role, scope);
                if generated {
                    println!("password (shown once): {password}");
                }
                Ok(())
            }
            UserCmd::ResetPassword { db, email } => {
                let store = open(&db.database).await?;
                let user = store
                    .user_by_email(&email)
                    .await?
                    .with_context(|| format!("there is no account {email}"))?;
                let password = security::random_password();
                let hash = security::hash_password(&password).map_err(anyhow::Error::msg)?;
                store
                    .set_password(
                        user.id,
                        &hash,
                        Change::new(actor(), "user.password_reset", format!("user:{}", user.id)),
                    )
                    .await?;
                println!("new password of {} (shown once): {password}", user.email);
                Ok(())
            }
            UserCmd::List { db } => {
                let store = open(&db.database).await?;
                for u in store.users().await? {
                    println!("{}\t{}\t{}\t{}", u.id, u.email, u.role, u.scope);
                }
                Ok(())
            }
        }
    }

    pub async fn key(cmd: KeyCmd) -> anyhow::Result<()> {
        match cmd {
            KeyCmd::Create {
                db,
                name,
                source,
                can,
            } => {
                let caps: Vec<&str> = can.iter().map(String::as_str).collect();
                let sources = source.join(",");
                let mut new =
                    dxhub_web::validate_key(&name, &sources, &caps).map_err(anyhow::Error::msg)?;
                let (secret, hash) = security::new_api_key_secret();
                new.secret_hash = hash;
                let store = open(&db.database).await?;
                let desc = serde_json::json!({"name": new.name, "sources": new.sources, "capabilities": new.capabilities.iter().map(|c| c.as_str()).collect::<Vec<_>>()});
                let key = store
                    .create_key(
                        &new,
                        Change::new(actor(), "key.create", format!("key:{}", new.name))
                            .with(None, Some(desc.to_string())),
                    )
                    .await?;
                println!(
                    "created key {} for {} (sources: {}; can: {})",
                    key.id,
                    key.name,
                    key.sources.iter().cloned().collect::<Vec<_>>().join(","),
                    key.capabilities
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                );
                println!(
                    "key (shown once; send as 'Authorization: Bearer KEY'): {}",
                    security::format_api_key(key.id, &secret)
                );
                Ok(())
            }
            KeyCmd::List { db } => {
                let store = open(&db.database).await?;
                for k in store.keys().await? {
                    let caps: BTreeSet<&str> = k.capabilities.iter().map(|c| c.as_str()).collect();
                    println!(
                        "{}\t{}\tsources={}\tcan={}\tlast_used={}\t{}",
                        k.id,
                        k.name,
                        k.sources.iter().cloned().collect::<Vec<_>>().join(","),
                        caps.into_iter().collect::<Vec<_>>().join(","),
                        k.last_used_at.as_deref().unwrap_or("never"),
                        k.revoked_at
                            .as_deref()
                            .map(|r| format!("revoked {r}"))
                            .unwrap_or_else(|| "active".to_owned())
                    );
                }
                Ok(())
            }
            KeyCmd::Revoke { db, id } => {
                let store = open(&db.database).await?;
                let k = store
                    .revoke_key(id, Change::new(actor(), "key.revoke", format!("key:{id}")))
                    .await?;
                println!(
                    "key {} ({}) revoked at {}",
                    k.id,
                    k.name,
                    k.revoked_at.unwrap_or_default()
                );
                Ok(())
            }
        }
    }

    pub async fn audit_verify(url: &str) -> anyhow::Result<()> {
        let store = open(url).await?;
        let (entries, head) = store.audit_chain().await?;
        match verify_chain(&entries, head.as_ref().map(|(s, h)| (*s, h.as_str()))) {
            Ok(n) => {
                println!(
                    "audit trail intact: {n} entries, head {}",
                    head.map(|(_, h)| h).unwrap_or_else(|| "(empty)".into())
                );
                Ok(())
            }
            Err(e) => bail!("AUDIT TRAIL TAMPERED WITH: {e}"),
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

/// Generates the demo feed and stores it in batches, logging how many and how long.
async fn load_demo_feed(store: &dyn Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let data = dxhub_reference::ReferenceData::embedded()
        .context("the reference data shipped in this binary is invalid")?;
    let feed = tokio::task::spawn_blocking(move || {
        demo_feed::generate(
            &data,
            dxhub_core::date::today_in_vietnam(),
            demo_feed::DEFAULT_SNAPSHOTS,
            demo_feed::DEFAULT_SEED,
        )
    })
    .await
    .context("generating the demo feed failed")?;
    let generated_ms = started.elapsed().as_millis() as u64;
    let snapshots = feed.len();
    let mut feed = feed.into_iter();
    loop {
        let batch: Vec<_> = feed.by_ref().take(10_000).collect();
        if batch.is_empty() {
            break;
        }
        store
            .ingest_dossiers(batch)
            .await
            .context("storing the demo feed failed")?;
    }
    tracing::info!(
        snapshots,
        dossiers = store.dossier_count().await?,
        generated_ms,
        ms = started.elapsed().as_millis() as u64,
        "demo feed loaded (generated demo data, not official figures)"
    );
    Ok(())
}

/// Loads the embedded reference data unless this version is already in the store (the
/// version is checked before parsing so that a restart costs milliseconds), then the
/// editions that ship with dxhub.
async fn ensure_reference(store: &dyn Store) -> anyhow::Result<()> {
    load_reference_if_new(store).await?;
    let editions = dxhub_web::scores::ensure_shipped_editions(store)
        .await
        .map_err(|e| anyhow::anyhow!("loading the shipped editions failed: {e}"))?;
    if editions > 0 {
        tracing::info!(editions, "published editions shipped with dxhub loaded");
    }
    Ok(())
}

async fn load_reference_if_new(store: &dyn Store) -> anyhow::Result<()> {
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

async fn serve(store: Arc<dyn Store>, addr: SocketAddr, web: &Web) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let config = web.config(listener.local_addr()?)?;
    let issuer = config.oidc.as_ref().map(|o| o.issuer.clone());
    let state = dxhub_web::AppState::with_oidc(store, config)
        .await
        .context("OpenID Connect sign-in (--oidc-issuer) cannot be set up")?;
    if let (Some(oidc), Some(issuer)) = (&state.oidc, issuer) {
        tracing::info!(
            %issuer,
            redirect_uri = %oidc.redirect_uri(),
            "OpenID Connect sign-in enabled"
        );
    }
    // Project the boundaries in the background so the first visitor does not wait.
    let maps = state.maps.clone();
    tokio::task::spawn_blocking(move || maps.warm());
    tracing::info!("serving on http://{}", listener.local_addr()?);
    dxhub_web::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled: the server polls it from a task of its own, and a
/// signal arriving before that would otherwise take the default action and kill the
/// process instead of stopping it cleanly.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let listen = |kind: tokio::signal::unix::SignalKind, name: &'static str| {
        let stream = tokio::signal::unix::signal(kind);
        if let Err(e) = &stream {
            tracing::error!(error = %e, signal = name, "cannot listen for the signal");
        }
        async move {
            match stream {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
    };
    #[cfg(unix)]
    let (interrupt, terminate) = (
        listen(tokio::signal::unix::SignalKind::interrupt(), "SIGINT"),
        listen(tokio::signal::unix::SignalKind::terminate(), "SIGTERM"),
    );
    #[cfg(not(unix))]
    let (interrupt, terminate) = (
        async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        },
        std::future::pending::<()>(),
    );
    async move {
        tokio::select! {
            () = interrupt => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

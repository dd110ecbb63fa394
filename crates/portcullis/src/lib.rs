//! Portcullis: a self-hosted authentication server.
//!
//! `Server::build` turns a configuration into a bound, migrated, ready server; `main` and the
//! black-box tests both start it this way.

pub mod access_tokens;
pub mod accounts;
pub mod admin;
pub mod audit;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod health;
pub mod http;
pub mod i18n;
pub mod mail;
pub mod maintenance;
pub mod metrics;
pub mod organizations;
pub mod pages;
pub mod password_reset;
pub mod rate_limit;
pub mod revocations;
pub mod router;
pub mod sessions;
pub mod settings;
pub mod sign_in;
pub mod social;
pub mod state;
pub mod tokens;
pub mod two_factor;
pub mod users;
pub mod verification;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use clock::{Clock, ManualClock};
pub use config::Config;
use crypto::passwords::PasswordHasher;
use db::Db;
use state::AppState;

pub struct Server {
    listener: TcpListener,
    state: AppState,
}

impl Server {
    /// Prepares storage (data directory, master secret, database and schema), starts the password
    /// hashing pool and binds the listening socket.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("listen: cannot bind {}: {e}", config.listen))?;
        Self::build_on(config, listener, Clock::system()).await
    }

    /// Like `build`, on a socket the caller has bound already (tests bind port 0 first so they
    /// know the URL to configure), reading time from `clock` (tests pass a manual one).
    pub async fn build_on(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("data_dir: cannot create {}: {e}", config.data_dir.display())
        })?;
        let master = crypto::master_key::master_key(&config)?;
        let db = Db::connect(&config).await?;
        db.migrate().await?;
        let passwords = PasswordHasher::start(&config.password_hashing)
            .map_err(|e| anyhow::anyhow!("password settings: {e}"))?;
        let state = AppState::new(config, clock, db, passwords, &master).await?;
        Ok(Self { listener, state })
    }

    /// The state of an installation that exists already, for the command line (`users`, `keys`,
    /// `mail`): it creates no data directory, database or key, and says where it looked when
    /// there is nothing there.
    pub async fn open_installation(config: Config, clock: Clock) -> anyhow::Result<AppState> {
        check_installation(&config)?;
        let master = crypto::master_key::master_key(&config)?;
        let db = Db::connect(&config).await?;
        let passwords = PasswordHasher::start(&crypto::settings::HashingSettings {
            hash_threads: 1,
            ..config.password_hashing.clone()
        })
        .map_err(|e| anyhow::anyhow!("password settings: {e}"))?;
        AppState::new(config, clock, db, passwords, &master).await
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state;
        let background = [
            tokio::spawn(maintenance::run(state.clone())),
            tokio::spawn(
                state
                    .revocations
                    .clone()
                    .run_poller(state.db.clone(), state.clock.clone()),
            ),
            tokio::spawn(mail::worker::run(state.db.clone(), state.mailer.clone())),
            tokio::spawn(
                Arc::clone(&state.session_cache).follow_revocations(state.revocations.clone()),
            ),
            tokio::spawn(Arc::clone(&state.social).discover_all()),
            tokio::spawn(metrics::serve_listener(state.clone())),
        ];
        metrics::install(&state);
        let stopping = Arc::clone(&state.stopping);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let app = router::build(state.clone());
        tracing::info!(
            "listening on http://{} (base URL {})",
            self.listener.local_addr()?,
            state.config.base_url
        );
        let reserved = usize::try_from(state.config.database_max_connections).unwrap_or(0);
        http::server::serve(self.listener, app, &state.config.server, reserved, shutdown).await;
        for task in background {
            task.abort();
        }
        state.db.pool.close().await;
        Ok(())
    }
}

/// Fails, saying where it looked, unless `portcullis serve` or `migrate` has set up an
/// installation there (its master key, and its SQLite database when that is the backend).
pub fn check_installation(config: &Config) -> anyhow::Result<()> {
    let dir = &config.data_dir;
    let key = dir.join("master.key");
    let mut missing = Vec::new();
    if config.secret.is_none() && !key.exists() {
        missing.push(key.display().to_string());
    }
    if config.is_sqlite() {
        use secrecy::ExposeSecret;
        let url = config.database_url.expose_secret();
        let path = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let path = path.split('?').next().unwrap_or_default();
        if !std::path::Path::new(path).exists() {
            missing.push(path.to_owned());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "no Portcullis installation found in {} (missing {}); run this where `portcullis serve` \
         runs, or point --config / PORTCULLIS_DATA_DIR / PORTCULLIS_DATABASE_URL at it",
        dir.display(),
        missing.join(", ")
    )
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

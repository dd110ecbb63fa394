//! The `portcullis` command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use portcullis::config::{self, LogFormat};
use portcullis::{Config, Server};

/// See the mimalloc entry in Cargo.toml: fewer instructions per allocation, and freed memory goes
/// back to the system instead of staying in per-thread arenas (with the options of
/// `tune_allocator`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's option number for `purge_delay` (`mi_option_t` in its v3 `mimalloc.h`), which
/// libmimalloc-sys names only for v2; the test below checks it against its default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes freed memory leave the process. By default mimalloc purges freed memory a second later,
/// but only when the process allocates again, and its 1 GiB arena (committed eagerly) is backed
/// by transparent huge pages, so a few live blocks kept whole 2 MiB pages resident: an idle
/// server held 57 MB, 35 MB of it huge pages of the arena (bench/README.md, "Memory").
///
/// mimalloc reads its arena options (`arena_eager_commit`, `allow_thp`) when it loads, before
/// `main`, so those two stay as they are and huge pages are refused for the process instead,
/// which is what its `allow_thp = 0` does at load (`PR_SET_THP_DISABLE`; the kernel checks it at
/// every page fault). The purge delay is read at every free and can be set here. A
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn tune_allocator() {
    // SAFETY: a plain store into mimalloc's option table, before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 0) };
    sqlite_allocates_through_mimalloc();
    #[cfg(target_os = "linux")]
    {
        let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
        // SAFETY: prctl with PR_SET_THP_DISABLE has no memory-safety preconditions. Failing (a
        // kernel before 3.15) only costs memory, so the result is not looked at.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) };
    }
}

/// SQLite (C) allocates with glibc's malloc unless told otherwise: every value it hands sqlx is
/// copied into a fresh block on a connection's worker thread, so a page of 100 members made glibc's
/// arena locks and consolidation a tenth of the SQLite threads' time (bench/README.md, "SQLite's
/// allocations"). This routes its allocations to mimalloc, the Rust side's allocator, and turns
/// off SQLite's allocation statistics, which take a global mutex around every allocation.
///
/// `sqlite3_config` only works before SQLite initialises (the first connection opens): `main`
/// calls this first. A later call is refused by SQLite (SQLITE_MISUSE) and changes nothing.
fn sqlite_allocates_through_mimalloc() {
    use libsqlite3_sys as ffi;
    static ONCE: std::sync::Once = std::sync::Once::new();
    // sqlite3_config is not thread-safe: once, whoever calls first.
    ONCE.call_once(|| {
        let methods = ffi::sqlite3_mem_methods {
            xMalloc: Some(sqlite_allocator::malloc),
            xFree: Some(sqlite_allocator::free),
            xRealloc: Some(sqlite_allocator::realloc),
            xSize: Some(sqlite_allocator::size),
            xRoundup: Some(sqlite_allocator::round_up),
            xInit: Some(sqlite_allocator::init),
            xShutdown: Some(sqlite_allocator::shutdown),
            pAppData: std::ptr::null_mut(),
        };
        // SAFETY: called before SQLite initialises (see above), once; SQLite copies the methods,
        // and the functions they point to live as long as the program.
        unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &raw const methods);
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as std::os::raw::c_int);
        }
    });
}

/// SQLite's allocation methods (`sqlite3_mem_methods`) over mimalloc.
mod sqlite_allocator {
    use std::os::raw::{c_int, c_void};

    fn bytes(size: c_int) -> usize {
        usize::try_from(size).unwrap_or(0)
    }

    pub unsafe extern "C" fn malloc(size: c_int) -> *mut c_void {
        // SAFETY: any size is valid; mimalloc's blocks are 16-byte aligned (SQLite needs 8).
        unsafe { libmimalloc_sys::mi_malloc(bytes(size)) }
    }

    pub unsafe extern "C" fn free(block: *mut c_void) {
        // SAFETY: SQLite frees only blocks of `malloc`/`realloc` (or null).
        unsafe { libmimalloc_sys::mi_free(block) }
    }

    pub unsafe extern "C" fn realloc(block: *mut c_void, size: c_int) -> *mut c_void {
        // SAFETY: as for `free`.
        unsafe { libmimalloc_sys::mi_realloc(block, bytes(size)) }
    }

    pub unsafe extern "C" fn size(block: *mut c_void) -> c_int {
        if block.is_null() {
            return 0;
        }
        // SAFETY: a live block of `malloc`/`realloc`.
        let usable = unsafe { libmimalloc_sys::mi_usable_size(block) };
        c_int::try_from(usable).unwrap_or(c_int::MAX)
    }

    /// What SQLite's own glue does: sizes in multiples of 8.
    pub unsafe extern "C" fn round_up(size: c_int) -> c_int {
        size.saturating_add(7) & !7
    }

    pub unsafe extern "C" fn init(_: *mut c_void) -> c_int {
        libsqlite3_sys::SQLITE_OK
    }

    pub unsafe extern "C" fn shutdown(_: *mut c_void) {}
}

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "Self-hosted authentication server: sign-up, sign-in, sessions.",
    long_about = "Self-hosted authentication server speaking the better-auth HTTP protocol under /api/auth.\n\n\
        With no settings, `portcullis serve` keeps everything in ./portcullis-data (SQLite) and listens \
        on 127.0.0.1:8080. Settings come from a TOML file (--config) and PORTCULLIS_* environment \
        variables, the environment winning; `portcullis settings` lists them all."
)]
struct Cli {
    /// TOML configuration file (its keys are those `portcullis settings` lists).
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server. Creates the data directory, database and secrets on first start and
    /// migrates the database; stops gracefully on SIGINT or SIGTERM.
    Serve,
    /// Create or upgrade the database schema, then exit (for deployments that migrate separately).
    Migrate,
    /// List every setting: its environment variable, the value in effect and where it came from
    /// (default, derived, file, environment; secrets masked), and its meaning.
    Settings {
        /// Print the README's settings table (Markdown) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Copy the SQLite database to FILE while the server keeps serving: a consistent, compacted
    /// snapshot (restore: stop the server, put the copy in place of the database file, start it).
    /// The master secret is not in the copy: keep it with your backups. PostgreSQL: use pg_dump.
    Backup {
        /// Where to write the copy; it must not exist yet.
        file: PathBuf,
    },
    /// Read the outbox: every message, delivered, pending, failed, or held for lack of SMTP.
    Mail {
        #[command(subcommand)]
        action: MailAction,
    },
    /// Manage the keys that sign access tokens.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Manage users: create (the first administrator too), list, show, roles, bans, passwords,
    /// sessions, deletion. Works beside running servers; needs an existing installation.
    Users {
        #[command(subcommand)]
        action: portcullis::admin::cli::UsersAction,
    },
    /// Keys application backends use for the admin API: create (printed once), list, revoke.
    ApiKeys {
        #[command(subcommand)]
        action: portcullis::admin::cli::ApiKeysAction,
    },
    /// Read the audit trail (sign-ins, admin actions, bans, impersonations), newest first.
    Audit {
        #[command(subcommand)]
        action: portcullis::admin::cli::AuditAction,
    },
    /// Time one password hash with the configured Argon2id parameters (used by bench/).
    #[command(hide = true)]
    BenchHash {
        #[arg(long, default_value_t = 20)]
        iterations: u32,
    },
}

#[derive(Subcommand)]
enum MailAction {
    /// The newest messages: id, status, attempts, recipient, subject.
    List {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message in full (text body; --html for the HTML one).
    Show {
        id: String,
        #[arg(long)]
        html: bool,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Make a new signing key. It signs at once (running servers pick it up within seconds);
    /// older keys stay published until every token they signed has expired.
    Rotate,
    /// List the published keys, newest (signing) first.
    List,
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    if let Command::Settings { markdown: true } = cli.command {
        print!("{}", config::markdown_table());
        return ExitCode::SUCCESS;
    }
    // Settings are checked before anything else, and their errors printed plainly: logging is not
    // set up yet (its format is a setting).
    let loaded = config::gather(cli.config.as_deref()).and_then(|mut values| {
        config::derive_defaults(&mut values)?;
        Ok((Config::from_values(values.clone())?, values))
    });
    let (config, values) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("portcullis: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Settings { .. } = cli.command {
        print_settings(&values);
        return ExitCode::SUCCESS;
    }
    init_logging(config.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("starting the async runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => {
                Server::build(config)
                    .await?
                    .run(portcullis::shutdown_signal())
                    .await
            }
            Command::Migrate => migrate(config).await,
            Command::Backup { file } => backup(config, &file).await,
            Command::Keys { action } => keys(config, action).await,
            Command::Mail { action } => mail(config, action).await,
            Command::Users { action } => {
                let state = Server::open_installation(config, portcullis::Clock::system()).await?;
                portcullis::admin::cli::run(&state, action).await
            }
            Command::ApiKeys { action } => {
                let state = Server::open_installation(config, portcullis::Clock::system()).await?;
                portcullis::admin::cli::api_keys(&state, action).await
            }
            Command::Audit { action } => {
                let state = Server::open_installation(config, portcullis::Clock::system()).await?;
                portcullis::admin::cli::audit(&state, action).await
            }
            Command::BenchHash { iterations } => bench_hash(&config, iterations).await,
            Command::Settings { .. } => unreachable!("handled before start-up"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once, through the log (stderr), so JSON logs carry it too.
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let db = portcullis::db::Db::connect(&config).await?;
    db.migrate().await?;
    Ok(())
}

async fn backup(config: Config, file: &std::path::Path) -> anyhow::Result<()> {
    let db = portcullis::db::Db::connect(&config).await?;
    db.backup_to(file).await?;
    let secret = match config.secret {
        Some(_) => "the PORTCULLIS_SECRET value".to_owned(),
        None => config.data_dir.join("master.key").display().to_string(),
    };
    println!(
        "copied the database to {}; keep the master secret ({secret}) with it: without it the \
         copy's signing keys cannot be opened",
        file.display()
    );
    Ok(())
}

async fn keys(config: Config, action: KeysAction) -> anyhow::Result<()> {
    use portcullis::crypto::keys::Purpose;
    portcullis::check_installation(&config)?;
    let db = portcullis::db::Db::connect(&config).await?;
    let sealer =
        portcullis::crypto::master_key::master_key(&config)?.sealer(Purpose::SealSigningKeys);
    let ring = portcullis::access_tokens::keys::KeyRing::start(
        db.clone(),
        sealer,
        config.access_tokens.algorithm,
        portcullis::Clock::system(),
    )
    .await?;
    if let KeysAction::Rotate = action {
        let kid = ring.rotate(config.access_tokens.access_ttl).await?;
        println!("new signing key: {kid}");
    }
    for key in
        portcullis::access_tokens::store::published_keys(&db, portcullis::Clock::system().now_ms())
            .await?
    {
        println!(
            "{}  {}  created {}",
            key.kid,
            key.alg,
            portcullis::http::timestamp::Timestamp(key.created_at).iso()
        );
    }
    Ok(())
}

async fn mail(config: Config, action: MailAction) -> anyhow::Result<()> {
    use portcullis::http::timestamp::Timestamp;
    use portcullis::mail::outbox;
    portcullis::check_installation(&config)?;
    let db = portcullis::db::Db::connect(&config).await?;
    match action {
        MailAction::List { limit } => {
            for m in outbox::list(&db, limit).await? {
                println!(
                    "{}  {:<7}  {} attempt(s)  {}  {}  {}{}",
                    m.id,
                    m.status,
                    m.attempts,
                    Timestamp(m.created_at).iso(),
                    m.to,
                    m.subject,
                    m.last_error.map(|e| format!("  [{e}]")).unwrap_or_default()
                );
            }
        }
        MailAction::Show { id, html } => {
            let m = outbox::find(&db, &id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no message {id}"))?;
            println!(
                "To: {}\nSubject: {}\nStatus: {} ({} attempts){}\n",
                m.to,
                m.subject,
                m.status,
                m.attempts,
                m.sent_at
                    .map(|at| format!(", sent {}", Timestamp(at).iso()))
                    .unwrap_or_default()
            );
            println!("{}", if html { m.html } else { m.text });
        }
    }
    Ok(())
}

async fn bench_hash(config: &Config, iterations: u32) -> anyhow::Result<()> {
    let hasher = portcullis::crypto::passwords::PasswordHasher::start(
        &portcullis::crypto::settings::HashingSettings {
            hash_threads: 1,
            ..config.password_hashing.clone()
        },
    )?;
    let hash = hasher.hash("warm-up password").await?;
    let started = Instant::now();
    for _ in 0..iterations {
        hasher.verify("benchmark password", &hash).await?;
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0 / f64::from(iterations.max(1));
    println!("{{\"ms_per_hash\": {ms:.3}, \"iterations\": {iterations}}}");
    Ok(())
}

fn print_settings(values: &portcullis::settings::Values) {
    for effective in config::describe_effective(values) {
        let setting = &effective.setting;
        println!("{}  ({})", setting.key, setting.env_name());
        println!("    = {}  [{}]", effective.value, effective.source.as_str());
        println!("    {}", setting.help());
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal, never in files or log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number is mimalloc v3's: a build with another major version, or a renumbered
    /// table, would set an unrelated option. It is recognised by its default.
    #[test]
    fn the_mimalloc_option_number_names_the_purge_delay() {
        // SAFETY: reads of mimalloc's version and option table.
        let (version, purge_delay) = unsafe {
            (
                libmimalloc_sys::mi_version(),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!(version / 10000, 3, "mimalloc {version} is not v3");
        assert_eq!(purge_delay, 1000, "1000 ms before freed memory is purged");

        // mimalloc read its options when it loaded, before main: our default still replaces it.
        tune_allocator();
        // SAFETY: as above.
        let tuned = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(tuned, 0);
    }

    /// Once routed (`tune_allocator` does it; not called here, as the test above reads the
    /// purge delay's default), SQLite's allocations are mimalloc's, and SQLite works on them: a
    /// database that allocates, grows and frees a lot of memory answers correctly.
    #[test]
    fn sqlite_allocates_through_mimalloc_and_still_works() {
        use libsqlite3_sys as ffi;
        sqlite_allocates_through_mimalloc();
        let mut methods = std::mem::MaybeUninit::<ffi::sqlite3_mem_methods>::zeroed();
        // SAFETY: GETMALLOC writes the current methods into the struct we own; the block is
        // freed by the methods that allocated it.
        let in_mimalloc = unsafe {
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETMALLOC, methods.as_mut_ptr());
            let methods = methods.assume_init();
            let block = methods.xMalloc.expect("SQLite has an allocator")(100);
            let in_mimalloc = libmimalloc_sys::mi_is_in_heap_region(block);
            methods.xFree.expect("and a free")(block);
            in_mimalloc
        };
        assert!(in_mimalloc, "SQLite's blocks come from mimalloc");

        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            use sqlx::{Connection, Row};
            let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
                .await
                .unwrap();
            sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
                .execute(&mut conn)
                .await
                .unwrap();
            for i in 0..2_000 {
                sqlx::query("INSERT INTO t (v) VALUES (printf('%.*c', $1, 'x'))")
                    .bind(i % 500 + 1)
                    .execute(&mut conn)
                    .await
                    .unwrap();
            }
            sqlx::query("DELETE FROM t WHERE id % 2 = 0")
                .execute(&mut conn)
                .await
                .unwrap();
            let row = sqlx::query("SELECT COUNT(*) AS n, SUM(LENGTH(v)) AS total FROM t")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(row.get::<i64, _>("n"), 1_000);
            // Odd ids 1, 3, … 1999 hold (id - 1) % 500 + 1 characters.
            let expected: i64 = (0..2_000).step_by(2).map(|i| i64::from(i % 500 + 1)).sum();
            assert_eq!(row.get::<i64, _>("total"), expected);
        });
    }
}

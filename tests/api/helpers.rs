//! Starts the real server on a random loopback port against a fresh database and talks HTTP to it.
//!
//! Every test runs twice through `both_backends!`: once on a new SQLite file, once on a new
//! PostgreSQL database on the test run's private cluster (see `services`), dropped when the test
//! ends, passed or failed. `PORTCULLIS_TEST_POSTGRES_URL` uses an existing server instead;
//! `PORTCULLIS_TEST_POSTGRES=off` runs only the SQLite half.

use std::collections::BTreeMap;

use portcullis::{Clock, Config, ManualClock, Server};
use rand::distr::{Alphanumeric, SampleString};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::oneshot;

pub use crate::services::{postgres_admin_url, redis_url};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Declares `sqlite` and `postgres` test modules that run each named `async fn(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::postgres_disabled() {
                        eprintln!("PORTCULLIS_TEST_POSTGRES=off: not running the PostgreSQL case");
                        return;
                    }
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn postgres_disabled() -> bool {
    std::env::var("PORTCULLIS_TEST_POSTGRES").is_ok_and(|v| v == "off")
}

/// A fresh database of the given kind, and the directory the server keeps its files in (its
/// master secret among them). Clones share both, as instances of one deployment do; a PostgreSQL
/// database is dropped when the last clone goes, also when the test fails.
#[derive(Clone)]
pub struct Storage {
    pub database_url: String,
    pub dir: std::sync::Arc<tempfile::TempDir>,
    _database: Option<std::sync::Arc<PostgresDatabase>>,
}

impl Storage {
    pub async fn fresh(backend: Backend) -> Self {
        // In the run directory (created on first use: blocking work, off the async threads).
        let base = tokio::task::spawn_blocking(crate::services::test_files_dir)
            .await
            .expect("test files dir");
        let dir = std::sync::Arc::new(tempfile::tempdir_in(base).expect("temp dir"));
        let (database_url, database) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Backend::Postgres => {
                let database = create_postgres_database().await;
                (database.url.clone(), Some(std::sync::Arc::new(database)))
            }
        };
        Self {
            database_url,
            dir,
            _database: database,
        }
    }
}

/// A database of its own on the tests' PostgreSQL server, dropped with this value.
pub struct PostgresDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

pub async fn create_postgres_database() -> PostgresDatabase {
    let name = format!(
        "portcullis_test_{}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 16)
            .to_lowercase()
    );
    // Starts the private cluster on first use: blocking work, off the async threads.
    let admin_url = tokio::task::spawn_blocking(postgres_admin_url)
        .await
        .expect("the tests' PostgreSQL starts");
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("connect to the tests' PostgreSQL at {admin_url}: {e}"));
    // AssertSqlSafe: `name` is the random lowercase alphanumeric name made above.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(admin_url).expect("PostgreSQL admin URL");
    url.set_path(&name);
    PostgresDatabase {
        url: url.to_string(),
        name,
        admin_url: admin_url.to_owned(),
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        // Drop runs inside a test's runtime (or while a failed test unwinds): do the async work
        // on a thread and runtime of its own, and wait for it, so the database is gone when the
        // test is. FORCE ends the connections that servers still hold.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test database {}: {e}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`; also the configured base URL unless a test set another.
    pub url: String,
    /// The origin a browser on the base URL would send.
    pub origin: String,
    pub storage: Storage,
    /// The server's clock: tests move it forward instead of sleeping.
    pub clock: ManualClock,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    stopped: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts a server with extra settings (dotted keys, as in the TOML file). `{port}` in a
    /// value becomes the port the server listens on (for a `base_url` with another host name).
    pub async fn spawn_with(backend: Backend, settings: &[(&str, &str)]) -> Self {
        Self::start(Storage::fresh(backend).await, settings).await
    }

    /// Starts a server on existing storage.
    pub async fn start(storage: Storage, settings: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().unwrap().port().to_string();
        let url = format!("http://127.0.0.1:{port}");
        let mut map: BTreeMap<String, String> = BTreeMap::new();
        map.insert("base_url".into(), url.clone());
        map.insert("data_dir".into(), storage.dir.path().display().to_string());
        map.insert("database_url".into(), storage.database_url.clone());
        map.insert("database_max_connections".into(), "8".into());
        map.insert("password.hash_threads".into(), "2".into());
        // Every request of a test comes from 127.0.0.1: limits high enough not to interfere with
        // tests about other things. Rate-limit tests set their own.
        for class in [
            "sign_in",
            "sign_up",
            "password_reset",
            "verification_mail",
            "token_refresh",
            "two_factor",
            "general",
        ] {
            map.insert(format!("rate_limits.{class}"), "100000/1m".into());
        }
        for (key, value) in settings {
            map.insert((*key).into(), value.replace("{port}", &port));
        }
        let config = Config::from_pairs(&map).expect("test config is valid");
        let origin = config.base_origin();
        let (server_clock, clock) = Clock::manual();
        let server = Server::build_on(config, listener, server_clock)
            .await
            .expect("server starts");
        let (stop, stopped_signal) = oneshot::channel::<()>();
        let stopped = tokio::spawn(server.run(async {
            let _ = stopped_signal.await;
        }));
        Self {
            url,
            origin,
            storage,
            clock,
            http: http_client()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
            stopped: Some(stopped),
        }
    }

    /// Stops the server gracefully and hands back its storage.
    pub async fn stop(mut self) -> Storage {
        self.shutdown().await;
        self.storage.clone()
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(stopped) = self.stopped.take() {
            stopped
                .await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}/api/auth{path}", self.url)
    }

    /// A direct connection to the server's database, for checks the API cannot show
    /// (what is stored at rest, what the sweeper deleted).
    pub async fn db(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        sqlx::AnyConnection::connect(&self.storage.database_url)
            .await
            .expect("db connect")
    }

    /// A GET outside `/api/auth` (`/healthz`, `/readyz`, `/.well-known/...`).
    pub async fn get_root(&self, path: &str) -> Reply {
        let response = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        Reply::from(response).await
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        Reply::from(
            auth.apply(self.http.get(self.api(path)), self)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn post(&self, path: &str, auth: Auth<'_>, body: Value) -> Reply {
        Reply::from(
            auth.apply(self.http.post(self.api(path)).json(&body), self)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/sign-up/email",
            Auth::None,
            json!({"name": "Test User", "email": email, "password": password}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/sign-in/email",
            Auth::None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Whether a session (or access) token currently opens a session, asked with Bearer.
    pub async fn session_alive(&self, token: &str) -> bool {
        !self
            .get("/get-session", Auth::Bearer(token))
            .await
            .body
            .is_null()
    }

    /// Signs in and answers the new session's token.
    pub async fn sign_in_token(&self, email: &str, password: &str) -> String {
        let reply = self.sign_in(email, password).await;
        assert_eq!(reply.status, 200, "sign-in failed: {}", reply.body);
        reply.body["token"].as_str().expect("token").to_owned()
    }

    /// `SELECT COUNT(*)` over `from_where` (e.g. "sessions WHERE user_id = 'x'") in the server's database.
    pub async fn count(&self, from_where: &str) -> i64 {
        let mut db = self.db().await;
        // AssertSqlSafe: `from_where` is SQL written by the test itself, never input from the server.
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT COUNT(*) AS n FROM {from_where}"
        )))
        .fetch_one(&mut db)
        .await
        .expect("count");
        sqlx::Row::get(&row, "n")
    }

    /// Runs the `portcullis` binary on this server's storage (as an operator on the same host would).
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS_DATA_DIR", self.storage.dir.path())
            .env("PORTCULLIS_DATABASE_URL", &self.storage.database_url)
            .output()
            .expect("run portcullis")
    }

    /// Signs up a new random user and answers (email, password, token).
    pub async fn new_user(&self) -> (String, String, String) {
        let email = random_email();
        let password = strong_password(20);
        let reply = self.sign_up(&email, &password).await;
        assert_eq!(reply.status, 200, "sign-up failed: {}", reply.body);
        let token = reply.body["token"].as_str().expect("token").to_owned();
        (email, password, token)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until `check` holds (at most 10 s), for work that the server's background tasks do
/// (sweeps, the mail worker, the revocation poller): they run on real time.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    within(std::time::Duration::from_secs(10), what, check).await
}

/// Waits until `check` holds, failing if that takes longer than `limit` (a promise of the
/// server's, such as revocations reaching every instance within a second or two).
pub async fn within<F, Fut>(limit: std::time::Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + limit;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Bearer(&'a str),
    /// The session cookie, with the base URL's Origin as a browser on it would send.
    Cookie(&'a str),
    /// The session cookie without any Origin header.
    CookieNoOrigin(&'a str),
}

impl Auth<'_> {
    fn apply(self, request: reqwest::RequestBuilder, app: &TestApp) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Cookie(token) => request
                .header("cookie", format!("{}={token}", cookie_name(app)))
                .header("origin", &app.origin),
            Auth::CookieNoOrigin(token) => {
                request.header("cookie", format!("{}={token}", cookie_name(app)))
            }
        }
    }
}

pub fn cookie_name(app: &TestApp) -> String {
    let base = "portcullis.session_token";
    if app.origin.starts_with("https://") {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("status {status}: body is not JSON: {text}"))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// The value of the `Set-Cookie` header that sets `name`, attributes included.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Asserts an error answer: status and `code`, with a non-empty message.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.body["code"], code,
            "unexpected code; body: {}",
            self.body
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.body
        );
    }
}

/// A client builder for talking plain HTTP to the test server. reqwest is built without a
/// crypto provider of its own (`rustls-no-provider`: portcullis-verify hands it a ring-based
/// TLS configuration), so a default client needs a process-wide one: ring, installed here.
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub fn random_email() -> String {
    format!(
        "user-{}@example.com",
        Alphanumeric
            .sample_string(&mut rand::rng(), 12)
            .to_lowercase()
    )
}

/// A random password of `len` code points that no strength meter objects to: letters from
/// several scripts, digits and symbols.
pub fn strong_password(len: usize) -> String {
    use rand::seq::IndexedRandom;
    const POOL: &str = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%&*+-=?@^_~αβγδεζηθλμπσφψωжзилмнпфцчшщ";
    let chars: Vec<char> = POOL.chars().collect();
    let mut rng = rand::rng();
    (0..len).map(|_| *chars.choose(&mut rng).unwrap()).collect()
}

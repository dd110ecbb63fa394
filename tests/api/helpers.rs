//! Starts the real server on a random loopback port against a fresh database and talks HTTP to it.
//!
//! Every test runs twice through `both_backends!`: once on a new SQLite file, once on a new
//! PostgreSQL database at 127.0.0.1:5432. PostgreSQL is required; set
//! `PORTCULLIS_TEST_POSTGRES=off` only to run the SQLite half on a machine without it.

use std::collections::BTreeMap;

use portcullis::{Clock, Config, ManualClock, Server};
use rand::distr::{Alphanumeric, SampleString};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sqlx::{AssertSqlSafe, Connection};
use tokio::sync::oneshot;

pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

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
/// master secret among them). Clones share both, as instances of one deployment do.
#[derive(Clone)]
pub struct Storage {
    pub database_url: String,
    pub dir: std::sync::Arc<tempfile::TempDir>,
}

impl Storage {
    pub async fn fresh(backend: Backend) -> Self {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
        let database_url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
            Backend::Postgres => create_postgres_database().await,
        };
        Self { database_url, dir }
    }
}

async fn create_postgres_database() -> String {
    let name = format!(
        "portcullis_test_{}",
        Alphanumeric
            .sample_string(&mut rand::rng(), 16)
            .to_lowercase()
    );
    let mut admin = sqlx::PgConnection::connect(POSTGRES_ADMIN_URL)
        .await
        .expect("PostgreSQL must be reachable at 127.0.0.1:5432 (user postgres, trust auth); .ci/run starts it");
    // AssertSqlSafe: `name` is the random lowercase alphanumeric name made above.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    format!("postgres://postgres@127.0.0.1:5432/{name}")
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

    /// Starts a server with extra settings (dotted keys, as in the TOML file).
    pub async fn spawn_with(backend: Backend, settings: &[(&str, &str)]) -> Self {
        Self::start(Storage::fresh(backend).await, settings).await
    }

    /// Starts a server on existing storage.
    pub async fn start(storage: Storage, settings: &[(&str, &str)]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().unwrap());
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
            map.insert((*key).into(), (*value).into());
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

/// Times `known` and `unknown` requests in back-to-back pairs (alternating which goes first, so
/// load from elsewhere falls on both halves alike), in five rounds, and asserts that the median
/// of the rounds' median differences is within `tolerance` of the median latency. A consistent
/// difference (a real leak) fails every round; one round of scheduler noise cannot fail the test
/// alone. `settle` is a pause before each request, for endpoints that answer first and work
/// afterwards (their work must not slow the next request).
pub async fn assert_same_timing<K, U, FK, FU>(
    pairs: usize,
    tolerance: f64,
    settle: std::time::Duration,
    known: K,
    unknown: U,
) where
    K: Fn() -> FK,
    U: Fn() -> FU,
    FK: std::future::Future<Output = ()>,
    FU: std::future::Future<Output = ()>,
{
    // One timing measurement at a time: two of them hashing at once would only measure each other.
    static MEASURING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _alone = MEASURING.lock().await;
    known().await; // warm-up
    unknown().await;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        rounds.push(timing_round(pairs, settle, &known, &unknown).await);
    }
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (difference, latency) = rounds[2];
    eprintln!(
        "timing rounds of {} (difference ms, latency ms): {:?}",
        std::thread::current().name().unwrap_or("?"),
        rounds
            .iter()
            .map(|(d, l)| (d * 1000.0, l * 1000.0))
            .collect::<Vec<_>>()
    );
    assert!(
        difference.abs() <= tolerance * latency,
        "known and unknown differ by {:.2} ms at the median (median latency {:.2} ms)",
        difference * 1000.0,
        latency * 1000.0
    );
}

/// One round: (median of known − unknown, median latency), in seconds.
async fn timing_round<K, U, FK, FU>(
    pairs: usize,
    settle: std::time::Duration,
    known: &K,
    unknown: &U,
) -> (f64, f64)
where
    K: Fn() -> FK,
    U: Fn() -> FU,
    FK: std::future::Future<Output = ()>,
    FU: std::future::Future<Output = ()>,
{
    let timed = |started: std::time::Instant| started.elapsed().as_secs_f64();
    let (mut differences, mut latencies) = (Vec::new(), Vec::new());
    for i in 0..pairs {
        let (k, u) = if i % 2 == 0 {
            tokio::time::sleep(settle).await;
            let started = std::time::Instant::now();
            known().await;
            let k = timed(started);
            tokio::time::sleep(settle).await;
            let started = std::time::Instant::now();
            unknown().await;
            (k, timed(started))
        } else {
            tokio::time::sleep(settle).await;
            let started = std::time::Instant::now();
            unknown().await;
            let u = timed(started);
            tokio::time::sleep(settle).await;
            let started = std::time::Instant::now();
            known().await;
            (timed(started), u)
        };
        differences.push(k - u);
        latencies.push(k.max(u));
    }
    differences.sort_by(f64::total_cmp);
    latencies.sort_by(f64::total_cmp);
    (differences[pairs / 2], latencies[pairs / 2])
}

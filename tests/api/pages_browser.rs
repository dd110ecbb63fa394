//! The hosted pages in a real browser: tests/browser/pages.test.mjs drives Debian's Chromium
//! (`chromium`, installed by scripts/test) with puppeteer-core against a server started here,
//! with the SMTP sink for the mails (reset, verification, invitation) and the loopback OpenID
//! Connect provider (tests/oidc-provider) behind a social button. Accessibility (axe-core, labels, lang, keyboard and
//! focus), CSP violations, JavaScript off and framing are checked in the browser.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::both_backends;
use crate::compat::serve_mailbox;
use crate::helpers::{Backend, TestApp};
use crate::smtp_sink::SmtpSink;
use crate::social::{self, Idp};

both_backends!(hosted_pages_in_chromium);

/// The README's "Where to run it" setups with the official client in Chromium
/// (tests/browser/sites.test.mjs): another site with the default cookies (dropped) and in token
/// mode, another site with `SameSite=None` (with third-party cookies allowed and blocked),
/// subdomains sharing the cookie. SQLite: the cookie
/// rules do not depend on the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_on_other_sites_in_chromium() {
    let chromium = chromium();
    ensure_node_packages();
    crate::compat::ensure_node_packages();
    let app_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let on = |host: &str| format!("http://{host}:{app_port}");
    let lax = TestApp::spawn_with(Backend::Sqlite, &[("trusted_origins", &on("localhost"))]).await;
    let none = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("base_url", "https://localhost:{port}"),
            ("session.cookie_same_site", "none"),
            ("trusted_origins", &on("127.0.0.1")),
        ],
    )
    .await;
    let subdomain = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("base_url", "http://auth.example.test:{port}"),
            ("session.cookie_domain", "example.test"),
            ("trusted_origins", &on("app.example.test")),
        ],
    )
    .await;
    let port_of = |app: &TestApp| app.url.rsplit(':').next().unwrap().to_owned();
    let env = vec![
        ("APP_PORT".to_owned(), app_port.to_string()),
        ("LAX_URL".to_owned(), lax.url.clone()),
        (
            "NONE_URL".to_owned(),
            format!("http://localhost:{}", port_of(&none)),
        ),
        (
            "SUBDOMAIN_URL".to_owned(),
            format!("http://auth.example.test:{}", port_of(&subdomain)),
        ),
        ("CHROMIUM".to_owned(), chromium),
    ];
    run_node_tests("sites.test.mjs", env, 5).await;
}

fn chromium() -> String {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is needed for the page tests: apt-get install chromium (scripts/test does)"
    );
    chromium
}

/// Runs one test file of tests/browser and asserts that all its `passed` tests passed.
async fn run_node_tests(file: &'static str, env: Vec<(String, String)>, passed: usize) {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "--test-concurrency=1", file])
            .current_dir(browser_dir())
            .envs(env)
            .output()
            .expect("node must be installed (Node 20) to run the browser tests")
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "browser tests failed:\n{report}");
    assert!(report.contains("# fail 0"), "{report}");
    assert!(report.contains(&format!("# pass {passed}")), "{report}");
}

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// `npm ci` once, if the pinned packages are not there yet.
fn ensure_node_packages() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let present = ["puppeteer-core", "axe-core"]
        .iter()
        .all(|p| browser_dir().join("node_modules").join(p).exists());
    if !*installed && !present {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(browser_dir())
            .status()
            .expect("npm must be installed (Node 20) to run the browser tests");
        assert!(status.success(), "npm ci in tests/browser failed");
    }
    *installed = true;
}

async fn hosted_pages_in_chromium(backend: Backend) {
    let chromium = chromium();
    ensure_node_packages();
    let sink = SmtpSink::start().await;
    let smtp_url = sink.url();
    let idp = Idp::start().await;
    let app = social::spawn(backend, &idp, &["acme"], &[("smtp_url", &smtp_url)]).await;
    let mailbox = serve_mailbox(sink).await;
    // The server's clock runs with the wall clock plus whatever a test moved it by (nothing here):
    // the browser test computes TOTP codes from its own wall clock plus this offset.
    let wall_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let clock_offset = (app.clock.now_ms() - wall_ms).to_string();
    let mut env = vec![
        ("PORTCULLIS_URL".to_owned(), app.url.clone()),
        ("PORTCULLIS_MAILBOX_URL".to_owned(), mailbox),
        ("PORTCULLIS_CLOCK_OFFSET_MS".to_owned(), clock_offset),
        ("CHROMIUM".to_owned(), chromium),
        ("PORTCULLIS_OIDC_ISSUER".to_owned(), idp.issuer.clone()),
    ];
    if let Ok(dir) = std::env::var("PORTCULLIS_TEST_SCREENSHOTS") {
        env.push(("SCREENSHOTS".to_owned(), dir));
    }
    run_node_tests("pages.test.mjs", env, 9).await;
}

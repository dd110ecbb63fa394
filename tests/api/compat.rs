//! Runs Node programs from tests/compat against a real server: the official better-auth browser
//! client, and an independent JOSE library verifying access tokens.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::smtp_sink::SmtpSink;

both_backends!(better_auth_client_flow);

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat")
}

/// Installs the pinned Node packages once (`npm ci`), if they are not there yet.
pub fn ensure_node_packages() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let present = ["better-auth", "jose", "otplib"]
        .iter()
        .all(|p| compat_dir().join("node_modules").join(p).exists());
    if *installed || present {
        *installed = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(compat_dir())
        .status()
        .expect("npm must be installed (Node 20) to run the compatibility tests");
    assert!(status.success(), "npm ci in tests/compat failed");
    *installed = true;
}

pub struct NodeRun {
    pub success: bool,
    pub stdout: String,
    /// stdout and stderr together, for failure messages.
    pub report: String,
}

/// Runs `node <args>` in tests/compat (packages installed first) with extra environment.
pub async fn run_node_args(args: &[&str], env: &[(&str, &str)]) -> NodeRun {
    ensure_node_packages();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(&args)
            .current_dir(compat_dir())
            .envs(env)
            .env_remove("COMPAT_TARGET")
            .output()
            .expect("node must be installed (Node 20) to run the compatibility tests")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    NodeRun {
        success: output.status.success(),
        stdout,
        report,
    }
}

/// Runs one script of tests/compat.
pub async fn run_node(script: &str, env: &[(&str, &str)]) -> NodeRun {
    run_node_args(&[script], env).await
}

/// Serves what the SMTP sink received as JSON, for the Node test to read its links.
pub async fn serve_mailbox(sink: SmtpSink) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mails", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/mails",
        axum::routing::get(move || {
            let mails: Vec<_> = sink
                .mails()
                .into_iter()
                .map(|m| serde_json::json!({"to": m.to, "subject": m.subject, "text": m.text}))
                .collect();
            async move { axum::Json(mails) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn better_auth_client_flow(backend: Backend) {
    let sink = SmtpSink::start().await;
    let smtp_url = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", &smtp_url)]).await;
    let mailbox = serve_mailbox(sink).await;
    let run = run_node_args(
        &["--test", "compat.test.mjs"],
        &[
            ("PORTCULLIS_URL", &app.url),
            ("PORTCULLIS_MAILBOX_URL", &mailbox),
        ],
    )
    .await;
    assert!(
        run.success,
        "better-auth client flow failed:\n{}",
        run.report
    );
    assert!(run.report.contains("# fail 0"), "{}", run.report);
    assert!(
        run.report.contains("# skipped 0"),
        "the email steps must run: {}",
        run.report
    );
}

//! Runs Node programs from tests/compat against a real server: the official better-auth browser
//! client, and an independent JOSE library verifying access tokens.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::both_backends;
use crate::helpers::{Backend, TestApp};

both_backends!(better_auth_client_flow);

fn compat_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/compat")
}

/// Installs the pinned Node packages once (`npm ci`), if they are not there yet.
fn ensure_node_packages() {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let mut installed = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let present = ["better-auth", "jose"]
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

async fn better_auth_client_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let run = run_node_args(
        &["--test", "compat.test.mjs"],
        &[("PORTCULLIS_URL", &app.url)],
    )
    .await;
    assert!(
        run.success,
        "better-auth client flow failed:\n{}",
        run.report
    );
    assert!(run.report.contains("# fail 0"), "{}", run.report);
}

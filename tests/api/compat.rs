//! Runs the official better-auth browser client (tests/compat, Node) against a real server.

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
    if *installed || compat_dir().join("node_modules/better-auth").exists() {
        *installed = true;
        return;
    }
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(compat_dir())
        .status()
        .expect("npm must be installed (Node 20) to run the compatibility test");
    assert!(status.success(), "npm ci in tests/compat failed");
    *installed = true;
}

async fn better_auth_client_flow(backend: Backend) {
    ensure_node_packages();
    let app = TestApp::spawn(backend).await;
    let url = app.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .args(["--test", "compat.test.mjs"])
            .current_dir(compat_dir())
            .env("PORTCULLIS_URL", url)
            .env_remove("COMPAT_TARGET")
            .output()
            .expect("node must be installed (Node 20) to run the compatibility test")
    })
    .await
    .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "better-auth client flow failed:\n{report}"
    );
    assert!(report.contains("# fail 0"), "{report}");
}

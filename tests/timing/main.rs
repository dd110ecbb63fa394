//! Timing equality: a known and an unknown account must cost the same to probe (ASVS 6.3.8).
//!
//! These measurements run in their own test binary, which cargo runs after (never beside) the
//! black-box suite, and one at a time (`ALONE`): other tests hashing passwords on the same cores
//! would only measure each other.

// The shared helpers have more than these tests use.
#![allow(dead_code, unused_imports)]

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/services.rs"]
mod services;
#[path = "../api/smtp_sink.rs"]
mod smtp_sink;

use std::time::Duration;

use serde_json::json;

use helpers::{random_email, strong_password, Auth, Backend, TestApp};

both_backends!(
    sign_in_timing_does_not_tell_known_from_unknown_emails,
    sign_up_timing_does_not_tell_taken_from_free_emails,
    password_reset_timing_does_not_tell_known_from_unknown_emails,
);

/// One measurement at a time, setup included: the server under test has the cores to itself.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn sign_in_timing_does_not_tell_known_from_unknown_emails(backend: Backend) {
    let _alone = ALONE.lock().await;
    // Hundreds of failures on two addresses: a throttle window of a millisecond keeps them unthrottled.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("throttle.free_failures", "100"),
            ("throttle.window", "1ms"),
        ],
    )
    .await;
    let (email, _, _) = app.new_user().await;
    let attempt = |address: String| {
        let app = &app;
        async move {
            assert_eq!(
                app.sign_in(&address, &strong_password(16)).await.status,
                401
            )
        }
    };
    // Like an attacker probing: the same known address against the same unknown one, over and over
    // (each side then updates its own throttle row, rather than one side inserting new ones).
    let unknown = random_email();
    assert_same_timing(
        60,
        0.10,
        Duration::ZERO,
        || attempt(email.clone()),
        || attempt(unknown.clone()),
    )
    .await;
}

async fn sign_up_timing_does_not_tell_taken_from_free_emails(backend: Backend) {
    let _alone = ALONE.lock().await;
    // Mail is held in the outbox here: delivering it would only add the test's own SMTP server to
    // the measurement (the mails are sent after the answer either way).
    let app = TestApp::spawn_with(backend, &[("email.require_verification", "true")]).await;
    let taken = random_email();
    assert_eq!(app.sign_up(&taken, &strong_password(16)).await.status, 200);
    let attempt = |address: String| {
        let app = &app;
        async move {
            assert_eq!(
                app.sign_up(&address, &strong_password(16)).await.status,
                200
            )
        }
    };
    assert_same_timing(
        40,
        0.10,
        Duration::from_millis(30),
        || attempt(taken.clone()),
        || attempt(random_email()),
    )
    .await;
}

async fn password_reset_timing_does_not_tell_known_from_unknown_emails(backend: Backend) {
    let _alone = ALONE.lock().await;
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let smtp = sink.url();
    let app = TestApp::spawn_with(backend, &[("smtp_url", smtp.as_str())]).await;
    let (known, _, _) = app.new_user().await;
    let request = |address: String| {
        let app = &app;
        async move {
            assert_eq!(
                app.post(
                    "/request-password-reset",
                    Auth::None,
                    json!({"email": address})
                )
                .await
                .status,
                200
            )
        }
    };
    let unknown = random_email();
    assert_same_timing(
        60,
        0.10,
        Duration::from_millis(30),
        || request(known.clone()),
        || request(unknown.clone()),
    )
    .await;
}

/// Times `known` and `unknown` requests in back-to-back pairs (alternating which goes first, so
/// load from elsewhere falls on both halves alike), in five rounds, and asserts that the median
/// of the rounds' median differences is within `tolerance` of the median latency. A consistent
/// difference (a real leak) fails every round; one round of scheduler noise cannot fail the test
/// alone. `settle` is a pause before each request, for endpoints that answer first and work
/// afterwards (their work must not slow the next request).
async fn assert_same_timing<K, U, FK, FU>(
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

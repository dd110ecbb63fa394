//! Prometheus metrics: the exposition is valid text format (read by an independent parser,
//! `prometheus-parse`), every series moves when what it counts happens, and the endpoint is
//! closed without its token.
//!
//! The recorder belongs to the test process, shared by every server in it: counters only grow,
//! so tests compare with a scrape taken before (never with zero).

use std::time::Duration;

use prometheus_parse::{Scrape, Value};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{eventually, strong_password, Auth, Backend, TestApp};
use crate::smtp_sink::SmtpSink;

both_backends!(
    metrics_need_the_token_and_their_counters_move,
    a_separate_listener_serves_metrics,
    hashing_is_timed_and_its_queue_shows,
    the_outbox_backlog_and_failed_deliveries_show,
    refusals_reuse_and_the_revocation_feed_are_counted,
);

const TOKEN: &str = "scrape-secret-0123456789";

fn scrape(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid Prometheus text")
}

/// The value of the first sample of `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => 0.0,
        })
        .next()
        .unwrap_or(0.0)
}

/// A server with metrics on the main address behind `TOKEN`, and `extra` settings.
async fn spawn_measured(backend: Backend, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![("metrics.token", TOKEN)];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(backend, &settings).await
}

/// The current exposition, parsed.
async fn measure(app: &TestApp) -> Scrape {
    let (status, text) = get_metrics(app, Some(TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    scrape(&text)
}

async fn get_metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut request = app.http.get(format!("{}/metrics", app.url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn metrics_need_the_token_and_their_counters_move(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("metrics.token", "scrape-secret-0123456789")]).await;
    assert_eq!(get_metrics(&app, None).await.0, 401);
    assert_eq!(get_metrics(&app, Some("wrong")).await.0, 401);

    let (email, password, _) = app.new_user().await;
    app.sign_in_token(&email, &password).await;
    let (status, text) = get_metrics(&app, Some("scrape-secret-0123456789")).await;
    assert_eq!(status, 200);
    let before = scrape(&text);
    let route = [("route", "/api/auth/sign-in/email"), ("status", "200")];
    let sign_ins = value(&before, "http_requests_total", &route);
    let started = value(
        &before,
        "sign_ins_total",
        &[("method", "password"), ("outcome", "started")],
    );
    assert!(sign_ins >= 1.0 && started >= 1.0, "{text}");
    assert!(
        value(&before, "http_request_duration_seconds_count", &route) >= 1.0,
        "{text}"
    );
    assert!(value(&before, "db_pool_connections", &[]) >= 1.0, "{text}");

    app.sign_in_token(&email, &password).await;
    app.post(
        "/sign-in/email",
        Auth::None,
        json!({"email": email, "password": strong_password(20)}),
    )
    .await;
    let after = scrape(&get_metrics(&app, Some("scrape-secret-0123456789")).await.1);
    // Other tests in this process share the recorder: counters only grow.
    assert!(value(&after, "http_requests_total", &route) >= sign_ins + 1.0);
    assert!(
        value(
            &after,
            "sign_ins_total",
            &[("method", "password"), ("outcome", "started")]
        ) >= started + 1.0
    );
    assert!(value(&after, "sign_in_failures_total", &[]) >= 1.0);
    // Session checks count cache hits and misses; refreshes count rotations.
    let (_, _, token) = app.new_user().await;
    app.get("/get-session", Auth::Bearer(&token)).await;
    app.get("/get-session", Auth::Bearer(&token)).await;
    let grant = crate::tokens::password_grant(&app, &email, &password).await;
    let refresh_token = grant.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::tokens::refresh(&app, &refresh_token).await.status,
        200
    );
    let later = scrape(&get_metrics(&app, Some("scrape-secret-0123456789")).await.1);
    assert!(value(&later, "session_cache_lookups_total", &[("result", "hit")]) >= 1.0);
    assert!(value(&later, "session_cache_lookups_total", &[("result", "miss")]) >= 1.0);
    assert!(value(&later, "refresh_rotations_total", &[]) >= 1.0);
    // Routes are patterns, never raw paths (which could hold tokens).
    assert!(!after.samples.iter().any(|s| s
        .labels
        .get("route")
        .is_some_and(|r| r.contains("reset-password/") && !r.contains('{'))));
}

async fn a_separate_listener_serves_metrics(backend: Backend) {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_with(backend, &[("metrics.listen", &listen)]).await;
    app.new_user().await;
    // The main address serves none without a token setting.
    assert_eq!(get_metrics(&app, None).await.0, 404);
    let url = format!("http://{listen}/metrics");
    crate::helpers::eventually("the metrics listener answers", || {
        let (http, url) = (app.http.clone(), url.clone());
        async move { http.get(&url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    let text = app
        .http
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parsed = scrape(&text);
    assert!(
        value(
            &parsed,
            "http_requests_total",
            &[("route", "/api/auth/sign-up/email")]
        ) >= 1.0,
        "{text}"
    );
}

async fn hashing_is_timed_and_its_queue_shows(backend: Backend) {
    // One slow hashing thread (about half a second a hash), so sign-ups queue behind each other.
    let app = spawn_measured(
        backend,
        &[
            ("password.hash_threads", "1"),
            ("password.argon2_iterations", "30"),
        ],
    )
    .await;
    let before = measure(&app).await;
    let hashed = value(&before, "password_hash_duration_seconds_count", &[]);
    let waited = value(&before, "password_hash_queue_wait_seconds_count", &[]);
    let sign_ups: Vec<_> = (0..5)
        .map(|_| {
            let (http, url) = (app.http.clone(), app.api("/sign-up/email"));
            tokio::spawn(async move {
                http.post(url)
                    .json(
                        &json!({"name": "Q", "email": crate::helpers::random_email(),
                        "password": strong_password(20)}),
                    )
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        })
        .collect();
    eventually("sign-ups wait in the hashing queue", || async {
        value(&measure(&app).await, "password_hash_queue_depth", &[]) >= 1.0
    })
    .await;
    for sign_up in sign_ups {
        assert_eq!(sign_up.await.unwrap(), 200);
    }
    let after = measure(&app).await;
    assert_eq!(value(&after, "password_hash_queue_depth", &[]), 0.0);
    assert!(value(&after, "password_hash_duration_seconds_count", &[]) >= hashed + 5.0);
    assert!(value(&after, "password_hash_queue_wait_seconds_count", &[]) >= waited + 5.0);
    assert!(value(&after, "password_hash_duration_seconds_sum", &[]) > 0.0);
}

async fn the_outbox_backlog_and_failed_deliveries_show(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.set_up(false);
    let app = crate::email::spawn_with_mail(backend, &sink, &[("metrics.token", TOKEN)]).await;
    let before = measure(&app).await;
    let failures =
        |s: &Scrape, gave_up| value(s, "mail_delivery_failures_total", &[("gave_up", gave_up)]);
    let (email, _, _) = app.new_user().await;
    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    eventually("a refused delivery is counted", || async {
        failures(&measure(&app).await, "false") >= failures(&before, "false") + 1.0
    })
    .await;
    app.clock.advance(Duration::from_secs(90));
    let waiting = measure(&app).await;
    assert_eq!(value(&waiting, "mail_outbox_pending", &[]), 1.0);
    assert!(value(&waiting, "mail_outbox_oldest_pending_seconds", &[]) >= 90.0);
    assert_eq!(value(&waiting, "mail_outbox_failed", &[]), 0.0);

    // After its last attempt a message is given up on and counted as failed.
    let mut db = app.db().await;
    sqlx::query("UPDATE mail_outbox SET attempts = 19 WHERE status = 'pending'")
        .execute(&mut db)
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(600));
    eventually("the last attempt gives up", || async {
        let now = measure(&app).await;
        failures(&now, "true") >= failures(&before, "true") + 1.0
            && value(&now, "mail_outbox_failed", &[]) == 1.0
            && value(&now, "mail_outbox_pending", &[]) == 0.0
            && value(&now, "mail_outbox_oldest_pending_seconds", &[]) == 0.0
    })
    .await;

    // The SMTP server is back (first, as the mail client keeps its connections): mail goes.
    sink.set_up(true);
    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    sink.wait_for(&email, 1).await;
    eventually("the delivery is counted", || async {
        let now = measure(&app).await;
        value(&now, "mail_sent_total", &[]) >= value(&before, "mail_sent_total", &[]) + 1.0
            && value(&now, "mail_outbox_pending", &[]) == 0.0
    })
    .await;
}

async fn refusals_reuse_and_the_revocation_feed_are_counted(backend: Backend) {
    let app = spawn_measured(
        backend,
        &[
            ("rate_limits.password_reset", "1/15m"),
            ("throttle.free_failures", "1"),
        ],
    )
    .await;
    let (email, password, token) = app.new_user().await;
    let before = measure(&app).await;
    let counted = |s: &Scrape, name| value(s, name, &[]);
    let refusals = |s: &Scrape| {
        value(
            s,
            "rate_limit_refusals_total",
            &[("class", "password_reset")],
        )
    };

    // A rate-limit refusal, by class.
    for _ in 0..2 {
        app.post(
            "/request-password-reset",
            Auth::None,
            json!({"email": email}),
        )
        .await;
    }
    // A throttle refusal: one free failure, then a delay the (stopped) clock never ends.
    let wrong = json!({"email": email, "password": strong_password(20)});
    app.post("/sign-in/email", Auth::None, wrong.clone()).await;
    app.post("/sign-in/email", Auth::None, wrong)
        .await
        .assert_error(429, "TOO_MANY_REQUESTS");
    app.clock.advance(Duration::from_secs(3600));
    // A refresh token used twice, the second time late: a rotation, then a reuse detection.
    let grant = crate::tokens::password_grant(&app, &email, &password).await;
    let refresh_token = grant.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        crate::tokens::refresh(&app, &refresh_token).await.status,
        200
    );
    app.clock.advance(Duration::from_secs(60)); // past the retry grace
    assert_ne!(
        crate::tokens::refresh(&app, &refresh_token).await.status,
        200
    );
    // A signed-out session goes out on the revocation feed.
    app.post("/sign-out", Auth::Bearer(&token), json!({})).await;

    eventually("every counter moved", || async {
        let after = measure(&app).await;
        refusals(&after) >= refusals(&before) + 1.0
            && counted(&after, "throttle_refusals_total")
                >= counted(&before, "throttle_refusals_total") + 1.0
            && counted(&after, "refresh_rotations_total")
                >= counted(&before, "refresh_rotations_total") + 1.0
            && counted(&after, "refresh_reuse_detections_total")
                >= counted(&before, "refresh_reuse_detections_total") + 1.0
            && counted(&after, "revocation_feed_lag_seconds_count")
                >= counted(&before, "revocation_feed_lag_seconds_count") + 1.0
            && counted(&after, "revocation_feed_cursor") >= 1.0
    })
    .await;
}

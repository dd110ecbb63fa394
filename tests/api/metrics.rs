//! Prometheus metrics: the exposition is valid text format (read by an independent parser,
//! `prometheus-parse`), counters move, and the endpoint is closed without its token.

use prometheus_parse::{Scrape, Value};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{strong_password, Auth, Backend, TestApp};

both_backends!(
    metrics_need_the_token_and_their_counters_move,
    a_separate_listener_serves_metrics,
);

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

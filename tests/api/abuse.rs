//! Abuse protection: rate limits (in memory and shared through Redis), client addresses behind
//! proxies, account throttling, response headers. (Equal timing for known and unknown accounts is
//! measured apart, in tests/timing.)

use std::time::{Duration, Instant};

use serde_json::json;

use crate::both_backends;
use crate::helpers::{
    eventually, random_email, redis_url, strong_password, Auth, Backend, Reply, TestApp,
};

both_backends!(
    each_limit_class_refuses_with_429_and_retry_after,
    sign_in_is_limited_per_account_across_addresses,
    forwarding_headers_count_only_from_trusted_proxies,
    two_instances_share_one_limit_through_redis,
    an_unreachable_redis_still_limits_each_instance,
    a_frozen_redis_costs_at_most_one_deadline_and_is_rejoined,
    slow_connections_are_cut_off_and_slow_nobody,
    with_every_connection_slot_taken_the_server_still_serves,
    the_hundred_and_first_consecutive_failure_is_impossible,
    throttling_is_progressive_and_says_nothing_about_accounts,
    throttling_ends_with_its_window_or_a_password_reset,
    security_headers_on_every_answer,
);

fn redis_prefix() -> String {
    format!("test-{}", random_email().replace(['@', '.'], "-"))
}

/// A POST with a chosen `X-Forwarded-For`.
async fn post_from(
    app: &TestApp,
    path: &str,
    forwarded_for: &str,
    body: serde_json::Value,
) -> Reply {
    Reply::from(
        app.http
            .post(app.api(path))
            .header("x-forwarded-for", forwarded_for)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn assert_limited(reply: &Reply) {
    reply.assert_error(429, "TOO_MANY_REQUESTS");
    let seconds: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=86_400).contains(&seconds), "Retry-After {seconds}");
}

async fn each_limit_class_refuses_with_429_and_retry_after(backend: Backend) {
    let settings = [
        ("rate_limits.sign_in", "3/1m"),
        ("rate_limits.sign_up", "2/1m"),
        ("rate_limits.password_reset", "2/1m"),
        ("rate_limits.verification_mail", "2/1m"),
        ("rate_limits.token_refresh", "3/1m"),
        ("rate_limits.general", "4/1m"),
    ];
    let app = TestApp::spawn_with(backend, &settings).await;
    let (email, password, token) = app.new_user().await;
    // sign_up: one used by new_user.
    app.sign_up(&random_email(), &strong_password(16)).await;
    assert_limited(&app.sign_up(&random_email(), &strong_password(16)).await);
    for _ in 0..3 {
        app.sign_in(&random_email(), &strong_password(16)).await;
    }
    assert_limited(&app.sign_in(&email, &password).await);
    for class_path in ["/request-password-reset", "/send-verification-email"] {
        for _ in 0..2 {
            assert_eq!(
                app.post(class_path, Auth::None, json!({"email": random_email()}))
                    .await
                    .status,
                200
            );
        }
        assert_limited(
            &app.post(class_path, Auth::None, json!({"email": random_email()}))
                .await,
        );
    }
    for _ in 0..3 {
        app.post(
            "/token",
            Auth::None,
            json!({"grant_type": "refresh_token", "refresh_token": "x"}),
        )
        .await;
    }
    assert_limited(
        &app.post(
            "/token",
            Auth::None,
            json!({"grant_type": "refresh_token", "refresh_token": "x"}),
        )
        .await,
    );
    for _ in 0..4 {
        app.get("/get-session", Auth::Bearer(&token)).await;
    }
    assert_limited(&app.get("/get-session", Auth::Bearer(&token)).await);
    // Health probes are never limited.
    for _ in 0..10 {
        assert_eq!(app.get("/ok", Auth::None).await.status, 200);
    }
}

async fn sign_in_is_limited_per_account_across_addresses(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("trusted_proxies", "127.0.0.1/32"),
            ("rate_limits.sign_in", "3/1m"),
        ],
    )
    .await;
    let (email, password, _) = app.new_user().await;
    for i in 0..3 {
        let reply = post_from(
            &app,
            "/sign-in/email",
            &format!("198.51.100.{i}"),
            json!({"email": email, "password": password}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    // A fourth address, same account: the account's own limit applies.
    assert_limited(
        &post_from(
            &app,
            "/sign-in/email",
            "198.51.100.99",
            json!({"email": email, "password": password}),
        )
        .await,
    );
    // Another account from that address is fine.
    let (other, other_password, _) = app.new_user().await;
    let reply = post_from(
        &app,
        "/sign-in/email",
        "198.51.100.99",
        json!({"email": other, "password": other_password}),
    )
    .await;
    assert_eq!(reply.status, 200);
}

async fn forwarding_headers_count_only_from_trusted_proxies(backend: Backend) {
    // Untrusted peer: rotating X-Forwarded-For and Forwarded never changes the key.
    let app = TestApp::spawn_with(backend, &[("rate_limits.sign_up", "2/1m")]).await;
    for i in 0..2 {
        let reply = post_from(
            &app,
            "/sign-up/email",
            &format!("203.0.113.{i}"),
            json!({"name": "A", "email": random_email(), "password": strong_password(16)}),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    assert_limited(
        &post_from(
            &app,
            "/sign-up/email",
            "203.0.113.77",
            json!({"name": "A", "email": random_email(), "password": strong_password(16)}),
        )
        .await,
    );
    let forwarded = Reply::from(
        app.http
            .post(app.api("/sign-up/email"))
            .header("forwarded", "for=192.0.2.1")
            .json(&json!({"name": "A", "email": random_email(), "password": strong_password(16)}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_limited(&forwarded);

    // Trusted proxy: each forwarded client has its own bucket, through either header.
    let proxied = TestApp::spawn_with(
        backend,
        &[
            ("rate_limits.sign_up", "2/1m"),
            ("trusted_proxies", "127.0.0.1/32"),
        ],
    )
    .await;
    for i in 0..6 {
        let reply = post_from(
            &proxied,
            "/sign-up/email",
            &format!("203.0.113.{i}"),
            json!({"name": "A", "email": random_email(), "password": strong_password(16)}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    for _ in 0..2 {
        let reply = Reply::from(
            proxied
                .http
                .post(proxied.api("/sign-up/email"))
                .header("forwarded", "for=\"[2001:db8::7]:443\"")
                .json(
                    &json!({"name": "A", "email": random_email(), "password": strong_password(16)}),
                )
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    // 203.0.113.0 has used one of its two: one more passes, the next is refused.
    let sign_up = || json!({"name": "A", "email": random_email(), "password": strong_password(16)});
    assert_eq!(
        post_from(&proxied, "/sign-up/email", "203.0.113.0", sign_up())
            .await
            .status,
        200
    );
    assert_limited(&post_from(&proxied, "/sign-up/email", "203.0.113.0", sign_up()).await);
}

async fn two_instances_share_one_limit_through_redis(backend: Backend) {
    let prefix = redis_prefix();
    // The test run's own redis-server, started on first use (blocking, so off the async threads).
    let redis = tokio::task::spawn_blocking(redis_url).await.unwrap();
    let settings = [
        ("redis_url", redis),
        ("rate_limits.redis_prefix", prefix.as_str()),
        ("rate_limits.sign_up", "3/1m"),
    ];
    let a = TestApp::spawn_with(backend, &settings).await;
    let b = TestApp::start(a.storage.clone(), &settings).await;
    assert_eq!(
        a.sign_up(&random_email(), &strong_password(16))
            .await
            .status,
        200
    );
    assert_eq!(
        b.sign_up(&random_email(), &strong_password(16))
            .await
            .status,
        200
    );
    assert_eq!(
        a.sign_up(&random_email(), &strong_password(16))
            .await
            .status,
        200
    );
    // Three together: the fourth is refused on either instance.
    assert_limited(&b.sign_up(&random_email(), &strong_password(16)).await);
    assert_limited(&a.sign_up(&random_email(), &strong_password(16)).await);
}

async fn an_unreachable_redis_still_limits_each_instance(backend: Backend) {
    // Nothing listens on port 1: the server starts, and limits hold per instance.
    let app = TestApp::spawn_with(
        backend,
        &[
            ("redis_url", "redis://127.0.0.1:1"),
            ("rate_limits.sign_up", "2/1m"),
        ],
    )
    .await;
    let started = Instant::now();
    assert_eq!(
        app.sign_up(&random_email(), &strong_password(16))
            .await
            .status,
        200
    );
    assert_eq!(
        app.sign_up(&random_email(), &strong_password(16))
            .await
            .status,
        200
    );
    assert_limited(&app.sign_up(&random_email(), &strong_password(16)).await);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an unreachable Redis must not stall requests"
    );
    assert_eq!(app.get("/ok", Auth::None).await.status, 200);
}

/// A Redis that hangs (the connection stays open, nothing comes back) must not stall requests:
/// the first check that misses its deadline opens the breaker, later checks are decided locally
/// at once, and a background probe rejoins Redis when it answers again. (Each request is allowed
/// a second here, ten times the deadline: the old code stalled them for several seconds.)
async fn a_frozen_redis_costs_at_most_one_deadline_and_is_rejoined(backend: Backend) {
    use crate::proxy::{FaultyProxy, Mode};
    let redis = tokio::task::spawn_blocking(redis_url).await.unwrap();
    let upstream = url::Url::parse(redis)
        .unwrap()
        .socket_addrs(|| None)
        .unwrap()[0];
    let proxy = FaultyProxy::start(&upstream.to_string()).await;
    let prefix = redis_prefix();
    let proxied = proxy.url_for(redis);
    let app = TestApp::spawn_with(
        backend,
        &[
            ("redis_url", proxied.as_str()),
            ("rate_limits.redis_prefix", prefix.as_str()),
            // A long interval per request keeps the counter's key alive through the test.
            ("rate_limits.general", "1000/1d"),
        ],
    )
    .await;
    let key = format!("{prefix}:rl:general:ip:127.0.0.1");
    let direct = redis::Client::open(redis)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let counted = |direct: &redis::aio::MultiplexedConnection| {
        let key = key.clone();
        let mut direct = direct.clone();
        async move {
            redis::cmd("GET")
                .arg(&key)
                .query_async::<Option<i64>>(&mut direct)
                .await
                .unwrap()
        }
    };
    assert!(app.get("/get-session", Auth::None).await.status == 200);
    let before = counted(&direct).await.expect("the limit is kept in Redis");

    proxy.set(Mode::Freeze);
    // Waves of concurrent requests over three seconds: none may wait on the frozen Redis for
    // longer than the breaker allows.
    for _ in 0..6 {
        let wave = (0..20).map(|_| async {
            let started = Instant::now();
            let status = app.get("/get-session", Auth::None).await.status;
            (status, started.elapsed())
        });
        for (status, took) in futures::future::join_all(wave).await {
            assert_eq!(status, 200);
            assert!(
                took < Duration::from_secs(1),
                "a request waited {took:?} for Redis"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        counted(&direct).await,
        Some(before),
        "nothing reached Redis while frozen"
    );

    proxy.set(Mode::Forward);
    eventually("the limiter counts in Redis again", || async {
        app.get("/get-session", Auth::None).await;
        counted(&direct).await != Some(before)
    })
    .await;
}

/// A connection that sends a byte a second until it is closed; answers how long that took.
async fn drip(addr: std::net::SocketAddr) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(b"GET /api/auth/ok HTTP/1.1\r\n").await;
    let mut buffer = [0u8; 256];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {} // a 408 or similar before the close
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                if stream.write_all(b"X").await.is_err() {
                    return started.elapsed();
                }
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never closed");
    }
}

fn socket_of(app: &TestApp) -> std::net::SocketAddr {
    app.url.trim_start_matches("http://").parse().unwrap()
}

/// Slowloris: 200 connections sending their headers a byte a second are closed within the header
/// timeout, and meanwhile other clients are served as usual: well before the slow ones are cut
/// off (a client queued behind them would wait the whole header timeout).
async fn slow_connections_are_cut_off_and_slow_nobody(backend: Backend) {
    const HEADER_TIMEOUT: Duration = Duration::from_secs(4);
    let app = TestApp::spawn_with(backend, &[("server.header_timeout", "4s")]).await;
    let addr = socket_of(&app);
    let slow: Vec<_> = (0..200).map(|_| tokio::spawn(drip(addr))).collect();
    let (_, _, token) = app.new_user().await;
    for _ in 0..20 {
        let started = Instant::now();
        assert!(app.session_alive(&token).await);
        assert!(
            started.elapsed() < HEADER_TIMEOUT / 2,
            "a client waited {:?} beside the slow ones",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for held in futures::future::join_all(slow).await {
        let held = held.unwrap();
        assert!(
            held < HEADER_TIMEOUT + Duration::from_secs(4),
            "a slow connection was held {held:?} (header timeout {HEADER_TIMEOUT:?})"
        );
    }
}

/// At the connection limit new clients wait in the listen queue (they are not refused, and the
/// server does not stop accepting); idle connections that hold every slot are closed after the
/// header timeout, and the waiting client is served.
async fn with_every_connection_slot_taken_the_server_still_serves(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("server.header_timeout", "1s"),
            ("server.max_connections", "10"),
        ],
    )
    .await;
    let addr = socket_of(&app);
    let mut idle = Vec::new();
    for _ in 0..10 {
        idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    // A fresh client (not the test's pooled connections) gets through once the idle ones go.
    let fresh = crate::helpers::http_client().build().unwrap();
    let started = Instant::now();
    let reply = fresh.get(app.api("/ok")).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "served after {:?}",
        started.elapsed()
    );
    drop(idle);
    assert_eq!(app.get("/ok", Auth::None).await.status, 200);
}

fn throttle_settings<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![("throttle.max_delay", "0s")];
    settings.extend_from_slice(extra);
    settings
}

async fn the_hundred_and_first_consecutive_failure_is_impossible(backend: Backend) {
    let app = TestApp::spawn_with(backend, &throttle_settings(&[])).await;
    let (email, password, _) = app.new_user().await;
    for i in 0..95 {
        let reply = app.sign_in(&email, &strong_password(16)).await;
        assert_eq!(reply.status, 401, "failure {}: {}", i + 1, reply.body);
    }
    // The last five failures raced by twenty parallel guesses: exactly five are even tried.
    let guesses = (0..20).map(|_| {
        let app = &app;
        let email = email.clone();
        async move { app.sign_in(&email, &strong_password(16)).await.status }
    });
    let statuses = futures::future::join_all(guesses).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        15,
        "{statuses:?}"
    );
    // Now even the right password is refused: no 101st attempt.
    assert_limited(&app.sign_in(&email, &password).await);
}

async fn throttling_is_progressive_and_says_nothing_about_accounts(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("throttle.free_failures", "3")]).await;
    let (email, _, _) = app.new_user().await;
    let unknown = random_email();
    for address in [&email, &unknown] {
        for _ in 0..3 {
            app.sign_in(address, &strong_password(16))
                .await
                .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
        }
    }
    // After the free failures every attempt must wait, doubling; known and unknown alike.
    let known_reply = app.sign_in(&email, &strong_password(16)).await;
    let unknown_reply = app.sign_in(&unknown, &strong_password(16)).await;
    assert_limited(&known_reply);
    assert_eq!(
        (known_reply.status, known_reply.body.clone()),
        (unknown_reply.status, unknown_reply.body.clone())
    );
    assert_eq!(
        known_reply.headers["retry-after"],
        unknown_reply.headers["retry-after"]
    );
    app.clock.advance(Duration::from_millis(1100));
    app.sign_in(&email, &strong_password(16))
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let waiting = app.sign_in(&email, &strong_password(16)).await;
    assert_limited(&waiting);
    assert_eq!(waiting.headers["retry-after"], "2", "the wait doubled");
}

async fn throttling_ends_with_its_window_or_a_password_reset(backend: Backend) {
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let smtp = sink.url();
    let settings = throttle_settings(&[
        ("throttle.max_failures", "3"),
        ("throttle.window", "24h"),
        ("smtp_url", smtp.as_str()),
    ]);
    let app = TestApp::spawn_with(backend, &settings).await;
    let (email, password, _) = app.new_user().await;
    for _ in 0..3 {
        app.sign_in(&email, &strong_password(16)).await;
    }
    assert_limited(&app.sign_in(&email, &password).await);
    app.clock.advance(Duration::from_secs(23 * 3600));
    assert_limited(&app.sign_in(&email, &password).await);
    app.clock.advance(Duration::from_secs(3600 + 1));
    assert_eq!(
        app.sign_in(&email, &password).await.status,
        200,
        "the owner is back after the window"
    );

    for _ in 0..3 {
        app.sign_in(&email, &strong_password(16)).await;
    }
    assert_limited(&app.sign_in(&email, &password).await);
    app.post(
        "/request-password-reset",
        Auth::None,
        json!({"email": email}),
    )
    .await;
    let mail = sink.wait_for(&email, 1).await.remove(0);
    let link =
        crate::smtp_sink::link_in(&mail.text, &format!("{}/api/auth/reset-password/", app.url));
    let token = crate::smtp_sink::reset_token_of(&link);
    let new_password = strong_password(18);
    assert_eq!(
        app.post(
            "/reset-password",
            Auth::None,
            json!({"token": token, "newPassword": new_password})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        app.sign_in(&email, &new_password).await.status,
        200,
        "a reset lifts the throttle at once"
    );
}

async fn security_headers_on_every_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for reply in [
        app.get("/ok", Auth::None).await,
        app.get("/nowhere", Auth::None).await,
        app.post("/sign-in/email", Auth::None, json!({})).await,
    ] {
        assert_eq!(reply.headers["x-frame-options"], "DENY");
        assert_eq!(
            reply.headers["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert!(
            reply.headers.get("strict-transport-security").is_none(),
            "no HSTS over http"
        );
    }
    let https = TestApp::spawn_with(backend, &[("base_url", "https://auth.example.com")]).await;
    let reply = https.get("/ok", Auth::None).await;
    assert_eq!(
        reply.headers["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

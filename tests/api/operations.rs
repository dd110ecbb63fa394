//! Health, readiness, the OpenAPI document, unknown routes, response headers.

use std::collections::BTreeSet;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{Auth, Backend, TestApp};

both_backends!(
    health_endpoints_answer,
    openapi_lists_every_endpoint,
    openapi_names_the_error_codes_of_each_endpoint,
    unknown_routes_and_methods_get_json_errors,
    every_answer_has_a_request_id_and_safe_headers,
    cors_allows_only_trusted_origins,
    cors_allows_the_extra_headers_an_operator_lists,
);

async fn health_endpoints_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/ok", Auth::None).await.body, json!({"ok": true}));
    let get = |path: &'static str| app.get_root(path);
    assert_eq!(get("/healthz").await.body, json!({"status": "ok"}));
    let ready = get("/readyz").await;
    assert_eq!((ready.status, ready.body), (200, json!({"status": "ok"})));

    if backend == Backend::Postgres {
        // Take the database away: readiness must say so, liveness must not.
        let name = app
            .storage
            .database_url
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let mut admin =
            <sqlx::PgConnection as sqlx::Connection>::connect(crate::helpers::postgres_admin_url())
                .await
                .unwrap();
        // AssertSqlSafe: `name` is the test database's own name, made by the helpers.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {name} WITH (FORCE)"
        )))
        .execute(&mut admin)
        .await
        .unwrap();
        get("/readyz")
            .await
            .assert_error(503, "DATABASE_UNREACHABLE");
        assert_eq!(get("/healthz").await.status, 200);
        // Requests that need the database fail cleanly, without internals. Past a second idle,
        // the pooled connections the drop ended are checked and replaced on checkout, so the
        // request meets the missing database itself (a connection that broke in use would
        // answer 503 instead).
        tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
        let reply = app.sign_in("ada@example.com", "whatever-password").await;
        reply.assert_error(500, "INTERNAL_SERVER_ERROR");
        assert_eq!(reply.body["message"], "Internal server error");
    }
}

async fn openapi_lists_every_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let reply = app.get("/openapi.json", Auth::None).await;
    assert_eq!(reply.status, 200);
    assert!(reply.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths: BTreeSet<String> = reply.body["paths"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: BTreeSet<String> = [
        "/api/auth/sign-up/email",
        "/api/auth/sign-in/email",
        "/api/auth/update-user",
        "/api/auth/change-password",
        "/api/auth/delete-user",
        "/api/auth/get-session",
        "/api/auth/sign-out",
        "/api/auth/list-sessions",
        "/api/auth/revoke-session",
        "/api/auth/revoke-sessions",
        "/api/auth/revoke-other-sessions",
        "/api/auth/ok",
        "/api/auth/token",
        "/api/auth/jwks",
        "/api/auth/revoke",
        "/api/auth/introspect",
        "/api/auth/revocations",
        "/api/auth/revocations/stream",
        "/api/auth/send-verification-email",
        "/api/auth/verify-email",
        "/api/auth/change-email",
        "/api/auth/request-password-reset",
        "/api/auth/reset-password/{token}",
        "/api/auth/reset-password",
        "/api/auth/two-factor/enable",
        "/api/auth/two-factor/get-totp-uri",
        "/api/auth/two-factor/verify-totp",
        "/api/auth/two-factor/verify-backup-code",
        "/api/auth/two-factor/generate-backup-codes",
        "/api/auth/two-factor/disable",
        "/api/auth/sign-in/social",
        "/api/auth/callback/{provider}",
        "/api/auth/link-social",
        "/api/auth/list-accounts",
        "/api/auth/unlink-account",
        "/api/auth/account-info",
        "/api/auth/error",
        "/api/auth/get-access-token",
        "/api/auth/admin/audit-log",
        "/api/auth/admin/ban-user",
        "/api/auth/admin/create-user",
        "/api/auth/admin/get-user",
        "/api/auth/admin/has-permission",
        "/api/auth/admin/impersonate-user",
        "/api/auth/admin/list-user-sessions",
        "/api/auth/admin/list-users",
        "/api/auth/admin/remove-user",
        "/api/auth/admin/revoke-user-session",
        "/api/auth/admin/revoke-user-sessions",
        "/api/auth/admin/set-role",
        "/api/auth/admin/set-user-password",
        "/api/auth/admin/stop-impersonating",
        "/api/auth/admin/unban-user",
        "/api/auth/admin/update-user",
        "/healthz",
        "/readyz",
        "/api/auth/organization/accept-invitation",
        "/api/auth/organization/add-team-member",
        "/api/auth/organization/cancel-invitation",
        "/api/auth/organization/check-slug",
        "/api/auth/organization/create-role",
        "/api/auth/organization/create-team",
        "/api/auth/organization/create",
        "/api/auth/organization/delete-role",
        "/api/auth/organization/delete",
        "/api/auth/organization/get-active-member-role",
        "/api/auth/organization/get-active-member",
        "/api/auth/organization/get-full-organization",
        "/api/auth/organization/get-invitation",
        "/api/auth/organization/get-role",
        "/api/auth/organization/has-permission",
        "/api/auth/organization/invite-member",
        "/api/auth/organization/leave",
        "/api/auth/organization/list-invitations",
        "/api/auth/organization/list-members",
        "/api/auth/organization/list-roles",
        "/api/auth/organization/list-team-members",
        "/api/auth/organization/list-teams",
        "/api/auth/organization/list-user-invitations",
        "/api/auth/organization/list-user-teams",
        "/api/auth/organization/list",
        "/api/auth/organization/reject-invitation",
        "/api/auth/organization/remove-member",
        "/api/auth/organization/remove-team-member",
        "/api/auth/organization/remove-team",
        "/api/auth/organization/set-active-team",
        "/api/auth/organization/set-active",
        "/api/auth/organization/update-member-role",
        "/api/auth/organization/update-role",
        "/api/auth/organization/update-team",
        "/api/auth/organization/update",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(paths, expected);
    // OpenAPI 3.1 requires a description on every response (utoipa 6 leaves empty ones out).
    for (path, item) in reply.body["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Some(responses) = operation.get("responses").and_then(|r| r.as_object()) else {
                continue;
            };
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path} {status} has no description"
                );
            }
        }
    }
    let sign_up = &reply.body["paths"]["/api/auth/sign-up/email"]["post"];
    assert!(sign_up["requestBody"].is_object());
    assert!(sign_up["responses"]["422"].is_object());
    // Every documented route answers something other than 404 / 405.
    for path in &expected {
        let item = &reply.body["paths"][path];
        let url = format!("{}{path}", app.url);
        let response = if item.get("get").is_some() {
            app.http.get(url).send().await.unwrap()
        } else {
            app.http.post(url).json(&json!({})).send().await.unwrap()
        };
        assert!(
            ![404, 405].contains(&response.status().as_u16()),
            "{path} is documented but not served"
        );
    }
}

/// The error codes in the document come from the one list in `error.rs`: every code the API can
/// answer is documented on the endpoints that answer it, with the `{message, code}` body.
async fn openapi_names_the_error_codes_of_each_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = app.get("/openapi.json", Auth::None).await.body;
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let described = |path: &str, method: &str, status: &str| {
        let response = &doc["paths"][path][method]["responses"][status];
        assert_eq!(
            response["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{method} {path} {status}"
        );
        response["description"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let sign_in = "/api/auth/sign-in/email";
    assert!(described(sign_in, "post", "401").contains("INVALID_EMAIL_OR_PASSWORD"));
    let forbidden = described(sign_in, "post", "403");
    for code in [
        "EMAIL_NOT_VERIFIED",
        "INVALID_ORIGIN",
        "INVALID_CALLBACK_URL",
    ] {
        assert!(forbidden.contains(code), "{code} missing: {forbidden}");
    }
    assert!(described(sign_in, "post", "429").contains("TOO_MANY_REQUESTS"));
    assert!(described(sign_in, "post", "415").contains("UNSUPPORTED_MEDIA_TYPE"));
    // A code some endpoints answer with another status is documented with that status.
    let verify = described("/api/auth/verify-email", "get", "401");
    assert!(verify.contains("INVALID_TOKEN") && verify.contains("TOKEN_EXPIRED"));
    assert!(described("/api/auth/reset-password", "post", "400").contains("INVALID_TOKEN"));
    assert!(described("/readyz", "get", "503").contains("DATABASE_UNREACHABLE"));

    // Query parameters are declared in the query (client generators build URLs from this).
    let location = |path: &str, name: &str| {
        doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["in"].clone())
            .unwrap_or_else(|| panic!("{path} lacks parameter {name}"))
    };
    assert_eq!(location("/api/auth/revocations", "since"), "query");
    assert_eq!(location("/api/auth/verify-email", "token"), "query");
    assert_eq!(location("/api/auth/verify-email", "callbackURL"), "query");
    assert_eq!(
        location("/api/auth/reset-password/{token}", "token"),
        "path"
    );
    assert_eq!(
        location("/api/auth/reset-password/{token}", "callbackURL"),
        "query"
    );

    let text = doc.to_string();
    for code in portcullis::error::ErrorCode::ALL {
        use portcullis::error::ErrorCode::{MethodNotAllowed, NotFound};
        // Answered by the router for routes and methods that do not exist.
        if [NotFound, MethodNotAllowed].contains(code) {
            continue;
        }
        assert!(
            text.contains(code.as_str()),
            "{} is answered but no endpoint documents it",
            code.as_str()
        );
    }
}

async fn unknown_routes_and_methods_get_json_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.get("/no-such-endpoint", Auth::None)
        .await
        .assert_error(404, "NOT_FOUND");
    app.get("/sign-in/email", Auth::None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    app.post("/get-session", Auth::None, json!({}))
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
}

async fn every_answer_has_a_request_id_and_safe_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, token) = app.new_user().await;
    for reply in [
        app.get("/get-session", Auth::Bearer(&token)).await,
        app.get("/nowhere", Auth::None).await,
    ] {
        assert!(reply
            .headers
            .get("x-request-id")
            .is_some_and(|v| v.len() >= 16));
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
    }
}

async fn cors_allows_only_trusted_origins(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("trusted_origins", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        let request = app
            .http
            .request(reqwest::Method::OPTIONS, app.api("/sign-in/email"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type");
        async move { request.send().await.unwrap() }
    };
    let allowed = preflight("https://app.example.com").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let refused = preflight("https://evil.example").await;
    assert!(refused
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

/// `cors.allowed_headers` joins the headers a preflight allows; without it an app's own header
/// is not in the answer, so the browser would refuse to send it.
async fn cors_allows_the_extra_headers_an_operator_lists(backend: Backend) {
    let allowed_headers = |app: &TestApp| {
        let request = app
            .http
            .request(reqwest::Method::OPTIONS, app.api("/get-session"))
            .header("origin", "https://app.example.com")
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "x-client-version");
        async move {
            let reply = request.send().await.unwrap();
            assert_eq!(
                reply.headers()["access-control-allow-origin"],
                "https://app.example.com"
            );
            reply.headers()["access-control-allow-headers"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
        }
    };
    let plain =
        TestApp::spawn_with(backend, &[("trusted_origins", "https://app.example.com")]).await;
    let headers = allowed_headers(&plain).await;
    assert!(headers.contains("content-type") && headers.contains("authorization"));
    assert!(!headers.contains("x-client-version"), "{headers}");

    let extended = TestApp::spawn_with(
        backend,
        &[
            ("trusted_origins", "https://app.example.com"),
            ("cors.allowed_headers", "X-Client-Version, x-tenant"),
        ],
    )
    .await;
    let headers = allowed_headers(&extended).await;
    for name in [
        "content-type",
        "authorization",
        "x-client-version",
        "x-tenant",
    ] {
        assert!(headers.contains(name), "{name} missing: {headers}");
    }
}

/// A PostgreSQL that hangs (a frozen route) or refuses (stopped) must not hang clients or leak
/// driver messages: readiness says 503 within about a second, requests that need the database
/// answer `503 SERVICE_UNAVAILABLE` with `Retry-After` after `database_timeout`, and everything
/// recovers by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_or_refusing_postgres_gets_503_and_recovery() {
    use crate::proxy::{FaultyProxy, Mode};
    use std::time::{Duration, Instant};
    if crate::helpers::postgres_disabled() {
        return;
    }
    let storage = crate::helpers::Storage::fresh(Backend::Postgres).await;
    let upstream = url::Url::parse(&storage.database_url).unwrap();
    let proxy = FaultyProxy::start(&format!(
        "{}:{}",
        upstream.host_str().unwrap(),
        upstream.port().unwrap()
    ))
    .await;
    let mut proxied = storage.clone();
    proxied.database_url = proxy.url_for(&storage.database_url);
    let app = TestApp::start(proxied, &[("database_timeout", "1s")]).await;
    let (email, password, _) = app.new_user().await;

    for fault in [Mode::Freeze, Mode::Refuse] {
        proxy.set(fault);
        let started = Instant::now();
        app.get_root("/readyz")
            .await
            .assert_error(503, "DATABASE_UNREACHABLE");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{fault:?}: readiness took {:?}",
            started.elapsed()
        );
        let started = Instant::now();
        let reply = app.sign_in(&email, &password).await;
        reply.assert_error(503, "SERVICE_UNAVAILABLE");
        assert_eq!(reply.headers["retry-after"], "5");
        assert!(
            !reply.body["message"]
                .as_str()
                .unwrap()
                .contains("does not exist"),
            "no driver message: {}",
            reply.body
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{fault:?}: the request waited {:?}",
            started.elapsed()
        );

        proxy.set(Mode::Forward);
        crate::helpers::eventually("recovery", || async {
            app.sign_in(&email, &password).await.status == 200
        })
        .await;
        assert_eq!(app.get_root("/readyz").await.status, 200);
    }
}

/// A pooled PostgreSQL connection that died while idle (the database restarted, a proxy or an
/// operator ended it) is found out by the check on checkout and replaced: no request fails for
/// it. Connections in use are not checked on checkout (a round trip per statement), so the check
/// must still cover the idle ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_died_while_idle_is_replaced_unnoticed() {
    use sqlx::Executor;
    let Some((app, token)) = postgres_app_with_a_signed_in_user().await else {
        return;
    };
    // Several connections in the pool: concurrent reads each take one.
    let reads = (0..8).map(|_| app.get("/list-sessions", Auth::Bearer(&token)));
    for reply in futures::future::join_all(reads).await {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let mut admin = app.db().await;
    let ended = admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .await
        .unwrap();
    assert!(
        ended.rows_affected() >= 2,
        "the server's connections were ended"
    );
    // Idle past the check's threshold (a second).
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    for _ in 0..8 {
        let reply = app.get("/list-sessions", Auth::Bearer(&token)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
}

/// A request whose transaction PostgreSQL picks as a deadlock's victim is told to retry (503 with
/// `Retry-After`), not answered 500, and loses nothing: the retry succeeds. The deadlock is real:
/// a name change locks the user's row, and its trigger then waits for the organization's row,
/// which another connection holds while it waits for the user's row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_victim_is_told_to_retry_and_the_retry_succeeds() {
    use sqlx::Connection;
    let Some((app, token)) = postgres_app_with_a_signed_in_user().await else {
        return;
    };
    let created = app
        .post(
            "/organization/create",
            Auth::Bearer(&token),
            json!({"name": "Locks", "slug": format!("locks-{}", rand::random::<u32>())}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let organization = created.body["id"].as_str().unwrap().to_owned();
    let session = app.get("/get-session", Auth::Bearer(&token)).await;
    let user_id = session.body["user"]["id"].as_str().unwrap().to_owned();

    let mut other = app.db().await;
    // This connection must not be the victim: it checks for deadlocks only after 10 s.
    sqlx::query("SET deadlock_timeout = '10s'")
        .execute(&mut other)
        .await
        .unwrap();
    let mut other = other.begin().await.unwrap();
    sqlx::query("UPDATE organizations SET name = name WHERE id = $1")
        .bind(&organization)
        .execute(&mut *other)
        .await
        .unwrap();
    // The request waits first (for the organization's row); its backend checks for a deadlock
    // once, a second (deadlock_timeout) after its wait began, and becomes the victim.
    let rename = app.post(
        "/update-user",
        Auth::Bearer(&token),
        json!({"name": "Renamed"}),
    );
    let close_the_cycle = async {
        let watcher = sqlx::AnyPool::connect(&app.storage.database_url)
            .await
            .unwrap();
        crate::helpers::eventually("the rename waits for the organization's row", || {
            let watcher = watcher.clone();
            async move {
                let waiting: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM pg_stat_activity
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&watcher)
                .await
                .unwrap();
                waiting == 1
            }
        })
        .await;
        sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
            .bind(&user_id)
            .execute(&mut *other)
            .await
            .unwrap();
        other.rollback().await.unwrap();
    };
    let (refused, ()) = tokio::join!(rename, close_the_cycle);
    refused.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(refused.headers["retry-after"], "5");
    let mut db = app.db().await;
    let name = stored_name(&mut db, &user_id).await;
    assert_ne!(name, "Renamed", "the victim's change was rolled back");
    let retried = app
        .post(
            "/update-user",
            Auth::Bearer(&token),
            json!({"name": "Renamed"}),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(stored_name(&mut db, &user_id).await, "Renamed");
}

async fn stored_name(db: &mut sqlx::AnyConnection, user_id: &str) -> String {
    sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(db)
        .await
        .unwrap()
}

/// A server on a fresh PostgreSQL database and a signed-in user's bearer token; `None` when the
/// PostgreSQL half of the tests is off.
async fn postgres_app_with_a_signed_in_user() -> Option<(TestApp, String)> {
    if crate::helpers::postgres_disabled() {
        return None;
    }
    let app = TestApp::spawn(Backend::Postgres).await;
    let (email, password, _) = app.new_user().await;
    let token = app.sign_in_token(&email, &password).await;
    Some((app, token))
}

/// SQLite on a full disk: writes answer 503 and lose nothing, reads go on, and when space comes
/// back the database is intact and writable. Needs a small tmpfs (mounting needs root; without
/// it the test says so and checks nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let mount = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("cannot mount a tmpfs here (not root?): the full-disk test checks nothing");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _unmount = Unmount(mount.path().to_owned());
    let mut storage = crate::helpers::Storage::fresh(Backend::Sqlite).await;
    let db_path = mount.path().join("portcullis.db");
    storage.database_url = format!("sqlite://{}", db_path.display());
    let app = TestApp::start(storage, &[]).await;
    let (_, _, token) = app.new_user().await;

    // Fill the disk to the last byte.
    let filler = mount.path().join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while file.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while file.write_all(&byte).is_ok() {
            byte[0] = byte[0].wrapping_add(1);
        }
        let _ = file.sync_all();
    }
    let email = crate::helpers::random_email();
    let refused = app
        .sign_up(&email, &crate::helpers::strong_password(20))
        .await;
    refused.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(app.session_alive(&token).await, "reads go on");

    std::fs::remove_file(&filler).unwrap();
    let password = crate::helpers::strong_password(20);
    assert_eq!(
        app.sign_up(&email, &password).await.status,
        200,
        "writable again"
    );
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
    let mut db = app.db().await;
    let check: String = sqlx::Row::get(
        &sqlx::query("PRAGMA integrity_check")
            .fetch_one(&mut db)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(check, "ok");
}

//! Health, readiness, the OpenAPI document, unknown routes, response headers.

use std::collections::BTreeSet;

use serde_json::json;

use crate::both_backends;
use crate::helpers::{Auth, Backend, Reply, TestApp};

both_backends!(
    health_endpoints_answer,
    openapi_lists_every_endpoint,
    openapi_names_the_error_codes_of_each_endpoint,
    unknown_routes_and_methods_get_json_errors,
    every_answer_has_a_request_id_and_safe_headers,
    cors_allows_only_trusted_origins,
);

async fn health_endpoints_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.get("/ok", Auth::None).await.body, json!({"ok": true}));
    let get = |path: &str| {
        let url = format!("{}{path}", app.url);
        let http = app.http.clone();
        async move { Reply::from(http.get(url).send().await.unwrap()).await }
    };
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
            <sqlx::PgConnection as sqlx::Connection>::connect(crate::helpers::POSTGRES_ADMIN_URL)
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
        // Requests that need the database fail cleanly, without internals.
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
        "/healthz",
        "/readyz",
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

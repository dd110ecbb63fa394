//! User management: the `/admin/*` endpoints (better-auth's admin plugin shapes), bans at every
//! way in, the last-admin rule, and the `portcullis users` command.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{random_email, strong_password, within, Auth, Backend, Reply, TestApp};
use crate::tokens::{password_grant, refresh};

both_backends!(
    an_operator_creates_the_first_admin_from_the_command_line,
    commands_find_no_installation_in_an_empty_directory,
    every_admin_endpoint_checks_its_statement,
    roles_from_settings_grant_what_they_list,
    list_users_searches_filters_sorts_and_pages_a_thousand_users,
    list_users_refuses_unknown_columns_and_operators,
    a_ban_ends_every_session_and_refuses_every_way_in,
    an_expired_ban_lifts_itself,
    nobody_bans_demotes_or_removes_the_last_admin_nor_themselves,
    users_are_created_read_updated_and_removed,
    set_user_password_ends_sessions_and_tells_the_user,
    sessions_are_listed_without_secrets_and_revoked_by_id,
    has_permission_answers_for_the_session_user_and_an_api_key,
    an_api_key_is_rate_limited_on_its_own,
    impersonation_needs_permission_a_reason_and_a_fresh_session,
    an_impersonated_session_is_short_restricted_and_cannot_chain,
    stop_impersonating_gives_the_browser_back_the_admins_session,
    the_audit_log_is_filtered_paged_and_kept_for_its_retention,
    api_keys_are_shown_once_scoped_expiring_and_revocable,
    a_ban_stops_a_sign_in_waiting_for_its_second_factor,
    the_official_admin_client_works_unchanged,
);

/// Signs up a user, makes them `role` in the database, and answers (user id, a fresh session
/// token): signed in after the change, so no cached session holds the old role.
pub(crate) async fn user_with_role(app: &TestApp, role: &str) -> (String, String) {
    let (email, password, _) = app.new_user().await;
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET role = $1 WHERE email = $2")
        .bind(role)
        .bind(&email)
        .execute(&mut db)
        .await
        .unwrap();
    let token = app.sign_in_token(&email, &password).await;
    let id = app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, token)
}

async fn admin(app: &TestApp) -> (String, String) {
    user_with_role(app, "admin").await
}

/// A user signed up through the API: (id, email, password, token).
async fn member(app: &TestApp) -> (String, String, String, String) {
    let (email, password, token) = app.new_user().await;
    let id = app.get("/get-session", Auth::Bearer(&token)).await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    (id, email, password, token)
}

fn cli_with_stdin(app: &TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .env("PORTCULLIS_DATA_DIR", app.storage.dir.path())
        .env("PORTCULLIS_DATABASE_URL", &app.storage.database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run portcullis");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub(crate) fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

async fn an_operator_creates_the_first_admin_from_the_command_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = random_email();
    let password = strong_password(20);
    let out = succeeded(&cli_with_stdin(
        &app,
        &[
            "users",
            "create",
            "--email",
            &email,
            "--password-stdin",
            "--role",
            "admin",
            "--verified",
            "--name",
            "First Admin",
        ],
        &format!("{password}\n"),
    ));
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(created["role"], "admin");
    assert_eq!(created["emailVerified"], true);
    assert!(!out.contains(&password));

    // The new administrator signs in and uses the API.
    let token = app.sign_in_token(&email, &password).await;
    let list = app.get("/admin/list-users", Auth::Bearer(&token)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["total"], 1);

    // The other commands, against the running server.
    let (user_id, user_email, user_password, user_token) = member(&app).await;
    let listed = succeeded(&app.cli(&["users", "list", "--json"]));
    assert_eq!(listed.lines().count(), 2);
    let shown: Value =
        serde_json::from_str(succeeded(&app.cli(&["users", "show", &user_email])).trim()).unwrap();
    assert_eq!(shown["id"], user_id.as_str());
    let admins = succeeded(&app.cli(&["users", "list", "--role", "admin", "--json"]));
    assert_eq!(admins.lines().count(), 1);

    succeeded(&app.cli(&["users", "ban", &user_id, "--reason", "spam", "--for", "7d"]));
    // The running server hears of it through the revocation feed (its session cache too).
    within(
        Duration::from_secs(2),
        "the ban reaches the running server",
        || async { !app.session_alive(&user_token).await },
    )
    .await;
    let banned = app
        .get(
            &format!("/admin/get-user?id={user_id}"),
            Auth::Bearer(&token),
        )
        .await;
    assert_eq!(banned.body["banned"], true);
    assert_eq!(banned.body["banReason"], "spam");
    assert!(banned.body["banExpires"].is_string());
    succeeded(&app.cli(&["users", "unban", &user_email]));
    let found = succeeded(&app.cli(&["users", "list", "--search", &user_email, "--json"]));
    assert_eq!(found.lines().count(), 1, "{found}");
    assert!(found.contains(&user_id), "{found}");

    // A password set from stdin ends the user's sessions on the running server.
    let signed_in = app.sign_in_token(&user_email, &user_password).await;
    let new_password = strong_password(20);
    succeeded(&cli_with_stdin(
        &app,
        &["users", "set-password", &user_id, "--password-stdin"],
        &format!("{new_password}\n"),
    ));
    within(
        Duration::from_secs(2),
        "the new password reaches the running server",
        || async { !app.session_alive(&signed_in).await },
    )
    .await;
    app.sign_in(&user_email, &user_password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let signed_in = app.sign_in_token(&user_email, &new_password).await;
    succeeded(&app.cli(&["users", "revoke-sessions", &user_email]));
    within(
        Duration::from_secs(2),
        "revoked sessions end on the running server",
        || async { !app.session_alive(&signed_in).await },
    )
    .await;

    succeeded(&app.cli(&["users", "set-role", &user_id, "admin"]));

    // The last-admin rule holds for the operator too.
    let demoted = app.cli(&["users", "set-role", &user_id, "user"]);
    assert!(demoted.status.success());
    let refused = app.cli(&["users", "delete", &email]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("LAST_ADMIN"));

    succeeded(&app.cli(&["users", "delete", &user_id]));
    assert_eq!(
        app.get(
            &format!("/admin/get-user?id={user_id}"),
            Auth::Bearer(&token)
        )
        .await
        .status,
        404
    );
    // Audit: the operator is named as the actor.
    assert!(
        app.count("audit_events WHERE kind = 'user_banned' AND actor = 'operator'")
            .await
            >= 1
    );
}

async fn commands_find_no_installation_in_an_empty_directory(backend: Backend) {
    if backend == Backend::Postgres {
        return; // The data directory is what is looked at; one backend says it.
    }
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().join("nothing-here");
    for args in [
        &["users", "list"][..],
        &["mail", "list"][..],
        &["keys", "list"][..],
        &["audit", "list"][..],
        &["api-keys", "list"][..],
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_portcullis"))
            .args(args)
            .env("PORTCULLIS_DATA_DIR", &dir)
            .env_remove("PORTCULLIS_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("no Portcullis installation found"),
            "{args:?}: {stderr}"
        );
        assert!(!dir.exists(), "{args:?} created the data directory");
    }
}

/// An admin endpoint, the statement it checks, better-auth's refusal without it
/// (`YOU_ARE_NOT_ALLOWED_TO_<refused>`), and whether acting writes an audit event naming the actor.
struct Endpoint {
    path: &'static str,
    statement: &'static str,
    refused: &'static str,
    audited: bool,
}

const fn endpoint(
    path: &'static str,
    statement: &'static str,
    refused: &'static str,
    audited: bool,
) -> Endpoint {
    Endpoint {
        path,
        statement,
        refused,
        audited,
    }
}

const ENDPOINTS: [Endpoint; 13] = [
    endpoint("/admin/list-users", "user:list", "LIST_USERS", false),
    endpoint("/admin/get-user", "user:get", "GET_USER", false),
    endpoint("/admin/create-user", "user:create", "CREATE_USERS", true),
    endpoint("/admin/update-user", "user:update", "UPDATE_USERS", true),
    endpoint(
        "/admin/set-role",
        "user:set-role",
        "CHANGE_USERS_ROLE",
        true,
    ),
    endpoint("/admin/ban-user", "user:ban", "BAN_USERS", true),
    endpoint("/admin/unban-user", "user:ban", "BAN_USERS", true),
    endpoint(
        "/admin/list-user-sessions",
        "session:list",
        "LIST_USERS_SESSIONS",
        false,
    ),
    endpoint(
        "/admin/revoke-user-session",
        "session:revoke",
        "REVOKE_USERS_SESSIONS",
        true,
    ),
    endpoint(
        "/admin/revoke-user-sessions",
        "session:revoke",
        "REVOKE_USERS_SESSIONS",
        true,
    ),
    endpoint("/admin/remove-user", "user:delete", "DELETE_USERS", true),
    endpoint(
        "/admin/set-user-password",
        "user:set-password",
        "SET_USERS_PASSWORD",
        true,
    ),
    endpoint(
        "/admin/audit-log",
        "audit:list",
        "READ_THE_AUDIT_LOG",
        false,
    ),
];

/// Every statement an API key can be granted.
const EVERY_STATEMENT: [&str; 13] = [
    "user:create",
    "user:list",
    "user:set-role",
    "user:ban",
    "user:impersonate",
    "user:delete",
    "user:set-password",
    "user:get",
    "user:update",
    "session:list",
    "session:revoke",
    "session:delete",
    "audit:list",
];

/// Calls `endpoint` as `auth` about `target` (a user id), with a body that succeeds.
async fn call(app: &TestApp, endpoint: &Endpoint, auth: Auth<'_>, target: &str) -> Reply {
    let body = match endpoint.path {
        "/admin/list-users" | "/admin/audit-log" => return app.get(endpoint.path, auth).await,
        "/admin/get-user" => {
            return app.get(&format!("/admin/get-user?id={target}"), auth).await;
        }
        "/admin/create-user" => json!({"email": random_email(), "name": "N"}),
        "/admin/update-user" => json!({"userId": target, "data": {"name": "X"}}),
        "/admin/set-role" => json!({"userId": target, "role": "admin"}),
        "/admin/revoke-user-session" => json!({"sessionToken": session_id_of(app, target).await}),
        "/admin/set-user-password" => json!({"userId": target, "newPassword": strong_password(20)}),
        _ => json!({"userId": target}),
    };
    app.post(endpoint.path, auth, body).await
}

/// The id of one of the user's sessions (what `list-user-sessions` calls its `token`).
async fn session_id_of(app: &TestApp, user_id: &str) -> String {
    let mut db = app.db().await;
    sqlx::query_scalar("SELECT id FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

/// Every endpoint × anonymous, a user, an API key without the statement (but with every other
/// one), an API key with only the statement, and an administrator.
async fn every_admin_endpoint_checks_its_statement(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, _, user_token) = member(&app).await;
    let (_, admin_token) = admin(&app).await;
    for endpoint in &ENDPOINTS {
        let without: Vec<&str> = EVERY_STATEMENT
            .into_iter()
            .filter(|s| *s != endpoint.statement)
            .collect();
        let (_, key_without) = create_key(&app, "without", &without.join(","), &[]);
        let (with_id, key_with) = create_key(&app, "with", endpoint.statement, &[]);

        let (target, ..) = member(&app).await;
        let events = app.count("audit_events").await;
        call(&app, endpoint, Auth::None, &target)
            .await
            .assert_error(401, "UNAUTHORIZED");
        let refusal = format!("YOU_ARE_NOT_ALLOWED_TO_{}", endpoint.refused);
        for refused in [&user_token, &key_without] {
            call(&app, endpoint, Auth::Bearer(refused), &target)
                .await
                .assert_error(403, &refusal);
        }
        assert_eq!(
            app.count("audit_events").await,
            events,
            "{}: a refusal acted",
            endpoint.path
        );

        let by_key = call(&app, endpoint, Auth::Bearer(&key_with), &target).await;
        assert_eq!(
            by_key.status, 200,
            "{} by key: {}",
            endpoint.path, by_key.body
        );
        let key_events = app
            .count(&format!("audit_events WHERE actor = 'api-key:{with_id}'"))
            .await;
        assert_eq!(key_events, i64::from(endpoint.audited), "{}", endpoint.path);
        let (target, ..) = member(&app).await;
        let by_admin = call(&app, endpoint, Auth::Bearer(&admin_token), &target).await;
        assert_eq!(
            by_admin.status, 200,
            "{} by admin: {}",
            endpoint.path, by_admin.body
        );
    }
    // A cookie session needs the trusted origin, like every state-changing request.
    let (target, ..) = member(&app).await;
    let no_origin = app
        .post(
            "/admin/ban-user",
            Auth::CookieNoOrigin(&admin_token),
            json!({"userId": target}),
        )
        .await;
    assert_eq!(no_origin.status, 403);
}

async fn roles_from_settings_grant_what_they_list(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[("admin.roles", "support=user:list user:get session:list")],
    )
    .await;
    let (_, support) = user_with_role(&app, "support").await;
    let (target, ..) = member(&app).await;
    let list = app.get("/admin/list-users", Auth::Bearer(&support)).await;
    assert_eq!(list.status, 200, "{}", list.body);
    let sessions = app
        .post(
            "/admin/list-user-sessions",
            Auth::Bearer(&support),
            json!({"userId": target}),
        )
        .await;
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&support),
        json!({"userId": target}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS");
    // An administrator may give the new role; an unknown one is refused.
    let (_, admin_token) = admin(&app).await;
    let set = app
        .post(
            "/admin/set-role",
            Auth::Bearer(&admin_token),
            json!({"userId": target, "role": ["support"]}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["user"]["role"], "support");
    app.post(
        "/admin/set-role",
        Auth::Bearer(&admin_token),
        json!({"userId": target, "role": "owner"}),
    )
    .await
    .assert_error(400, "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE");
}

async fn create_plain_user(app: &TestApp, token: &str, email: &str, name: &str) -> Value {
    let reply = app
        .post(
            "/admin/create-user",
            Auth::Bearer(token),
            json!({"email": email, "name": name}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["user"].clone()
}

async fn list(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app
        .get(&format!("/admin/list-users?{query}"), Auth::Bearer(token))
        .await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body
}

fn emails(page: &Value) -> Vec<String> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_users_searches_filters_sorts_and_pages_a_thousand_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    // 1,000 users (no passwords: nothing to hash), 20 at a time.
    for batch in 0..50 {
        let creations = (0..20).map(|i| {
            let n = batch * 20 + i;
            let email = format!(
                "person{n:04}@{}.example.com",
                if n % 10 == 0 { "tenth" } else { "plain" }
            );
            let name = if n % 100 == 0 {
                format!("Centurion_{n}")
            } else {
                format!("Person {n}")
            };
            let app = &app;
            let token = token.clone();
            async move { create_plain_user(app, &token, &email, &name).await }
        });
        futures::future::join_all(creations).await;
        app.clock.advance(std::time::Duration::from_millis(10));
    }
    let all = list(&app, &token, "limit=1000").await;
    assert_eq!(all["total"], 1001);
    assert_eq!(all["users"].as_array().unwrap().len(), 1000);
    assert_eq!(all["limit"], 1000);
    assert_eq!(all["offset"], 0);

    // Pages are disjoint and cover everything, in a stable order.
    let first = list(&app, &token, "limit=400&sortBy=email").await;
    let second = list(&app, &token, "limit=400&offset=400&sortBy=email").await;
    let third = list(&app, &token, "limit=400&offset=800&sortBy=email").await;
    let mut seen: Vec<String> = [emails(&first), emails(&second), emails(&third)].concat();
    assert_eq!(seen.len(), 1001);
    let sorted = {
        let mut s = seen.clone();
        s.sort();
        s
    };
    assert_eq!(seen, sorted);
    seen.dedup();
    assert_eq!(seen.len(), 1001);
    let desc = list(&app, &token, "limit=1&sortBy=email&sortDirection=desc").await;
    assert_eq!(emails(&desc).first(), sorted.last());

    // Search: email (default field) and name, three operators, case-insensitive.
    assert_eq!(list(&app, &token, "searchValue=TENTH").await["total"], 100);
    assert_eq!(
        list(
            &app,
            &token,
            "searchValue=person00&searchOperator=starts_with"
        )
        .await["total"],
        100
    );
    // A prefix reads the users_email_lower index (migration 0011): the range it scans must
    // still fold case and treat an escaped `_` as text.
    assert_eq!(
        list(
            &app,
            &token,
            "searchValue=PERSON001&searchOperator=starts_with"
        )
        .await["total"],
        10
    );
    assert_eq!(
        list(
            &app,
            &token,
            "searchValue=person_&searchOperator=starts_with"
        )
        .await["total"],
        0
    );
    assert_eq!(
        list(
            &app,
            &token,
            "searchValue=9@plain.example.com&searchOperator=ends_with"
        )
        .await["total"],
        100
    );
    assert_eq!(
        list(&app, &token, "searchField=name&searchValue=centurion").await["total"],
        10
    );
    // Wildcards are text: `%` and `_` match only themselves.
    assert_eq!(list(&app, &token, "searchValue=%25").await["total"], 0);
    assert_eq!(
        list(&app, &token, "searchField=name&searchValue=n_").await["total"],
        10
    );

    // Filters: role, flags, times.
    let admins = list(&app, &token, "filterField=role&filterValue=admin").await;
    assert_eq!(admins["total"], 1);
    assert_eq!(
        list(&app, &token, "filterField=banned&filterValue=false").await["total"],
        1001
    );
    let created_at = all["users"][500]["createdAt"].as_str().unwrap().to_owned();
    let later = list(
        &app,
        &token,
        &format!("filterField=createdAt&filterOperator=gt&filterValue={created_at}"),
    )
    .await;
    let later_total = later["total"].as_i64().unwrap();
    assert!(later_total > 0 && later_total < 1001, "{later_total}");
    assert_eq!(
        list(
            &app,
            &token,
            "filterField=name&filterOperator=contains&filterValue=centurion&searchValue=tenth"
        )
        .await["total"],
        10
    );
}

async fn list_users_refuses_unknown_columns_and_operators(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    for query in [
        "sortBy=password_hash",
        "sortBy=email;DROP TABLE users",
        "sortDirection=sideways",
        "filterField=password_hash&filterValue=x",
        "filterOperator=regex&filterValue=x",
        "searchField=role&searchValue=x",
        "searchOperator=like&searchValue=x",
        "limit=0",
        "limit=1001",
        "limit=ten",
        "offset=-1",
        "filterField=banned&filterValue=maybe",
        "filterField=banned&filterOperator=gt&filterValue=true",
        "filterField=createdAt&filterValue=yesterday",
        "filterField=role",
    ] {
        app.get(&format!("/admin/list-users?{query}"), Auth::Bearer(&token))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
}

async fn a_ban_ends_every_session_and_refuses_every_way_in(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin_token) = admin(&app).await;
    let (id, email, password, cookie_token) = member(&app).await;
    let grant = password_grant(&app, &email, &password).await;
    assert_eq!(grant.status, 200, "{}", grant.body);
    let refresh_token = grant.body["refresh_token"].as_str().unwrap().to_owned();
    let next = app.get("/revocations", Auth::None).await.body["next"].clone();

    let banned = app
        .post(
            "/admin/ban-user",
            Auth::Bearer(&admin_token),
            json!({"userId": id, "banReason": "fraud"}),
        )
        .await;
    assert_eq!(banned.status, 200, "{}", banned.body);
    assert_eq!(banned.body["user"]["banned"], true);
    assert_eq!(banned.body["user"]["banReason"], "fraud");
    assert!(banned.body["user"]["banExpires"].is_null());

    // Every session and refresh token is dead at once.
    assert!(!app.session_alive(&cookie_token).await);
    let refreshed = refresh(&app, &refresh_token).await;
    assert_eq!(refreshed.status, 400, "{}", refreshed.body);
    assert_eq!(
        app.count(&format!("sessions WHERE user_id = '{id}'")).await,
        0
    );
    // Services learn it from the feed: the user's tokens and each session.
    let feed = app
        .get(&format!("/revocations?since={next}"), Auth::None)
        .await
        .body;
    let entries = feed["revocations"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["sub"] == id.as_str()), "{feed}");
    assert!(entries.iter().any(|e| e["sid"].is_string()), "{feed}");

    // Every way in is refused with 403 BANNED_USER, and only after the password is right.
    app.sign_in(&email, &password)
        .await
        .assert_error(403, "BANNED_USER");
    app.sign_in(&email, "wrong password!!")
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let grant = password_grant(&app, &email, &password).await;
    assert_eq!(grant.status, 403, "{}", grant.body);
    assert_eq!(grant.body["code"], "BANNED_USER");
    assert_eq!(grant.body["error"], "invalid_grant");

    // Unbanned, the user signs in again.
    let unbanned = app
        .post(
            "/admin/unban-user",
            Auth::Bearer(&admin_token),
            json!({"userId": id}),
        )
        .await;
    assert_eq!(unbanned.body["user"]["banned"], false);
    assert!(unbanned.body["user"]["banReason"].is_null());
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
    // Audit: the ban names the acting admin and the reason.
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE kind = 'user_banned' AND user_id = '{id}' AND detail = 'fraud' AND actor IS NOT NULL"
        ))
        .await,
        1
    );
    // Bad inputs.
    for (body, status, code) in [
        (
            json!({"userId": id, "banExpiresIn": 0}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"userId": id, "banExpiresIn": -5}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"userId": id, "banExpiresIn": "soon"}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"userId": id, "banReason": "a\nb"}),
            400,
            "VALIDATION_ERROR",
        ),
        (json!({"userId": "nobody"}), 404, "USER_NOT_FOUND"),
        (json!({}), 400, "VALIDATION_ERROR"),
    ] {
        app.post("/admin/ban-user", Auth::Bearer(&admin_token), body)
            .await
            .assert_error(status, code);
    }
}

async fn an_expired_ban_lifts_itself(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin_token) = admin(&app).await;
    let (id, email, password, _) = member(&app).await;
    let banned = app
        .post(
            "/admin/ban-user",
            Auth::Bearer(&admin_token),
            json!({"userId": id, "banExpiresIn": 3600}),
        )
        .await;
    assert_eq!(banned.status, 200, "{}", banned.body);
    assert!(banned.body["user"]["banExpires"].is_string());
    app.clock.advance(std::time::Duration::from_secs(3599));
    app.sign_in(&email, &password)
        .await
        .assert_error(403, "BANNED_USER");
    app.clock.advance(std::time::Duration::from_secs(2));
    assert_eq!(app.sign_in(&email, &password).await.status, 200);
    let user = app
        .get(
            &format!("/admin/get-user?id={id}"),
            Auth::Bearer(&admin_token),
        )
        .await;
    assert_eq!(user.body["banned"], false);
    assert!(user.body["banExpires"].is_null());
}

async fn nobody_bans_demotes_or_removes_the_last_admin_nor_themselves(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[(
            "admin.roles",
            "moderator=user:ban user:set-role user:delete user:update",
        )],
    )
    .await;
    let (admin_id, admin_token) = admin(&app).await;
    let me = json!({"userId": admin_id});
    app.post("/admin/ban-user", Auth::Bearer(&admin_token), me.clone())
        .await
        .assert_error(400, "YOU_CANNOT_BAN_YOURSELF");
    app.post("/admin/remove-user", Auth::Bearer(&admin_token), me.clone())
        .await
        .assert_error(400, "YOU_CANNOT_REMOVE_YOURSELF");
    app.post(
        "/admin/set-role",
        Auth::Bearer(&admin_token),
        json!({"userId": admin_id, "role": "user"}),
    )
    .await
    .assert_error(400, "YOU_CANNOT_CHANGE_YOUR_OWN_ROLE");
    app.post(
        "/admin/update-user",
        Auth::Bearer(&admin_token),
        json!({"userId": admin_id, "data": {"role": "user"}}),
    )
    .await
    .assert_error(400, "YOU_CANNOT_CHANGE_YOUR_OWN_ROLE");

    // A moderator may ban, demote and remove, but not the only administrator.
    let (_, moderator) = user_with_role(&app, "moderator").await;
    for (path, body) in [
        ("/admin/ban-user", me.clone()),
        ("/admin/remove-user", me.clone()),
        (
            "/admin/set-role",
            json!({"userId": admin_id, "role": "user"}),
        ),
        (
            "/admin/update-user",
            json!({"userId": admin_id, "data": {"role": "moderator"}}),
        ),
    ] {
        app.post(path, Auth::Bearer(&moderator), body)
            .await
            .assert_error(400, "LAST_ADMIN");
    }
    // With a second administrator, the first can go.
    let (second_id, second_token) = admin(&app).await;
    let demoted = app
        .post(
            "/admin/set-role",
            Auth::Bearer(&moderator),
            json!({"userId": admin_id, "role": "user"}),
        )
        .await;
    assert_eq!(demoted.status, 200, "{}", demoted.body);
    // The demoted admin's session no longer reaches the admin API.
    app.get("/admin/list-users", Auth::Bearer(&admin_token))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_LIST_USERS");
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&moderator),
        json!({"userId": second_id}),
    )
    .await
    .assert_error(400, "LAST_ADMIN");
    assert!(app.session_alive(&second_token).await);
}

async fn users_are_created_read_updated_and_removed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    let email = random_email();
    let password = strong_password(20);
    let created = app
        .post(
            "/admin/create-user",
            Auth::Bearer(&token),
            json!({"email": email.to_uppercase(), "password": password, "name": "Grace", "role": ["user"], "data": {"emailVerified": true}}),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let user = &created.body["user"];
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["email"], email.as_str());
    assert_eq!(user["role"], "user");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["banned"], false);
    assert!(user.get("passwordHash").is_none());
    // The new user can sign in with the password given.
    assert_eq!(app.sign_in(&email, &password).await.status, 200);

    // Bad inputs to create-user.
    for (body, status, code) in [
        (
            json!({"email": email, "name": "Again"}),
            400,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
        ),
        (
            json!({"email": "not-an-email", "name": "X"}),
            400,
            "INVALID_EMAIL",
        ),
        (
            json!({"email": random_email(), "name": ""}),
            400,
            "INVALID_NAME",
        ),
        (
            json!({"email": random_email(), "name": "X", "password": "short"}),
            400,
            "PASSWORD_TOO_SHORT",
        ),
        (
            json!({"email": random_email(), "name": "X", "password": "password123"}),
            400,
            "PASSWORD_TOO_WEAK",
        ),
        (
            json!({"email": random_email(), "name": "X", "role": "emperor"}),
            400,
            "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
        ),
        (
            json!({"email": random_email(), "name": "X", "role": 7}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            json!({"email": random_email(), "name": "X", "data": {"banned": true}}),
            400,
            "VALIDATION_ERROR",
        ),
        (json!({"name": "X"}), 400, "VALIDATION_ERROR"),
    ] {
        app.post("/admin/create-user", Auth::Bearer(&token), body)
            .await
            .assert_error(status, code);
    }

    let got = app
        .get(&format!("/admin/get-user?id={id}"), Auth::Bearer(&token))
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["name"], "Grace");
    app.get("/admin/get-user?id=nobody", Auth::Bearer(&token))
        .await
        .assert_error(404, "USER_NOT_FOUND");
    app.get("/admin/get-user", Auth::Bearer(&token))
        .await
        .assert_error(400, "VALIDATION_ERROR");

    // update-user: name, email (unverified unless said), role.
    let new_email = random_email();
    let updated = app
        .post(
            "/admin/update-user",
            Auth::Bearer(&token),
            json!({"userId": id, "data": {"name": "Grace H.", "email": new_email, "role": "admin"}}),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["name"], "Grace H.");
    assert_eq!(updated.body["email"], new_email.as_str());
    assert_eq!(updated.body["emailVerified"], false);
    assert_eq!(updated.body["role"], "admin");
    let (other, ..) = member(&app).await;
    for (data, status, code) in [
        (json!({}), 400, "NO_DATA_TO_UPDATE"),
        (
            json!({"password": "x"}),
            400,
            "PASSWORD_CANNOT_BE_UPDATED_VIA_UPDATE_USER",
        ),
        (json!({"id": "x"}), 400, "USER_ID_CANNOT_BE_UPDATED"),
        (json!({"email": "bad"}), 400, "INVALID_EMAIL"),
        (
            json!({"role": "emperor"}),
            400,
            "YOU_ARE_NOT_ALLOWED_TO_SET_NON_EXISTENT_VALUE",
        ),
        (json!({"banned": true}), 400, "VALIDATION_ERROR"),
    ] {
        app.post(
            "/admin/update-user",
            Auth::Bearer(&token),
            json!({"userId": id, "data": data}),
        )
        .await
        .assert_error(status, code);
    }
    app.post(
        "/admin/update-user",
        Auth::Bearer(&token),
        json!({"userId": other, "data": {"email": new_email}}),
    )
    .await
    .assert_error(400, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    app.post(
        "/admin/update-user",
        Auth::Bearer(&token),
        json!({"userId": "nobody", "data": {"name": "X"}}),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");

    // remove-user: gone, sessions and all.
    let (victim, _, _, victim_token) = member(&app).await;
    let removed = app
        .post(
            "/admin/remove-user",
            Auth::Bearer(&token),
            json!({"userId": victim}),
        )
        .await;
    assert_eq!(removed.body, json!({"success": true}));
    assert!(!app.session_alive(&victim_token).await);
    app.get(
        &format!("/admin/get-user?id={victim}"),
        Auth::Bearer(&token),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
    app.post(
        "/admin/remove-user",
        Auth::Bearer(&token),
        json!({"userId": victim}),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
}

async fn set_user_password_ends_sessions_and_tells_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    let (id, email, old_password, user_token) = member(&app).await;
    let new_password = strong_password(20);
    let reply = app
        .post(
            "/admin/set-user-password",
            Auth::Bearer(&token),
            json!({"userId": id, "newPassword": new_password}),
        )
        .await;
    assert_eq!(reply.body, json!({"status": true}));
    assert!(!app.session_alive(&user_token).await);
    app.sign_in(&email, &old_password)
        .await
        .assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    assert_eq!(app.sign_in(&email, &new_password).await.status, 200);
    assert_eq!(
        app.count(&format!(
            "mail_outbox WHERE to_address = '{email}' AND kind = 'password_changed'"
        ))
        .await,
        1
    );
    for (body, status, code) in [
        (
            json!({"userId": id, "newPassword": "short"}),
            400,
            "PASSWORD_TOO_SHORT",
        ),
        (
            json!({"userId": id, "newPassword": "password123"}),
            400,
            "PASSWORD_TOO_WEAK",
        ),
        (
            json!({"userId": "nobody", "newPassword": strong_password(20)}),
            404,
            "USER_NOT_FOUND",
        ),
        (json!({"userId": id}), 400, "VALIDATION_ERROR"),
    ] {
        app.post("/admin/set-user-password", Auth::Bearer(&token), body)
            .await
            .assert_error(status, code);
    }
}

async fn sessions_are_listed_without_secrets_and_revoked_by_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    let (id, email, password, first) = member(&app).await;
    let second = app.sign_in_token(&email, &password).await;
    let listed = app
        .post(
            "/admin/list-user-sessions",
            Auth::Bearer(&token),
            json!({"userId": id}),
        )
        .await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let sessions = listed.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    for session in sessions {
        assert_eq!(session["token"], session["id"]);
        assert_ne!(session["token"], first.as_str());
        assert_ne!(session["token"], second.as_str());
        assert_eq!(session["userId"], id.as_str());
        assert!(session["impersonatedBy"].is_null());
    }
    assert!(!listed.body.to_string().contains(&first));
    // Revoke one by the id list-user-sessions gave (in `token`).
    let newest = sessions[0]["token"].as_str().unwrap();
    let revoked = app
        .post(
            "/admin/revoke-user-session",
            Auth::Bearer(&token),
            json!({"sessionToken": newest}),
        )
        .await;
    assert_eq!(revoked.body, json!({"success": true}));
    assert!(!app.session_alive(&second).await);
    assert!(app.session_alive(&first).await);
    let all = app
        .post(
            "/admin/revoke-user-sessions",
            Auth::Bearer(&token),
            json!({"userId": id}),
        )
        .await;
    assert_eq!(all.body, json!({"success": true}));
    assert!(!app.session_alive(&first).await);
    // Unknown sessions and users: nothing to end, still success (idempotent, as better-auth).
    let nothing = app
        .post(
            "/admin/revoke-user-session",
            Auth::Bearer(&token),
            json!({"sessionToken": "nope"}),
        )
        .await;
    assert_eq!(nothing.status, 200);
    app.post(
        "/admin/revoke-user-session",
        Auth::Bearer(&token),
        json!({}),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
}

async fn has_permission_answers_for_the_session_user_and_an_api_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = admin(&app).await;
    let (_, _, _, user_token) = member(&app).await;
    let ask = |permissions: Value| json!({ "permissions": permissions });
    for (who, permissions, expected) in [
        (&token, json!({"user": ["ban", "list"]}), true),
        (&token, json!({"user": ["impersonate-admins"]}), false),
        (
            &token,
            json!({"user": ["ban"], "session": ["revoke"]}),
            true,
        ),
        (&token, json!({"project": ["create"]}), false),
        (&user_token, json!({"user": ["list"]}), false),
    ] {
        let reply = app
            .post(
                "/admin/has-permission",
                Auth::Bearer(who),
                ask(permissions.clone()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["success"], expected, "{permissions}");
        assert!(reply.body["error"].is_null());
    }
    app.post("/admin/has-permission", Auth::Bearer(&token), json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    // An API key is answered for by its grants, without any session.
    let (key_id, key) = create_key(&app, "billing", "user:ban,user:list", &[]);
    for (permissions, expected) in [
        (json!({"user": ["ban", "list"]}), true),
        (json!({"user": ["ban"], "session": ["revoke"]}), false),
        (json!({"user": ["get"]}), false),
    ] {
        let reply = app
            .post(
                "/admin/has-permission",
                Auth::Bearer(&key),
                ask(permissions.clone()),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.body["success"], expected, "{permissions}");
    }
    succeeded(&app.cli(&["api-keys", "revoke", &key_id]));
    app.post(
        "/admin/has-permission",
        Auth::Bearer(&key),
        ask(json!({"user": ["list"]})),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
}

/// Each key has its own limit (the `general` class), whatever address it comes from.
async fn an_api_key_is_rate_limited_on_its_own(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("trusted_proxies", "127.0.0.1/32"),
            ("rate_limits.general", "3/1m"),
        ],
    )
    .await;
    let (_, busy) = create_key(&app, "busy", "user:list", &[]);
    let (_, quiet) = create_key(&app, "quiet", "user:list", &[]);
    let list_from = |key: String, address: usize| {
        let request = app
            .http
            .get(app.api("/admin/list-users"))
            .bearer_auth(key)
            .header("x-forwarded-for", format!("192.0.2.{address}"));
        async move { Reply::from(request.send().await.unwrap()).await }
    };
    for address in 1..=3 {
        let listed = list_from(busy.clone(), address).await;
        assert_eq!(listed.status, 200, "{}", listed.body);
    }
    let limited = list_from(busy.clone(), 4).await;
    limited.assert_error(429, "TOO_MANY_REQUESTS");
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(list_from(quiet, 5).await.status, 200);
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

async fn impersonation_needs_permission_a_reason_and_a_fresh_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin_id, admin_token) = admin(&app).await;
    let (other_admin, _) = admin(&app).await;
    let (target, _, _, _) = member(&app).await;
    let (_, _, _, user_token) = member(&app).await;
    let ask = |user: &str, reason: Option<&str>| json!({"userId": user, "reason": reason});
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&target, None),
    )
    .await
    .assert_error(400, "IMPERSONATION_REASON_REQUIRED");
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&target, Some("  ")),
    )
    .await
    .assert_error(400, "IMPERSONATION_REASON_REQUIRED");
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&user_token),
        ask(&target, Some("ticket 1")),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_IMPERSONATE_USERS");
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&other_admin, Some("ticket 1")),
    )
    .await
    .assert_error(403, "YOU_CANNOT_IMPERSONATE_ADMINS");
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&admin_id, Some("ticket 1")),
    )
    .await
    .assert_error(400, "VALIDATION_ERROR");
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask("nobody", Some("ticket 1")),
    )
    .await
    .assert_error(404, "USER_NOT_FOUND");
    app.post(
        "/admin/impersonate-user",
        Auth::None,
        ask(&target, Some("ticket 1")),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    // A banned user cannot be impersonated either: the ban holds at every way in.
    let (banned, ..) = member(&app).await;
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&admin_token),
        json!({"userId": banned}),
    )
    .await;
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&banned, Some("ticket 2")),
    )
    .await
    .assert_error(403, "BANNED_USER");
    // An administrator session older than session.fresh_age must sign in again.
    app.clock.advance(Duration::from_secs(25 * 3600));
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&admin_token),
        ask(&target, Some("ticket 1")),
    )
    .await
    .assert_error(403, "SESSION_NOT_FRESH");
}

async fn an_impersonated_session_is_short_restricted_and_cannot_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin_id, admin_token) = admin(&app).await;
    let (target, _, _, target_token) = member(&app).await;
    let (third, ..) = member(&app).await;
    let started = app
        .post(
            "/admin/impersonate-user",
            Auth::Bearer(&admin_token),
            json!({"userId": target, "reason": "support ticket 4711"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    assert_eq!(started.body["user"]["id"], target.as_str());
    assert_eq!(started.body["session"]["impersonatedBy"], admin_id.as_str());
    let token = started.body["token"].as_str().unwrap().to_owned();
    let session = app.get("/get-session", Auth::Bearer(&token)).await.body;
    assert_eq!(session["user"]["id"], target.as_str());
    assert_eq!(session["session"]["impersonatedBy"], admin_id.as_str());

    // No chaining, no admin API, no credentials, email, two-factor or account deletion.
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&token),
        json!({"userId": third, "reason": "x"}),
    )
    .await
    .assert_error(403, "IMPERSONATED_SESSION_RESTRICTED");
    app.get("/admin/list-users", Auth::Bearer(&token))
        .await
        .assert_error(403, "IMPERSONATED_SESSION_RESTRICTED");
    for (path, body) in [
        (
            "/change-password",
            json!({"currentPassword": "x", "newPassword": strong_password(20)}),
        ),
        ("/change-email", json!({"newEmail": random_email()})),
        ("/two-factor/enable", json!({"password": "x"})),
        ("/two-factor/disable", json!({"password": "x"})),
        ("/delete-user", json!({"password": "x"})),
        ("/link-social", json!({"provider": "google"})),
        ("/unlink-account", json!({"accountId": "x"})),
        ("/get-access-token", json!({"providerId": "google"})),
    ] {
        app.post(path, Auth::Bearer(&token), body)
            .await
            .assert_error(403, "IMPERSONATED_SESSION_RESTRICTED");
    }
    // The user does not see the administrator's session among theirs.
    let own = app
        .get("/list-sessions", Auth::Bearer(&target_token))
        .await
        .body;
    assert_eq!(own.as_array().unwrap().len(), 1, "{own}");
    // Audited with who and why.
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE kind = 'impersonation_started' AND user_id = '{target}' \
             AND actor = '{admin_id}' AND detail = 'support ticket 4711'"
        ))
        .await,
        1
    );
    // It ends after an hour however it is used, and the reason is stored with it.
    assert_eq!(
        app.count("sessions WHERE impersonation_reason = 'support ticket 4711'")
            .await,
        1
    );
    app.clock.advance(Duration::from_secs(30 * 60));
    assert!(app.session_alive(&token).await);
    app.clock.advance(Duration::from_secs(30 * 60 + 1));
    assert!(!app.session_alive(&token).await);
}

async fn stop_impersonating_gives_the_browser_back_the_admins_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin_id, admin_token) = admin(&app).await;
    let (target, ..) = member(&app).await;
    let started = app
        .post(
            "/admin/impersonate-user",
            Auth::Cookie(&admin_token),
            json!({"userId": target, "reason": "complaint 12"}),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.body);
    let session_cookie = started
        .set_cookie("portcullis.session_token")
        .expect("session cookie");
    assert!(!session_cookie.contains("Max-Age"), "{session_cookie}");
    let kept = started
        .set_cookie("portcullis.admin_session")
        .expect("admin session kept aside");
    assert!(
        kept.contains("HttpOnly") && kept.contains("Path=/api/auth/admin"),
        "{kept}"
    );
    assert_eq!(cookie_value(&kept), admin_token);
    let impersonated = cookie_value(&session_cookie);
    assert_eq!(impersonated, started.body["token"].as_str().unwrap());

    // A session that impersonates nobody has nothing to stop.
    app.post(
        "/admin/stop-impersonating",
        Auth::Bearer(&admin_token),
        json!({}),
    )
    .await
    .assert_error(400, "NOT_IMPERSONATING");

    let stopped = app
        .http
        .post(app.api("/admin/stop-impersonating"))
        .header(
            "cookie",
            format!(
                "portcullis.session_token={impersonated}; portcullis.admin_session={admin_token}"
            ),
        )
        .header("origin", &app.origin)
        .send()
        .await
        .unwrap();
    let stopped = crate::helpers::Reply::from(stopped).await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    assert_eq!(stopped.body["user"]["id"], admin_id.as_str());
    let restored = stopped.set_cookie("portcullis.session_token").unwrap();
    assert_eq!(cookie_value(&restored), admin_token);
    assert!(stopped
        .set_cookie("portcullis.admin_session")
        .unwrap()
        .contains("Max-Age=0"));
    assert!(!app.session_alive(&impersonated).await);
    assert!(app.session_alive(&admin_token).await);
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE kind = 'impersonation_stopped' AND actor = '{admin_id}'"
        ))
        .await,
        1
    );
}

async fn audit_page(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app
        .get(&format!("/admin/audit-log?{query}"), Auth::Bearer(token))
        .await;
    assert_eq!(reply.status, 200, "{query}: {}", reply.body);
    reply.body
}

async fn the_audit_log_is_filtered_paged_and_kept_for_its_retention(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("admin.roles", "auditor=audit:list"),
            ("session.sweep_interval", "200ms"),
        ],
    )
    .await;
    let (admin_id, token) = admin(&app).await;
    let (id, email, password, user_token) = member(&app).await;
    for _ in 0..3 {
        app.sign_in_token(&email, &password).await;
    }
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&token),
        json!({"userId": id, "banReason": "abuse"}),
    )
    .await;
    app.post(
        "/admin/unban-user",
        Auth::Bearer(&token),
        json!({"userId": id}),
    )
    .await;

    let banned = audit_page(&app, &token, "kind=user_banned").await;
    let events = banned["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{banned}");
    assert_eq!(events[0]["userId"], id.as_str());
    assert_eq!(events[0]["actor"], admin_id.as_str());
    assert_eq!(events[0]["detail"], "abuse");
    assert!(banned["nextCursor"].is_null());

    let about_user = audit_page(&app, &token, &format!("userId={id}")).await;
    let kinds: Vec<&str> = about_user["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"user_unbanned"),
        "newest first: {kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "sign_in").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"sign_up"));
    let by_admin = audit_page(&app, &token, &format!("actor={admin_id}")).await;
    assert_eq!(by_admin["events"].as_array().unwrap().len(), 2);

    // Pages of 2 cover everything once, newest first.
    let everything = audit_page(&app, &token, "limit=1000").await["events"].clone();
    let total = everything.as_array().unwrap().len();
    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = audit_page(&app, &token, &query).await;
        for event in page["events"].as_array().unwrap() {
            seen.push(event["id"].as_str().unwrap().to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let all_ids: Vec<String> = everything
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, all_ids);
    assert!(total >= 8, "{total}");
    // Time range.
    let newest = everything[0]["at"].as_str().unwrap().to_owned();
    assert_eq!(
        audit_page(&app, &token, &format!("until={newest}&limit=1000")).await["events"]
            .as_array()
            .unwrap()
            .len(),
        total - 1
    );
    assert!(
        audit_page(&app, &token, "since=9999999999999").await["events"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Never a secret in an event.
    let text = everything.to_string();
    assert!(!text.contains(&password) && !text.contains(&user_token) && !text.contains(&token));

    // Bad inputs and permissions.
    for query in [
        "limit=0",
        "limit=1001",
        "cursor=garbage",
        "since=yesterday",
        "kind=DROP%20TABLE",
    ] {
        app.get(&format!("/admin/audit-log?{query}"), Auth::Bearer(&token))
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    let (.., other_token) = member(&app).await;
    app.get("/admin/audit-log", Auth::Bearer(&other_token))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG");
    app.get("/admin/audit-log", Auth::None)
        .await
        .assert_error(401, "UNAUTHORIZED");
    let (_, auditor) = user_with_role(&app, "auditor").await;
    assert_eq!(
        app.get("/admin/audit-log", Auth::Bearer(&auditor))
            .await
            .status,
        200
    );

    // The command line: one kind, and a JSON lines export of everything.
    let banned_lines = succeeded(&app.cli(&["audit", "list", "--kind", "user_banned", "--json"]));
    assert_eq!(banned_lines.lines().count(), 1);
    let line: Value = serde_json::from_str(banned_lines.trim()).unwrap();
    assert_eq!(line["detail"], "abuse");
    let export = succeeded(&app.cli(&["audit", "list", "--all", "--limit", "3", "--json"]));
    assert!(export.lines().count() > total, "{export}");
    let about = succeeded(&app.cli(&["audit", "list", "--user", &email, "--json"]));
    assert!(about.lines().all(|l| l.contains(&id)));

    // Kept for audit.retention (180 days), then swept.
    app.clock.advance(Duration::from_secs(181 * 24 * 3600));
    crate::helpers::eventually("old audit events are swept", || async {
        app.count("audit_events").await == 0
    })
    .await;
}

fn create_key(app: &TestApp, name: &str, permissions: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "api-keys",
        "create",
        "--name",
        name,
        "--permissions",
        permissions,
    ];
    args.extend_from_slice(extra);
    let output = app.cli(&args);
    let key = succeeded(&output).trim().to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let id = stderr
        .lines()
        .find_map(|l| l.strip_prefix("key "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("key id on stderr")
        .to_owned();
    (id, key)
}

async fn api_keys_are_shown_once_scoped_expiring_and_revocable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin_token) = admin(&app).await;
    let (target, _, _, target_token) = member(&app).await;
    let (reader_id, reader) = create_key(&app, "reporting", "user:list,user:get", &[]);
    assert!(
        reader.starts_with("pk_") && reader.len() >= 3 + 43,
        "{reader}"
    );
    // Only the hash is stored.
    assert_eq!(
        app.count(&format!("api_keys WHERE key_hash = '{reader}'"))
            .await,
        0
    );
    assert_eq!(app.count("api_keys").await, 1);

    let listed = app.get("/admin/list-users", Auth::Bearer(&reader)).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["total"], 2);
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&reader),
        json!({"userId": target}),
    )
    .await
    .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_BAN_USERS");
    app.get("/admin/audit-log", Auth::Bearer(&reader))
        .await
        .assert_error(403, "YOU_ARE_NOT_ALLOWED_TO_READ_THE_AUDIT_LOG");

    // A key with the statement acts, and the audit trail names the key.
    let (banner_id, banner) = create_key(&app, "billing", "user:ban", &["--expires-in", "1h"]);
    let banned = app
        .post(
            "/admin/ban-user",
            Auth::Bearer(&banner),
            json!({"userId": target}),
        )
        .await;
    assert_eq!(banned.status, 200, "{}", banned.body);
    assert!(!app.session_alive(&target_token).await);
    assert_eq!(
        app.count(&format!(
            "audit_events WHERE kind = 'user_banned' AND actor = 'api-key:{banner_id}'"
        ))
        .await,
        1
    );
    // Listing shows names and grants, never a key.
    let list = succeeded(&app.cli(&["api-keys", "list"]));
    assert!(
        list.contains("reporting") && list.contains("user:ban"),
        "{list}"
    );
    assert!(!list.contains(&reader) && !list.contains(&banner));

    // Expired, revoked and unknown keys are refused like no credential.
    app.clock.advance(Duration::from_secs(3601));
    app.post(
        "/admin/unban-user",
        Auth::Bearer(&banner),
        json!({"userId": target}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    succeeded(&app.cli(&["api-keys", "revoke", &reader_id]));
    app.get("/admin/list-users", Auth::Bearer(&reader))
        .await
        .assert_error(401, "UNAUTHORIZED");
    assert!(!app
        .cli(&["api-keys", "revoke", &reader_id])
        .status
        .success());
    app.get("/admin/list-users", Auth::Bearer("pk_not-a-key"))
        .await
        .assert_error(401, "UNAUTHORIZED");
    // Bad permissions are refused when the key is made.
    for bad in ["user:fly", "nothing", ""] {
        let output = app.cli(&["api-keys", "create", "--name", "x", "--permissions", bad]);
        assert!(!output.status.success(), "{bad} accepted");
    }
    // A key is no session: it cannot impersonate.
    let (_, all) = create_key(&app, "all", "user:impersonate", &[]);
    app.post(
        "/admin/impersonate-user",
        Auth::Bearer(&all),
        json!({"userId": target, "reason": "x"}),
    )
    .await
    .assert_error(401, "UNAUTHORIZED");
    assert!(app.session_alive(&admin_token).await);
}

async fn a_ban_stops_a_sign_in_waiting_for_its_second_factor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin_token) = admin(&app).await;
    let mut account = crate::two_factor::enabled_account(&app).await;
    // The password step opens a challenge ...
    let step = app.sign_in(&account.email, &account.password).await;
    assert_eq!(step.body["twoFactorRedirect"], true, "{}", step.body);
    let challenge = step
        .set_cookie("portcullis.two_factor")
        .expect("challenge cookie");
    let challenge = challenge.split(';').next().unwrap().to_owned();
    // ... the user is banned meanwhile, and the second factor cannot finish it.
    app.post(
        "/admin/ban-user",
        Auth::Bearer(&admin_token),
        json!({"userId": account.id}),
    )
    .await;
    let code = account.backup_code();
    let finished = app
        .http
        .post(app.api("/two-factor/verify-backup-code"))
        .header("cookie", &challenge)
        .header("origin", &app.origin)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    crate::helpers::Reply::from(finished)
        .await
        .assert_error(403, "BANNED_USER");
    assert_eq!(
        app.count(&format!("sessions WHERE user_id = '{}'", account.id))
            .await,
        0
    );
    // A new password step is refused before any challenge.
    app.sign_in(&account.email, &account.password)
        .await
        .assert_error(403, "BANNED_USER");
}

async fn the_official_admin_client_works_unchanged(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, password, _) = app.new_user().await;
    let mut db = app.db().await;
    sqlx::query("UPDATE users SET role = 'admin' WHERE email = $1")
        .bind(&email)
        .execute(&mut db)
        .await
        .unwrap();
    let run = crate::compat::run_node_args(
        &["--test", "admin.test.mjs"],
        &[
            ("PORTCULLIS_URL", &app.url),
            ("ADMIN_EMAIL", &email),
            ("ADMIN_PASSWORD", &password),
        ],
    )
    .await;
    assert!(run.success, "adminClient flow failed:\n{}", run.report);
    assert!(run.report.contains("# fail 0"), "{}", run.report);
}

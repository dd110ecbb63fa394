//! The `portcullis` binary as an operator runs it: zero-config start, settings, signals.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{http_client, random_email, strong_password};

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A `portcullis` process whose stderr is collected.
struct Running {
    child: Child,
    log: Arc<Mutex<String>>,
    url: String,
}

fn command(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("PORTCULLIS_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command
}

/// A test that fails half-way must not leave its server running.
impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn serve(mut command: Command) -> Running {
    command
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start portcullis");
    let log = Arc::new(Mutex::new(String::new()));
    let (found, url) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = found.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            sink.lock().unwrap().push_str(&line);
            sink.lock().unwrap().push('\n');
        }
    });
    let url = url
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no 'listening on' line; log:\n{}", log.lock().unwrap()));
    Running { child, log, url }
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "did not exit");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(child: &Child) {
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGTERM) };
}

#[tokio::test]
async fn zero_config_serve_creates_everything_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = serve({
        let mut c = command(dir.path());
        // The default 127.0.0.1:8080 may be taken on a shared machine: only the port differs.
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0");
        // Seven sign-ups from one address are more than the default limit allows.
        c.env("PORTCULLIS_RATE_LIMITS_SIGN_UP", "50/1m");
        c
    });
    let data = dir.path().join("portcullis-data");
    assert!(data.join("portcullis.db").exists());
    let key = data.join("master.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "master secret must be private");
    }
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        data.join("portcullis.db").display()
    ))
    .await
    .unwrap();
    let mode: String = sqlx::Row::get(
        &sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut db)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(mode, "wal");

    let http = http_client().build().unwrap();
    let password = strong_password(20);
    let signed_up: serde_json::Value = http
        .post(format!("{}/api/auth/sign-up/email", running.url))
        .json(&json!({"name": "Ops", "email": random_email(), "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_up["token"].as_str().unwrap().to_owned();

    // Requests in flight when SIGTERM arrives still get their answers.
    let in_flight: Vec<_> = (0..6)
        .map(|_| {
            let http = http.clone();
            let url = format!("{}/api/auth/sign-up/email", running.url);
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({"name": "Late", "email": random_email(), "password": strong_password(20)}))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(40)).await;
    terminate(&running.child);
    for request in in_flight {
        assert_eq!(request.await.unwrap().expect("answered"), 200);
    }
    let status = wait_for_exit(&mut running.child);
    assert!(status.success(), "graceful exit: {status:?}");

    let log = running.log.lock().unwrap().clone();
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(!log.contains(&password), "a password reached the log");
    assert!(!log.contains(&token), "a session token reached the log");
    let secret = std::fs::read_to_string(&key).unwrap();
    assert!(
        !log.contains(secret.trim()),
        "the master secret reached the log"
    );

    // A restart reuses the same secret and database.
    let running = serve({
        let mut c = command(dir.path());
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0");
        c
    });
    assert_eq!(std::fs::read_to_string(&key).unwrap(), secret);
    let session: serde_json::Value = http
        .get(format!("{}/api/auth/get-session", running.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["name"], "Ops");
    terminate(&running.child);
}

/// The restore steps docs/operations.md gives: the copy in place of the database file, beside the
/// same master secret, in a new data directory.
#[tokio::test]
async fn backup_copies_a_serving_database_that_a_restored_server_opens() {
    let dir = tempfile::tempdir().unwrap();
    let serving = serve({
        let mut c = command(dir.path());
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0");
        c.env("PORTCULLIS_RATE_LIMITS_SIGN_UP", "500/1m");
        c
    });
    let http = http_client().build().unwrap();
    let sign_up = |email: String| {
        let http = http.clone();
        let url = format!("{}/api/auth/sign-up/email", serving.url);
        async move {
            let reply = http
                .post(url)
                .json(&json!({"name": "Kept", "email": email, "password": "correct horse battery staple"}))
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), 200);
            reply.json::<serde_json::Value>().await.unwrap()
        }
    };
    let email = random_email();
    let token = sign_up(email.clone()).await["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Writers keep going while the copy is taken.
    let writers: Vec<_> = (0..20)
        .map(|_| tokio::spawn(sign_up(random_email())))
        .collect();
    let copy = dir.path().join("copy.db");
    let (code, text) = run_to_end(command(dir.path()).arg("backup").arg(&copy));
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("master.key"),
        "says to keep the secret: {text}"
    );
    for writer in writers {
        writer.await.unwrap();
    }
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the copy holds password hashes");
    }
    // Never over an existing file, and the file is left as it was.
    let (code, text) = run_to_end(command(dir.path()).arg("backup").arg(&copy));
    assert_ne!(code, 0);
    assert!(text.contains("exists"), "{text}");
    assert!(std::fs::metadata(&copy).unwrap().len() > 0);

    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("portcullis-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::rename(&copy, data.join("portcullis.db")).unwrap();
    std::fs::copy(
        dir.path().join("portcullis-data/master.key"),
        data.join("master.key"),
    )
    .unwrap();
    let running = serve({
        let mut c = command(restored.path());
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0");
        c
    });
    let session: serde_json::Value = http
        .get(format!("{}/api/auth/get-session", running.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["user"]["email"], email.as_str());
    let signed_in = http
        .post(format!("{}/api/auth/sign-in/email", running.url))
        .json(&json!({"email": email, "password": "correct horse battery staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    terminate(&running.child);
    terminate(&serving.child);
}

fn run_to_end(command: &mut Command) -> (i32, String) {
    let output = command.output().expect("run portcullis");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

#[test]
fn a_bad_setting_stops_start_up_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("PORTCULLIS_SESSION_EXPIRES_IN", "soon"),
        ("PORTCULLIS_LISTEN", "nowhere"),
        ("PORTCULLIS_BASE_URL", "ftp://example.com"),
        ("PORTCULLIS_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network"),
        ("PORTCULLIS_PASSWORD_MIN_LENGTH", "6"),
        ("PORTCULLIS_DATABASE_URL", "mysql://localhost/db"),
    ] {
        let (code, text) = run_to_end(command(dir.path()).arg("serve").env(name, value));
        assert_eq!(code, 2, "{name}={value}: {text}");
        assert!(text.contains(name), "{name}={value} not named: {text}");
    }
}

/// Cookie settings a browser would silently refuse stop start-up with the reason, instead of a
/// sign-in that never sticks.
#[test]
fn cookie_settings_browsers_would_refuse_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for (settings, named, reason) in [
        (
            &[("PORTCULLIS_SESSION_COOKIE_SAME_SITE", "none")][..],
            "PORTCULLIS_SESSION_COOKIE_SAME_SITE",
            "needs an https base_url",
        ),
        (
            &[
                ("PORTCULLIS_SESSION_COOKIE_SAME_SITE", "none"),
                ("PORTCULLIS_BASE_URL", "http://auth.example.com"),
            ][..],
            "PORTCULLIS_SESSION_COOKIE_SAME_SITE",
            "needs an https base_url",
        ),
        (
            &[("PORTCULLIS_SESSION_COOKIE_SAME_SITE", "sometimes")][..],
            "PORTCULLIS_SESSION_COOKIE_SAME_SITE",
            "lax, strict or none",
        ),
        (
            &[
                ("PORTCULLIS_BASE_URL", "https://auth.example.com"),
                ("PORTCULLIS_SESSION_COOKIE_DOMAIN", "other.com"),
            ][..],
            "PORTCULLIS_SESSION_COOKIE_DOMAIN",
            "does not contain",
        ),
        (
            &[
                ("PORTCULLIS_BASE_URL", "https://auth.example.com"),
                ("PORTCULLIS_SESSION_COOKIE_DOMAIN", "ample.com"),
            ][..],
            "PORTCULLIS_SESSION_COOKIE_DOMAIN",
            "does not contain",
        ),
        (
            &[("PORTCULLIS_SESSION_COOKIE_DOMAIN", "127.0.0.1")][..],
            "PORTCULLIS_SESSION_COOKIE_DOMAIN",
            "IP address",
        ),
        (
            &[("PORTCULLIS_CORS_ALLOWED_HEADERS", "x-good, bad header")][..],
            "PORTCULLIS_CORS_ALLOWED_HEADERS",
            "not an HTTP header name",
        ),
    ] {
        let mut serve = command(dir.path());
        serve.arg("serve").envs(settings.iter().copied());
        let (code, text) = run_to_end(&mut serve);
        assert_eq!(code, 2, "{settings:?}: {text}");
        assert!(
            text.contains(named) && text.contains(reason),
            "{settings:?}: {text}"
        );
    }
    // The same combination over https starts (`settings` parses and checks like `serve`).
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("settings")
            .env("PORTCULLIS_SESSION_COOKIE_SAME_SITE", "none")
            .env("PORTCULLIS_SESSION_COOKIE_DOMAIN", "example.com")
            .env("PORTCULLIS_BASE_URL", "https://auth.example.com"),
    );
    assert_eq!(code, 0, "{text}");
}

#[test]
fn the_config_file_is_read_and_the_environment_wins() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:0\"\n[session]\nexpires_in = \"whenever\"\n",
    )
    .unwrap();
    let (code, text) =
        run_to_end(command(dir.path()).args(["--config", file.to_str().unwrap(), "migrate"]));
    assert_eq!(code, 2);
    assert!(text.contains("session.expires_in"), "{text}");
    let (code, text) = run_to_end(
        command(dir.path())
            .args(["--config", file.to_str().unwrap(), "migrate"])
            .env("PORTCULLIS_SESSION_EXPIRES_IN", "2d"),
    );
    assert_eq!(code, 0, "{text}");

    std::fs::write(&file, "lisen = \"127.0.0.1:0\"\n").unwrap();
    let (code, text) =
        run_to_end(command(dir.path()).args(["--config", file.to_str().unwrap(), "migrate"]));
    assert_ne!(code, 0);
    assert!(text.contains("lisen"), "a typo must be reported: {text}");
}

#[test]
fn migrate_creates_the_schema_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("elsewhere");
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("migrate")
            .env("PORTCULLIS_DATA_DIR", &data),
    );
    assert_eq!(code, 0, "{text}");
    assert!(data.join("portcullis.db").exists());
    // It says what it applied.
    assert_eq!(
        text.matches("applied database migration").count(),
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
            .unwrap()
            .count(),
        "{text}"
    );
    assert!(text.contains("0001 accounts and sessions"), "{text}");
    // Migrating again is a no-op, and says so.
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("migrate")
            .env("PORTCULLIS_DATA_DIR", &data),
    );
    assert_eq!(code, 0);
    assert!(text.contains("nothing to apply"), "{text}");
    assert!(!text.contains("applied database migration"), "{text}");
}

#[test]
fn help_explains_each_command_and_settings_lists_every_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (code, help) = run_to_end(command(dir.path()).arg("--help"));
    assert_eq!(code, 0);
    for word in ["serve", "migrate", "settings", "--config"] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    let (_, settings) = run_to_end(command(dir.path()).arg("settings"));
    for variable in [
        "PORTCULLIS_LISTEN",
        "PORTCULLIS_BASE_URL",
        "PORTCULLIS_DATA_DIR",
        "PORTCULLIS_DATABASE_URL",
        "PORTCULLIS_TRUSTED_ORIGINS",
        "PORTCULLIS_TRUSTED_PROXIES",
        "PORTCULLIS_SESSION_EXPIRES_IN",
        "PORTCULLIS_PASSWORD_MIN_LENGTH",
    ] {
        assert!(settings.contains(variable), "settings lacks {variable}");
    }
}

#[test]
fn the_readme_documents_every_setting() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    for setting in portcullis::config::registry() {
        let variable = setting.env_name();
        assert!(
            readme.contains(&variable),
            "README.md does not document {variable}"
        );
    }
}

#[test]
fn a_misspelled_setting_stops_start_up_and_names_the_closest_one() {
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("serve")
            .env("PORTCULLIS_EMAIL_REQUIRE_VERIFICATON", "true"),
    );
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("PORTCULLIS_EMAIL_REQUIRE_VERIFICATON")
            && text.contains("did you mean PORTCULLIS_EMAIL_REQUIRE_VERIFICATION?"),
        "{text}"
    );
    assert!(
        !dir.path().join("portcullis-data").exists(),
        "nothing may start"
    );

    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[email]\nrequire_verificaton = true\n").unwrap();
    let (code, text) =
        run_to_end(command(dir.path()).args(["--config", file.to_str().unwrap(), "migrate"]));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("did you mean `email.require_verification`?"),
        "{text}"
    );

    // The test suite's own variables are not the server's.
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("migrate")
            .env("PORTCULLIS_TEST_SOMETHING", "1"),
    );
    assert_eq!(code, 0, "{text}");
}

#[test]
fn settings_shows_each_value_in_effect_and_its_source_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(&file, "[session]\nexpires_in = \"2d\"\n").unwrap();
    let secrets = [
        "c2V0dGluZ3MtdGVzdC1zZWNyZXQtb2YtdGhpcnR5LXR3by1ieXRlcw==",
        "smtp-password-value",
        "feed-token-value",
        "database-password-value",
    ];
    let (code, text) = run_to_end(
        command(dir.path())
            .args(["--config", file.to_str().unwrap(), "settings"])
            .env("PORTCULLIS_SESSION_UPDATE_AGE", "12h")
            .env("PORTCULLIS_SECRET", secrets[0])
            .env(
                "PORTCULLIS_SMTP_URL",
                format!("smtp://ops:{}@mail.example.com:587", secrets[1]),
            )
            .env("PORTCULLIS_REVOCATIONS_FEED_TOKEN", secrets[2])
            .env(
                "PORTCULLIS_DATABASE_URL",
                format!("postgres://app:{}@db.example.com/auth", secrets[3]),
            ),
    );
    assert_eq!(code, 0, "{text}");
    let value_of = |key: &str| {
        let mut lines = text.lines();
        lines.find(|line| line.starts_with(&format!("{key}  (")));
        lines.next().unwrap_or_default().trim().to_owned()
    };
    assert_eq!(value_of("session.expires_in"), "= 2d  [file]");
    assert_eq!(value_of("session.update_age"), "= 12h  [environment]");
    assert_eq!(value_of("session.absolute_lifetime"), "= 30d  [default]");
    assert_eq!(value_of("base_url"), "= http://127.0.0.1:8080  [derived]");
    assert_eq!(value_of("secret"), "= (set, hidden)  [environment]");
    assert_eq!(
        value_of("revocations.feed_token"),
        "= (set, hidden)  [environment]"
    );
    assert_eq!(
        value_of("smtp_url"),
        "= smtp://ops:****@mail.example.com:587  [environment]"
    );
    assert_eq!(
        value_of("database_url"),
        "= postgres://app:****@db.example.com/auth  [environment]"
    );
    for secret in secrets {
        assert!(!text.contains(secret), "a secret was printed: {text}");
    }
}

#[test]
fn booleans_read_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["TRUE", "Yes", "on", "1", "False", "NO", "Off", "0"] {
        let (code, text) = run_to_end(
            command(dir.path())
                .arg("migrate")
                .env("PORTCULLIS_EMAIL_REQUIRE_VERIFICATION", value),
        );
        assert_eq!(code, 0, "{value}: {text}");
    }
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("migrate")
            .env("PORTCULLIS_EMAIL_REQUIRE_VERIFICATION", "maybe"),
    );
    assert_eq!(code, 2, "{text}");
}

#[test]
fn a_fatal_error_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let (code, text) = run_to_end(
        command(dir.path())
            .arg("serve")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_DATA_DIR", not_a_dir.join("data")),
    );
    assert_ne!(code, 0, "{text}");
    assert_eq!(text.matches("cannot create").count(), 1, "{text}");
}

/// ASVS 7.x/16.x: with every secret set and the most verbose logging, a full round of sign-up,
/// sign-in, password reset and token grants writes none of them, nor any password or token, to
/// the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_even_at_trace_level() {
    use base64::Engine;
    let sink = crate::smtp_sink::SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let master = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());
    let smtp_password = format!(
        "smtp-{}",
        strong_password(12).replace(['%', '#', '?', '/', '@'], "x")
    );
    let feed_token = format!("feed-{}", random_email());
    let redis_password = format!("redis-{}", random_email().replace('@', "-at-"));
    let mut running = serve({
        let mut c = command(dir.path());
        c.env("RUST_LOG", "trace")
            .env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_SECRET", &master)
            .env(
                "PORTCULLIS_SMTP_URL",
                format!("smtp://ops:{smtp_password}@{}?tls=none", sink.addr),
            )
            .env("PORTCULLIS_REVOCATIONS_FEED_TOKEN", &feed_token)
            // Nothing listens there: the limiter's errors go to the log too.
            .env(
                "PORTCULLIS_REDIS_URL",
                format!("redis://:{redis_password}@127.0.0.1:1"),
            );
        c
    });
    let http = crate::helpers::http_client().build().unwrap();
    let api = |path: &str| format!("{}/api/auth{path}", running.url);
    let post = |path: &str, body: serde_json::Value| http.post(api(path)).json(&body).send();
    let (email, first_password, new_password) =
        (random_email(), strong_password(20), strong_password(20));
    let mut leaks: Vec<String> = vec![
        master.clone(),
        smtp_password.clone(),
        feed_token.clone(),
        redis_password.clone(),
        first_password.clone(),
        new_password.clone(),
    ];
    let signed_up: serde_json::Value = post(
        "/sign-up/email",
        json!({"name": "Ops", "email": email, "password": first_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    leaks.push(
        signed_up["token"]
            .as_str()
            .expect("sign-up token")
            .to_owned(),
    );
    let signed_in: serde_json::Value = post(
        "/sign-in/email",
        json!({"email": email, "password": first_password}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    leaks.push(
        signed_in["token"]
            .as_str()
            .expect("sign-in token")
            .to_owned(),
    );

    post("/request-password-reset", json!({"email": email}))
        .await
        .unwrap();
    let mail = sink.wait_for(&email, 1).await.remove(0);
    // The listen address says port 0, so links carry the base URL derived from it, not the port.
    let link = crate::smtp_sink::link_in(&mail.text, "http://127.0.0.1");
    let reset_token = crate::smtp_sink::reset_token_of(&link);
    leaks.push(reset_token.clone());
    let reset = post(
        "/reset-password",
        json!({"token": reset_token, "newPassword": new_password}),
    )
    .await
    .unwrap();
    assert_eq!(reset.status(), 200);
    assert!(
        !sink.logins().is_empty(),
        "mail went out with the SMTP credentials"
    );
    leaks.extend(sink.logins());

    let grant: serde_json::Value = http
        .post(api("/token"))
        .form(&[
            ("grant_type", "password"),
            ("email", email.as_str()),
            ("password", new_password.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = grant["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    leaks.push(grant["access_token"].as_str().unwrap().to_owned());
    let rotated: serde_json::Value = post(
        "/token",
        json!({"grant_type": "refresh_token", "refresh_token": refresh}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    leaks.push(refresh);
    leaks.push(rotated["refresh_token"].as_str().unwrap().to_owned());
    let feed = http
        .get(api("/revocations"))
        .bearer_auth(&feed_token)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 200);

    terminate(&running.child);
    assert!(wait_for_exit(&mut running.child).success());
    let log = running.log.lock().unwrap().clone();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "trace logging was on"
    );
    for secret in &leaks {
        assert!(
            !log.contains(secret.as_str()),
            "the log holds a secret: {secret}"
        );
    }
}

/// An internal failure is answered with a generic 500 and logged exactly once, by one layer,
/// with the request id and the step that failed (the store's context), not by every function the
/// error passed through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_failure_is_logged_once_with_its_request_id_and_failed_step() {
    if crate::helpers::postgres_disabled() {
        return;
    }
    let storage = crate::helpers::Storage::fresh(crate::helpers::Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let running = serve({
        let mut c = command(dir.path());
        c.env("PORTCULLIS_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_DATABASE_URL", &storage.database_url);
        c
    });
    let http = crate::helpers::http_client().build().unwrap();
    let api = |path: &str| format!("{}/api/auth{path}", running.url);
    // The database disappears under the running server.
    let name = storage.database_url.rsplit('/').next().unwrap().to_owned();
    let mut admin =
        <sqlx::PgConnection as sqlx::Connection>::connect(crate::services::postgres_admin_url())
            .await
            .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    // Past a second idle, the pooled connections the drop ended are checked and replaced on
    // checkout: the request meets the missing database, an internal failure (a connection that
    // broke in use would answer 503 instead).
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let reply = http
        .post(api("/sign-in/email"))
        .json(&json!({"email": random_email(), "password": strong_password(16)}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 500);
    let request_id = reply.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = reply.json().await.unwrap();
    assert_eq!(
        body,
        json!({"message": "Internal server error", "code": "INTERNAL_SERVER_ERROR"}),
        "nothing internal is told to the client"
    );
    let failure_logged = || {
        let log = running.log.lock().unwrap().clone();
        log.lines()
            .filter(|line| line.contains(&request_id) && line.contains("request failed"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    crate::helpers::eventually("the failure in the log", || async {
        !failure_logged().is_empty()
    })
    .await;
    let lines = failure_logged();
    assert_eq!(lines.len(), 1, "logged once: {lines:?}");
    assert!(
        lines[0].contains("sign-in: failures") && lines[0].contains("status=500"),
        "the line names the failed step: {}",
        lines[0]
    );
    assert_eq!(
        lines[0].matches("does not exist").count(),
        1,
        "the cause once, not repeated down its chain: {}",
        lines[0]
    );
    let log = running.log.lock().unwrap().clone();
    let errors_of_this_request: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") && l.contains(&request_id))
        .collect();
    assert_eq!(
        errors_of_this_request.len(),
        1,
        "no other layer logs it: {errors_of_this_request:?}"
    );
}

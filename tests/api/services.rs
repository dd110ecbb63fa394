//! A private PostgreSQL cluster and Redis server for one run of the test binary, so the tests need
//! nothing running on the machine and leave nothing behind on it.
//!
//! The first test that needs PostgreSQL creates a throw-away cluster (`initdb`, then `pg_ctl start`)
//! in `$TMPDIR/portcullis-test-<pid>/pg`, listening on a free loopback port and on a unix socket in
//! that directory, trust auth, with durability off (`fsync`, `synchronous_commit`,
//! `full_page_writes`). The first test that needs Redis starts `redis-server` on a free port as a
//! child process, with persistence off. Every later test of the process shares them. As root
//! (`initdb` and `postgres` refuse to run as root), the cluster belongs to the `postgres` user.
//!
//! The tests' own files (`test_files_dir`) live in the same directory. All of it is gone when the
//! process ends, however it ends:
//! - normal exit, passed or failed: libtest ends with `std::process::exit`, which runs no
//!   destructors but does run `atexit` handlers; ours stops both servers and removes the directory;
//! - killed (SIGKILL, Ctrl-C, a CI timeout): a watchdog shell started with the directory blocks
//!   reading a pipe whose only writer is this process; the kernel closes it when the process dies,
//!   and the watchdog stops both servers and removes the directory;
//! - and should the watchdog be gone too, the next run removes every `portcullis-test-<pid>`
//!   directory whose owner is dead (the owner holds a `flock` on its `owner.lock` while it lives),
//!   stopping what still runs in it (`pg_ctl stop -m immediate`).
//!
//! `PORTCULLIS_TEST_POSTGRES_URL` (the admin URL of a server where the tests may create databases)
//! and `PORTCULLIS_TEST_REDIS_URL` use existing servers instead.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Run directories are `<temp dir>/portcullis-test-<pid of the test process>`.
const DIR_PREFIX: &str = "portcullis-test-";

/// Admin URL (database `postgres`, superuser `postgres`) of the server the tests create their
/// databases on: `PORTCULLIS_TEST_POSTGRES_URL`, or the private cluster, started on first use.
pub fn postgres_admin_url() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    let url = URL.get_or_init(|| match env_url("PORTCULLIS_TEST_POSTGRES_URL") {
        Some(url) => Ok(url),
        None => start_postgres().map(|cluster| cluster.admin_url.clone()),
    });
    match url {
        Ok(url) => url,
        Err(e) => panic!("cannot start the tests' PostgreSQL: {e}"),
    }
}

/// URL of the Redis server for the tests that share state through Redis:
/// `PORTCULLIS_TEST_REDIS_URL`, or the private `redis-server`, started on first use.
pub fn redis_url() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    let url = URL.get_or_init(|| match env_url("PORTCULLIS_TEST_REDIS_URL") {
        Some(url) => Ok(url),
        None => start_redis().map(|redis| redis.url.clone()),
    });
    match url {
        Ok(url) => url,
        Err(e) => panic!("cannot start the tests' Redis: {e}"),
    }
}

/// Where tests keep their files (SQLite databases, data directories): inside this process's run
/// directory, so they go with it even when the process is killed; the system temp dir if that
/// directory cannot be made.
pub fn test_files_dir() -> PathBuf {
    run_path().map_or_else(|_| std::env::temp_dir(), Path::to_path_buf)
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

// ---- the run directory ---------------------------------------------------------------------

struct RunDir {
    path: PathBuf,
    /// Held (flock) for the life of the process: the next run's sweep sees it free once we die.
    _lock: File,
    /// The watchdog's stdin. Never written; the kernel closes it when this process ends.
    _watchdog: ChildStdin,
}

static RUN: OnceLock<Result<RunDir, String>> = OnceLock::new();

/// This process's run directory, created (and earlier runs' leftovers swept) on first use.
fn run_path() -> Result<&'static Path, String> {
    RUN.get_or_init(create_run_dir)
        .as_ref()
        .map(|run| run.path.as_path())
        .map_err(Clone::clone)
}

fn create_run_dir() -> Result<RunDir, String> {
    let base = base_dir();
    sweep_stale_run_dirs(&base);
    let path = base.join(format!("{DIR_PREFIX}{}", std::process::id()));
    let _ = fs::remove_dir_all(&path); // a dead run of the same pid, already swept; belt and braces
    fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    // The postgres user must reach pg/ inside it when we run as root.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    // Locked before it takes its name, so an `owner.lock` that a sweep finds free is a dead one.
    let locking = path.join("owner.lock.new");
    let lock = File::create(&locking).map_err(|e| format!("owner.lock: {e}"))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!("cannot lock {}", locking.display()));
    }
    fs::rename(&locking, path.join("owner.lock")).map_err(|e| format!("owner.lock: {e}"))?;
    let mut watchdog = Command::new("sh")
        .args(["-c", WATCHDOG, "portcullis-test-watchdog"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0) // a Ctrl-C meant for the tests must not stop it before it cleans up
        .spawn()
        .map_err(|e| format!("cannot start the cleanup watchdog (sh): {e}"))?;
    let pipe = watchdog.stdin.take().expect("piped stdin");
    // SAFETY: registers a plain `extern "C" fn` that catches every panic.
    unsafe { libc::atexit(stop_services_at_exit) };
    Ok(RunDir {
        path,
        _lock: lock,
        _watchdog: pipe,
    })
}

/// Waits for the end of its stdin (the test process died without its `atexit` cleanup), then
/// stops what runs in the directory ($1) and removes it. After a normal exit the directory is
/// already gone and it does nothing.
const WATCHDOG: &str = r#"
trap '' INT HUP TERM QUIT
read -r _
d=$1
[ -d "$d" ] || exit 0
if [ -f "$d/redis.pid" ]; then kill -KILL "$(cat "$d/redis.pid")" 2>/dev/null; fi
if [ -f "$d/pg/data/postmaster.pid" ]; then
  pid=$(head -n 1 "$d/pg/data/postmaster.pid")
  kill -QUIT "$pid" 2>/dev/null   # PostgreSQL's immediate shutdown
  i=0
  while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
fi
rm -rf "$d"
"#;

/// The system temp dir; as root, `/tmp` if the postgres user could not reach the former.
fn base_dir() -> PathBuf {
    let temp = std::env::temp_dir();
    let reachable = temp
        .ancestors()
        .all(|dir| fs::metadata(dir).is_ok_and(|m| m.permissions().mode() & 0o001 != 0));
    if is_root() && !reachable {
        PathBuf::from("/tmp")
    } else {
        temp
    }
}

/// Removes the run directories of test processes that are gone, stopping their servers first.
fn sweep_stale_run_dirs(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        let stale = if pid == std::process::id() {
            true // ours is not created yet: a dead run that had our pid
        } else {
            match File::open(path.join("owner.lock")) {
                // The lock dies with its holder, whatever killed it (and is never inherited).
                // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
                Ok(lock) => unsafe {
                    libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0
                },
                // Being created (not locked yet), or from before the lock: trust the pid.
                Err(_) => !process_alive(pid),
            }
        };
        if stale {
            eprintln!(
                "removing {} left behind by an earlier test run",
                path.display()
            );
            clean_run_dir(&path);
        }
    }
}

fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    exists || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Stops whatever still runs in a run directory and removes it.
fn clean_run_dir(path: &Path) {
    if let Some(pid) = fs::read_to_string(path.join("redis.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<libc::pid_t>().ok())
    {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "redis-server" {
            // SAFETY: a signal to a process we checked is a redis-server.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let data = path.join("pg").join("data");
    if data.join("postmaster.pid").exists() {
        if let Some(bin) = postgres_bin_dir() {
            pg_ctl_stop(&bin, &data);
        }
    }
    let _ = fs::remove_dir_all(path);
}

extern "C" fn stop_services_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        if let Some(Ok(redis)) = REDIS.get() {
            let mut child = redis.child.lock().unwrap_or_else(|e| e.into_inner());
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(Ok(cluster)) = CLUSTER.get() {
            pg_ctl_stop(&cluster.bin, &cluster.data);
        }
        if let Some(Ok(run)) = RUN.get() {
            let _ = fs::remove_dir_all(&run.path);
        }
    });
}

// ---- PostgreSQL ----------------------------------------------------------------------------

struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    admin_url: String,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

fn start_postgres() -> Result<&'static Cluster, String> {
    CLUSTER
        .get_or_init(create_cluster)
        .as_ref()
        .map_err(Clone::clone)
}

const POSTGRES_MISSING: &str = "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in \
    `pg_config --bindir`, /usr/lib/postgresql/<version>/bin or PATH. Install the server \
    (Debian: apt-get install postgresql; scripts/test does it), or set \
    PORTCULLIS_TEST_POSTGRES_URL=postgres://... to use a running server, or \
    PORTCULLIS_TEST_POSTGRES=off to run only the SQLite half";

fn create_cluster() -> Result<Cluster, String> {
    let bin = postgres_bin_dir().ok_or(POSTGRES_MISSING)?;
    let owner = server_user()?;
    let dir = run_path()?.join("pg");
    fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .map_err(|e| format!("chown {}: {e}", dir.display()))?;
    }
    let data = dir.join("data");
    let initdb = run_as(Command::new(bin.join("initdb")), owner)
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ])
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("cannot run initdb: {e}"))?;
    if !initdb.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&initdb.stderr)
        ));
    }
    // A throw-away cluster: nothing needs to survive a crash, so nothing waits for the disk.
    let settings = format!(
        "\n# portcullis tests\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{}'\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         wal_level = minimal\n\
         max_wal_senders = 0\n\
         autovacuum = off\n\
         max_connections = 200\n",
        dir.display().to_string().replace('\'', "''")
    );
    fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .and_then(|mut conf| conf.write_all(settings.as_bytes()))
        .map_err(|e| format!("postgresql.conf: {e}"))?;
    let log = dir.join("postgres.log");
    let mut last_error = String::new();
    // The port is free when we look; another process may take it before the server binds it.
    for _ in 0..5 {
        let port = free_port()?;
        let started = run_as(Command::new(bin.join("pg_ctl")), owner)
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "-o", &format!("-p {port}"), "start"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if started.status.success() {
            return Ok(Cluster {
                bin,
                data,
                admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            });
        }
        last_error = format!(
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&started.stderr),
            fs::read_to_string(&log).unwrap_or_default()
        );
    }
    Err(last_error)
}

/// Where the server binaries are: Debian keeps them out of PATH, under a directory per version.
fn postgres_bin_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            candidates.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                let version = e.file_name().to_str()?.split('.').next()?.parse().ok()?;
                Some((version, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|(version, _)| std::cmp::Reverse(*version)); // newest first
        candidates.extend(versions.into_iter().map(|(_, bin)| bin));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates.into_iter().find(|dir| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    })
}

fn is_root() -> bool {
    // SAFETY: no arguments, no failure.
    unsafe { libc::geteuid() == 0 }
}

/// The user to run PostgreSQL as: `postgres` (uid, gid) when we are root, else ourselves (None).
fn server_user() -> Result<Option<(u32, u32)>, String> {
    if !is_root() {
        return Ok(None);
    }
    // SAFETY: getpwnam with a NUL-terminated name; the fields are read before any other call.
    let user = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    if user.is_null() {
        return Err(
            "running as root, where initdb and postgres refuse to run, and there is no \
                    `postgres` user to run them as (the postgresql package creates it)"
                .into(),
        );
    }
    // SAFETY: non-null result of getpwnam.
    Ok(Some(unsafe { ((*user).pw_uid, (*user).pw_gid) }))
}

fn run_as(mut command: Command, user: Option<(u32, u32)>) -> Command {
    if let Some((uid, gid)) = user {
        // std drops root's supplementary groups before setuid.
        command.uid(uid).gid(gid);
    }
    command.stdin(Stdio::null());
    command
}

/// `pg_ctl stop -m immediate`, as the owner of the data directory (pg_ctl refuses root).
fn pg_ctl_stop(bin: &Path, data: &Path) {
    let owner = fs::metadata(data)
        .ok()
        .filter(|m| is_root() && m.uid() != 0)
        .map(|m| (m.uid(), m.gid()));
    let _ = run_as(Command::new(bin.join("pg_ctl")), owner)
        .arg("-D")
        .arg(data)
        .args(["-m", "immediate", "-w", "-t", "30", "stop"])
        .current_dir(data.parent().unwrap_or(Path::new("/")))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

// ---- Redis ---------------------------------------------------------------------------------

struct Redis {
    child: Mutex<Child>,
    url: String,
}

static REDIS: OnceLock<Result<Redis, String>> = OnceLock::new();

fn start_redis() -> Result<&'static Redis, String> {
    REDIS
        .get_or_init(create_redis)
        .as_ref()
        .map_err(Clone::clone)
}

fn create_redis() -> Result<Redis, String> {
    let dir = run_path()?;
    let log_path = dir.join("redis.log");
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let log = File::create(&log_path).map_err(|e| format!("redis.log: {e}"))?;
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run redis-server ({e}). Install it (Debian: apt-get install \
                     redis-server; scripts/test does it), or set \
                     PORTCULLIS_TEST_REDIS_URL=redis://... to use a running server"
                )
            })?;
        fs::write(dir.join("redis.pid"), child.id().to_string())
            .map_err(|e| format!("redis.pid: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if redis_answers(port) {
                return Ok(Redis {
                    child: Mutex::new(child),
                    url: format!("redis://127.0.0.1:{port}"),
                });
            }
            if let Ok(Some(_)) = child.try_wait() {
                break; // exited: most likely the port was taken meanwhile
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        last_error = format!(
            "redis-server did not answer on port {port}: {}",
            fs::read_to_string(&log_path).unwrap_or_default()
        );
    }
    Err(last_error)
}

fn redis_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = [0u8; 5];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut answer).is_ok()
        && &answer == b"+PONG"
}

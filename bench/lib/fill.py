#!/usr/bin/env python3
"""Fills a migrated Portcullis database with filler users and sessions, fast (bench/run's scale table).

  fill.py --sqlite PATH      --users N --sessions-per-user K [--expired-share 0.1]
  fill.py --postgres URL     --users N --sessions-per-user K [--expired-share 0.1]

The filler makes the tables and their indexes as big as a large deployment's; the measured
requests use the real users bench/run signed up through the API, so every answer is a real one.
Filler users reuse the password hash of a user already in the database (hashing a million
passwords would take hours and measure nothing), so at least one real user must exist.

Sessions: `--expired-share` of them expired an hour ago (work for the sweep), the rest live for a
week. Token hashes are SHA-256 of `fill-token-<n>`, spread over the whole index as real ones are.
SQLite: batched inserts in one transaction. PostgreSQL: COPY through psql, foreign-key
triggers off and secondary indexes made again after it. Prints one JSON line:
{"users": .., "sessions": .., "seconds": ..}.
"""

import argparse
import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import time

BATCH = 50_000


def now_ms():
    return int(time.time() * 1000)


def user_rows(count, password_hash, at):
    for i in range(count):
        yield (f"fill-u{i:08d}", f"Filler {i}", f"fill.{i:08d}@bench.example", 1, None,
               password_hash, at, at)


def session_rows(users, per_user, expired_share, at):
    rng = random.Random(7)
    week, hour, month = 7 * 86_400_000, 3_600_000, 30 * 86_400_000
    n = 0
    for _ in range(per_user):
        for u in range(users):
            expired = rng.random() < expired_share
            expires = at - hour if expired else at + week
            token_hash = hashlib.sha256(f"fill-token-{n}".encode()).hexdigest()
            yield (f"fill-s{n:09d}", token_hash, f"fill-u{u:08d}", 1, "203.0.113.7",
                   "bench-filler/1.0", at - 86_400_000, at - 86_400_000, at - 86_400_000,
                   expires, min(at + month, expires + month))
            n += 1


USER_COLUMNS = ("id", "name", "email", "email_verified", "image", "password_hash",
                "created_at", "updated_at")
SESSION_COLUMNS = ("id", "token_hash", "user_id", "persistent", "ip_address", "user_agent",
                   "created_at", "updated_at", "last_active_at", "expires_at",
                   "absolute_expires_at")


def batches(rows):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def fill_sqlite(path, users, per_user, expired_share):
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA cache_size = -1000000")  # 1 GB of page cache for the index inserts
    db.execute("PRAGMA synchronous = OFF")
    (password_hash,) = db.execute(
        "SELECT password_hash FROM users WHERE password_hash IS NOT NULL LIMIT 1").fetchone() or (None,)
    if password_hash is None:
        sys.exit("fill.py: no user with a password in the database: sign one up first")
    at = now_ms()
    db.execute("BEGIN")
    for table, columns, rows in (
            ("users", USER_COLUMNS, user_rows(users, password_hash, at)),
            ("sessions", SESSION_COLUMNS, session_rows(users, per_user, expired_share, at))):
        sql = (f"INSERT INTO {table} ({', '.join(columns)}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
        for batch in batches(rows):
            db.executemany(sql, batch)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def csv_field(v):
    if v is None:
        return ""
    s = str(v)
    if any(c in s for c in ',"\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def psql(url, *commands, stdin=None):
    """Runs COMMANDS (SQL or psql meta-commands) in one psql session; answers its output."""
    args = ["psql", url, "-v", "ON_ERROR_STOP=1", "-qAt"]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, input=stdin, check=True, capture_output=stdin is None,
                          text=True).stdout


def copy_postgres(url, table, columns, rows):
    """COPY with the foreign-key triggers off for the session (session_replication_role =
    replica): the filler is consistent by construction, and a trigger per row would check 10
    million sessions' users one by one."""
    proc = subprocess.Popen(
        ["psql", url, "-v", "ON_ERROR_STOP=1", "-q",
         "-c", "SET session_replication_role = replica",
         "-c", f"\\copy {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"],
        stdin=subprocess.PIPE, text=True)
    for batch in batches(rows):
        proc.stdin.write("".join(",".join(csv_field(v) for v in row) + "\n" for row in batch))
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"fill.py: COPY into {table} failed")


# Indexes that back no constraint (primary keys and UNIQUE stay: they are checked while copying).
SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass, pg_get_indexdef(i.indexrelid) FROM pg_index i
WHERE i.indrelid = '{table}'::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"""


def fill_postgres(url, users, per_user, expired_share):
    password_hash = psql(
        url, "SELECT password_hash FROM users WHERE password_hash IS NOT NULL LIMIT 1").strip()
    if not password_hash:
        sys.exit("fill.py: no user with a password in the database: sign one up first")
    at = now_ms()
    for table, columns, rows in (
            ("users", USER_COLUMNS, user_rows(users, password_hash, at)),
            ("sessions", SESSION_COLUMNS, session_rows(users, per_user, expired_share, at))):
        # The secondary indexes are dropped and made again after the COPY, from their own
        # definitions: one sorted build is many times faster than millions of random inserts.
        indexes = [line.split("|", 1) for line in
                   psql(url, SECONDARY_INDEXES.format(table=table)).splitlines() if line]
        if indexes:
            psql(url, "; ".join(f"DROP INDEX {name}" for name, _ in indexes))
        copy_postgres(url, table, columns, rows)
        if indexes:
            psql(url, "SET maintenance_work_mem = '512MB'", *(sql for _, sql in indexes))
        psql(url, f"VACUUM ANALYZE {table}")


def main():
    p = argparse.ArgumentParser()
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--sqlite")
    where.add_argument("--postgres")
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--sessions-per-user", type=int, required=True)
    p.add_argument("--expired-share", type=float, default=0.1)
    args = p.parse_args()
    if args.users <= 0 or args.sessions_per_user < 0 or not 0 <= args.expired_share <= 1:
        sys.exit("fill.py: --users > 0, --sessions-per-user >= 0, 0 <= --expired-share <= 1")
    started = time.monotonic()
    if args.sqlite:
        fill_sqlite(args.sqlite, args.users, args.sessions_per_user, args.expired_share)
    else:
        fill_postgres(args.postgres, args.users, args.sessions_per_user, args.expired_share)
    print(json.dumps({"users": args.users, "sessions": args.users * args.sessions_per_user,
                      "seconds": round(time.monotonic() - started, 1)}))


if __name__ == "__main__":
    main()

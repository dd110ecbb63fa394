#!/usr/bin/env python3
"""Test data for bench/run.

  seed.py users  --count N --out users.tsv
      Makes N users (email, 20-char random password, name), one per line, tab-separated.

  seed.py seed   --base URL --users users.tsv --auth bearer|cookie --out sessions.txt
      Signs every user up on the server at URL, then signs each in once, and writes one
      get-session header line per user to sessions.txt ("Authorization: Bearer <token>" from the
      sign-in JSON's `token`, or "Cookie: <name>=<value>" from its Set-Cookie). Then checks that
      get-session with such a header really answers a session for that user, so that a benchmark
      of get-session never measures "200 null" answers. Exits non-zero on any failure.
      --existing: the users were signed up before; only sign each in (a second set of sessions).

  seed.py wait   --base URL --timeout S [--pid PID]
      Polls GET URL/api/auth/ok until it answers {"ok": true}.

  seed.py access --base URL --sessions sessions.txt --out access.txt
      Token mode (Portcullis only): one access token per session of sessions.txt (the bearer
      lines `seed` wrote), from GET /api/auth/token, one per line.

  seed.py refresh --base URL --users users.tsv --count N --out refresh.txt
      Token mode (Portcullis only): N separate token sessions, each from a password grant
      (POST /api/auth/token {"grant_type":"password",...}) cycling through the users, and writes
      each session's refresh token, one per line. The first chain is rotated once as a check (a
      refresh grant must answer 200 with a new refresh token); its successor is what is written.

Standard library only. Loopback servers only: every request has a timeout.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import secrets
import string
import sys
import time
import urllib.parse

ALPHABET = string.ascii_letters + string.digits


def die(msg):
    print(f"seed.py: {msg}", file=sys.stderr)
    sys.exit(1)


def request(base, method, path, body=None, headers=None, timeout=30):
    url = urllib.parse.urlsplit(base)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        die(f"refusing a non-loopback server: {base}")
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return resp.status, resp.msg.get_all("Set-Cookie") or [], payload
    finally:
        conn.close()


def cmd_users(args):
    with open(args.out, "w") as f:
        for i in range(args.count):
            email = f"bench.user.{i:05d}@example.com"
            # 20 random letters and digits: ~119 bits, far above any zxcvbn threshold.
            password = "".join(secrets.choice(ALPHABET) for _ in range(20))
            f.write(f"{email}\t{password}\tBench User {i}\n")


def read_users(path):
    users = []
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                email, password, name = line.split("\t")
                users.append((email, password, name))
    return users


def session_cookie(set_cookies):
    """The `<name>=<value>` pair of the session-token cookie among Set-Cookie headers."""
    for header in set_cookies:
        pair = header.split(";", 1)[0].strip()
        name = pair.split("=", 1)[0]
        if name.endswith("session_token") and "=" in pair and pair.split("=", 1)[1]:
            return pair
    return None


def seed_one(base, auth, user, existing=False):
    email, password, name = user
    if not existing:
        status, _, body = request(base, "POST", "/api/auth/sign-up/email",
                                     {"name": name, "email": email, "password": password})
        if status != 200:
            raise RuntimeError(f"sign-up {email}: HTTP {status}: {body}")
    status, cookies, body = request(base, "POST", "/api/auth/sign-in/email",
                                       {"email": email, "password": password})
    if status != 200:
        raise RuntimeError(f"sign-in {email}: HTTP {status}: {body}")
    if auth == "bearer":
        token = isinstance(body, dict) and body.get("token")
        if not token:
            raise RuntimeError(f"sign-in {email}: no token in {body}")
        return email, f"Authorization: Bearer {token}"
    pair = session_cookie(cookies)
    if not pair:
        raise RuntimeError(f"sign-in {email}: no session cookie in {cookies}")
    return email, f"Cookie: {pair}"


def check_session(base, email, header_line):
    name, value = header_line.split(":", 1)
    status, _, body = request(base, "GET", "/api/auth/get-session", headers={name: value.strip()})
    if status != 200 or not isinstance(body, dict) or not body.get("session") \
            or (body.get("user") or {}).get("email") != email:
        die(f"get-session with {name} for {email} did not answer its session: HTTP {status}: {body}")


def cmd_seed(args):
    users = read_users(args.users)
    started = time.monotonic()
    results = [None] * len(users)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        futures = {pool.submit(seed_one, args.base, args.auth, u, args.existing): i for i, u in enumerate(users)}
        for fut in concurrent.futures.as_completed(futures):
            try:
                results[futures[fut]] = fut.result()
            except Exception as e:  # noqa: BLE001 - report and stop
                pool.shutdown(cancel_futures=True)
                die(f"{args.base}: {e}")
    with open(args.out, "w") as f:
        for _, line in results:
            f.write(line + "\n")
    # Check a few sessions (first, middle, last) really resolve.
    for idx in sorted({0, len(results) // 2, len(results) - 1}):
        check_session(args.base, *results[idx])
    print(f"seeded {len(users)} users on {args.base} ({args.auth}) in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)


def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if args.pid:
            try:
                os.kill(args.pid, 0)
            except ProcessLookupError:
                die(f"{args.base}: server process {args.pid} exited before it was ready")
        try:
            status, _, body = request(args.base, "GET", "/api/auth/ok", timeout=2)
            if status == 200 and isinstance(body, dict) and body.get("ok") is True:
                return
            last = f"HTTP {status}: {body}"
        except OSError as e:
            last = str(e)
        time.sleep(0.2)
    die(f"{args.base}: not ready after {args.timeout} s ({last})")


def cmd_access(args):
    with open(args.sessions) as f:
        lines = [line.strip() for line in f if line.strip()]
    if not lines:
        die(f"no sessions in {args.sessions}")

    def one(line):
        name, value = line.split(":", 1)
        status, _, body = request(args.base, "GET", "/api/auth/token", headers={name: value.strip()})
        token = isinstance(body, dict) and body.get("token")
        if status != 200 or not token:
            raise RuntimeError(f"GET /api/auth/token: HTTP {status}: {body}")
        return token

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        try:
            tokens = list(pool.map(one, lines))
        except Exception as e:  # noqa: BLE001 - report and stop
            die(f"{args.base}: {e}")
    with open(args.out, "w") as f:
        f.writelines(t + "\n" for t in tokens)


def password_grant(base, user):
    email, password, _ = user
    status, _, body = request(base, "POST", "/api/auth/token",
                              {"grant_type": "password", "email": email, "password": password})
    if status != 200 or not isinstance(body, dict) or not body.get("refresh_token") \
            or not body.get("access_token"):
        raise RuntimeError(f"password grant {email}: HTTP {status}: {body}")
    return body["refresh_token"]


def cmd_refresh(args):
    users = read_users(args.users)
    started = time.monotonic()
    picks = [users[i % len(users)] for i in range(args.count)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.concurrency) as pool:
        try:
            tokens = list(pool.map(lambda u: password_grant(args.base, u), picks))
        except Exception as e:  # noqa: BLE001 - report and stop
            die(f"{args.base}: {e}")
    # One rotation as a check; keep the successor (the old token is now spent).
    status, _, body = request(args.base, "POST", "/api/auth/token",
                              {"grant_type": "refresh_token", "refresh_token": tokens[0]})
    successor = isinstance(body, dict) and body.get("refresh_token")
    if status != 200 or not successor or successor == tokens[0]:
        die(f"{args.base}: refresh grant did not rotate: HTTP {status}: {body}")
    tokens[0] = successor
    if len(set(tokens)) != len(tokens):
        die(f"{args.base}: two password grants answered the same refresh token")
    with open(args.out, "w") as f:
        f.writelines(t + "\n" for t in tokens)
    print(f"started {len(tokens)} token sessions on {args.base} in "
          f"{time.monotonic() - started:.1f} s", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("users")
    u.add_argument("--count", type=int, required=True)
    u.add_argument("--out", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--base", required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--auth", choices=["bearer", "cookie"], required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--concurrency", type=int, default=8)
    s.add_argument("--existing", action="store_true",
                   help="the users exist already: sign each in, no sign-up")
    w = sub.add_parser("wait")
    w.add_argument("--base", required=True)
    w.add_argument("--timeout", type=float, default=60)
    w.add_argument("--pid", type=int)
    a = sub.add_parser("access")
    a.add_argument("--base", required=True)
    a.add_argument("--sessions", required=True)
    a.add_argument("--out", required=True)
    a.add_argument("--concurrency", type=int, default=8)
    r = sub.add_parser("refresh")
    r.add_argument("--base", required=True)
    r.add_argument("--users", required=True)
    r.add_argument("--count", type=int, required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--concurrency", type=int, default=8)
    args = p.parse_args()
    {"users": cmd_users, "seed": cmd_seed, "wait": cmd_wait, "access": cmd_access,
     "refresh": cmd_refresh}[args.cmd](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The social sign-in callback of bench/run (lib/social.sh): Portcullis' own share of it.

  social.py --base URL --issuer URL --timing FILE --count N [--warmup W] > social.json

Plays the browser, one sign-in at a time, against Portcullis at URL whose provider `acme` is the
loopback oidc-provider (tests/oidc-provider/server.mjs) at --issuer, started with
PORTCULLIS_OIDC_TIMING=1 so that it prints one line `{"timing": {method, path, ms}}` per request
it answers, into FILE. Each sign-in: POST /api/auth/sign-in/social (a fresh subject as the login
hint), the provider's redirects and its sign-in, then the timed request: GET of the callback URL
(state lookup, code exchange at the provider's token endpoint, ID token check with its JWKS, user
upsert, session, cookie, 302). The provider's time for that callback is the sum of the timing lines
of the requests Portcullis made to it meanwhile (the browser is idle then, so every line that
appears during the callback is Portcullis'); Portcullis' share = callback time - provider time.
The first pass signs up N new users, the second signs the same N in again (returning users);
W sign-ins of each kind before them are not counted (warm-up: connections, JWKS cache).

Prints one JSON object: for "new" and "returning", p50/p99/mean of the callback, provider and
Portcullis times in ms, the provider requests per callback, and failures. Exits non-zero if any
sign-in fails. Standard library only; loopback only; every request has a timeout.
"""

import argparse
import base64
import http.client
import json
import secrets
import statistics
import sys
import time
import urllib.parse

LOOPBACK = ("127.0.0.1", "localhost", "::1")
BROWSER_PATHS = ("/auth", "/interaction/", "/test/")


def die(msg):
    print(f"social.py: {msg}", file=sys.stderr)
    sys.exit(1)


class Browser:
    """A cookie jar by host:port (paths ignored, as the tests' browser) and one kept-alive
    connection per host:port, as a browser's."""

    def __init__(self):
        self.jar = {}
        self.conns = {}

    def conn(self, url):
        key = (url.hostname, url.port)
        if url.hostname not in LOOPBACK:
            die(f"refusing a non-loopback server: {url.geturl()}")
        if key not in self.conns:
            self.conns[key] = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        return self.conns[key]

    def close(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}

    def request(self, method, address, body=None, headers=None):
        url = urllib.parse.urlsplit(address)
        key = f"{url.hostname}:{url.port}"
        hdrs = dict(headers or {})
        cookies = self.jar.get(key, {})
        if cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        path = url.path + (f"?{url.query}" if url.query else "")
        for attempt in (0, 1):
            conn = self.conn(url)
            try:
                conn.request(method, path, body=data, headers=hdrs)
                resp = conn.getresponse()
                payload = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                del self.conns[(url.hostname, url.port)]
                if attempt:
                    raise
        for name, value in resp.getheaders():
            if name.lower() != "set-cookie":
                continue
            pair = value.split(";", 1)[0]
            k, _, v = pair.partition("=")
            gone = "max-age=0" in value.lower() or not v
            jar = self.jar.setdefault(key, {})
            if gone:
                jar.pop(k.strip(), None)
            else:
                jar[k.strip()] = v
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), payload


def timing_lines(path, offset):
    """The provider's timing records after byte `offset` of its log, and the new offset."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    records = []
    for line in data[:end].splitlines():
        try:
            t = json.loads(line).get("timing")
        except ValueError:
            continue
        if t:
            records.append(t)
    return records, offset + end


def sign_in(args, browser, subject):
    """One sign-in; answers (callback ms, provider ms, Portcullis ms, provider requests) or
    raises."""
    claims = {"sub": subject, "email": f"{subject}@bench.example", "email_verified": True,
              "name": "Bench User", "picture": "https://img.example/bench.png"}
    hint = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    status, _, body = browser.request(
        "POST", f"{args.base}/api/auth/sign-in/social",
        {"provider": "acme", "callbackURL": "/dashboard", "loginHint": hint},
        {"Origin": args.base})
    if status != 200:
        raise RuntimeError(f"sign-in/social answered {status}: {body[:200]!r}")
    url = json.loads(body)["url"]
    for _ in range(10):
        if url.startswith(args.base):
            break
        status, headers, body = browser.request("GET", url)
        if status not in (302, 303):
            raise RuntimeError(f"provider answered {status} at {url}: {body[:200]!r}")
        url = urllib.parse.urljoin(url, headers["location"])
    else:
        raise RuntimeError("too many redirects at the provider")
    # Everything the provider printed so far belongs to the browser's part.
    _, offset = timing_lines(args.timing, args.offset)
    t0 = time.perf_counter()
    status, headers, body = browser.request("GET", url)
    callback_ms = (time.perf_counter() - t0) * 1000
    location = headers.get("location", "")
    if status != 302 or location != "/dashboard":
        raise RuntimeError(f"callback answered {status} to {location!r}")
    if "portcullis.session_token" not in browser.jar.get(
            f"{urllib.parse.urlsplit(args.base).hostname}:{urllib.parse.urlsplit(args.base).port}", {}):
        raise RuntimeError("callback set no session cookie")
    records, args.offset = timing_lines(args.timing, offset)
    theirs = [r for r in records if not r["path"].startswith(BROWSER_PATHS)]
    provider_ms = sum(r["ms"] for r in theirs)
    requests = [f"{r['method']} {r['path']}" for r in theirs]
    return callback_ms, provider_ms, callback_ms - provider_ms, requests


def pct(values, q):
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 3) if s else None


def summary(samples):
    out = {"sign_ins": len(samples)}
    for i, name in enumerate(("callback_ms", "provider_ms", "portcullis_ms")):
        values = [s[i] for s in samples]
        out[name] = {"p50": pct(values, 0.5), "p99": pct(values, 0.99),
                     "mean": round(statistics.fmean(values), 3) if values else None}
    requests = {}
    for s in samples:
        for r in s[3]:
            requests[r] = requests.get(r, 0) + 1
    out["provider_requests"] = {k: round(v / max(1, len(samples)), 2) for k, v in requests.items()}
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--timing", required=True)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    args = p.parse_args()
    args.offset = 0
    if args.count <= 0:
        die("--count must be positive")

    run = secrets.token_hex(4)
    browser = Browser()
    status, _, body = browser.request(
        "POST", f"{args.issuer}/test/clients",
        {"client_id": "portcullis-bench", "client_secret": "portcullis-bench-secret",
         "redirect_uris": [f"{args.base}/api/auth/callback/acme"]})
    if status != 200:
        die(f"could not register the client at the provider: {status} {body[:200]!r}")
    browser.close()

    result = {"count": args.count, "warmup": args.warmup}
    subjects = [f"bench-{run}-{i}" for i in range(args.count)]
    warm = [f"bench-{run}-warm-{i}" for i in range(args.warmup)]
    for kind in ("new", "returning"):
        samples, failures = [], []
        for i, subject in enumerate(warm + subjects):
            # A fresh browser per sign-in: no provider session, no old cookies.
            browser = Browser()
            try:
                sample = sign_in(args, browser, subject)
            except Exception as e:  # noqa: BLE001 - every failure is counted and shown
                failures.append(str(e))
                continue
            finally:
                browser.close()
            if i >= len(warm):
                samples.append(sample)
        result[kind] = summary(samples)
        result[kind]["failures"] = len(failures)
        if failures:
            result[kind]["first_failure"] = failures[0]
        print(f"social.py: {kind}: {json.dumps(result[kind])}", file=sys.stderr)
    print(json.dumps(result))
    return 1 if any(result[k]["failures"] for k in ("new", "returning")) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Two Portcullis instances on one database and Redis (bench/run's two-instance table).

  instances.py propagation --a URL --b URL --users users.tsv --samples N
      For each sample: sign a user in on A, read the session on B (so B caches it), sign out on
      A, then ask B every millisecond until it refuses the session. Prints one JSON line with the
      times from sign-out to refusal (p50, p99, max, in ms).

  instances.py limit --a URL --b URL --limit N
      Sends 2N password-reset requests for one address, alternating between A and B, and counts
      the answers: with both instances counting in Redis exactly N pass and N are refused (429).
      Prints {"passed": .., "refused": .., "other": .., "limit": N}.

Standard library only; loopback servers only. Reuses seed.py's request helper.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import read_users, request  # noqa: E402


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def session_of(base, token):
    status, _, body = request(base, "GET", "/api/auth/get-session",
                              headers={"Authorization": f"Bearer {token}"})
    return status == 200 and isinstance(body, dict) and bool(body.get("session"))


def cmd_propagation(args):
    users = read_users(args.users)
    times = []
    for i in range(args.samples):
        email, password, _ = users[i % len(users)]
        status, _, body = request(args.a, "POST", "/api/auth/sign-in/email",
                                  {"email": email, "password": password})
        if status != 200:
            sys.exit(f"instances.py: sign-in on A: HTTP {status}: {body}")
        token = body["token"]
        if not session_of(args.b, token):
            sys.exit("instances.py: B does not see a session A just made")
        status, _, body = request(args.a, "POST", "/api/auth/sign-out",
                                  headers={"Authorization": f"Bearer {token}"})
        if status != 200:
            sys.exit(f"instances.py: sign-out on A: HTTP {status}: {body}")
        ended = time.monotonic()
        while session_of(args.b, token):
            if time.monotonic() - ended > 30:
                sys.exit("instances.py: B still answered the session 30 s after sign-out on A")
            time.sleep(0.001)
        times.append((time.monotonic() - ended) * 1000)
    print(json.dumps({"samples": len(times), "p50_ms": round(percentile(times, 50), 1),
                      "p99_ms": round(percentile(times, 99), 1), "max_ms": round(max(times), 1)}))


def cmd_limit(args):
    counts = {"passed": 0, "refused": 0, "other": 0}
    email = f"limit.{os.getpid()}.{int(time.time())}@bench.example"
    for i in range(2 * args.limit):
        base = args.a if i % 2 == 0 else args.b
        status, _, _ = request(base, "POST", "/api/auth/request-password-reset",
                               {"email": email, "redirectTo": "/reset"})
        key = "passed" if status == 200 else "refused" if status == 429 else "other"
        counts[key] += 1
    counts["limit"] = args.limit
    print(json.dumps(counts))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("propagation")
    s.add_argument("--a", required=True)
    s.add_argument("--b", required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--samples", type=int, default=20)
    s = sub.add_parser("limit")
    s.add_argument("--a", required=True)
    s.add_argument("--b", required=True)
    s.add_argument("--limit", type=int, default=10)
    args = p.parse_args()
    {"propagation": cmd_propagation, "limit": cmd_limit}[args.cmd](args)


if __name__ == "__main__":
    main()

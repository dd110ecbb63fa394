#!/usr/bin/env python3
"""The organizations table of bench/run (lib/organizations.sh): one organization of N members in
Portcullis and in better-auth with its organization plugin, the same data in both.

  organizations.py create   --base URL --session FILE --slug SLUG > organization.json
      Creates the organization through the API as the signed-up user whose header line is in
      FILE (they become its owner, as in both servers); prints {"id": ...}.

  organizations.py fill     --target portcullis|better-auth --sqlite PATH --organization ID
                            --members N > fill.json
      With the server stopped: N - 1 filler users, each a member of ID (so N members with the
      owner), by direct inserts into the server's SQLite file. Each filler row copies the owner's
      own row (user, membership) and changes what must differ, so every column holds what that
      server writes itself. Prints {"members": N, "seconds": ..}.

  organizations.py requests --base URL --target T --session FILE --organization ID --members N
                            --out-prefix P
      Checks the answers (a list-members page holds 100 members with their users and the total;
      has-permission answers success: true), then writes the request lines of lua/requests.lua:
      P-list-members.txt (every page of 100 with limit/offset, in turn) and
      P-has-permission.txt ({"member": ["create"]}, as the owner).

  organizations.py statements --base URL --log FILE --requests P
      Portcullis started with RUST_LOG=sqlx::query=debug writing to FILE: sends the first request
      of P-list-members.txt and P-has-permission.txt once (it may read the session into the
      cache), then five times more, and counts the SQL statements logged while each of those was
      answered; the least of the five is kept (background work may fall in a window). Prints
      {"list_members": {"statements": n, "sql": [...]}, "has_permission": {...}}.

Standard library only; loopback servers only.
"""

import argparse
import json
import os
import re
import sqlite3
import sys
import time
import urllib.parse
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from seed import die, request  # noqa: E402

PAGE = 100
ASK = {"member": ["create"]}

# Each server's tables and column names: users, memberships.
SCHEMA = {
    "portcullis": {
        "user": "users", "member": "organization_members",
        "member_org": "organization_id", "member_user": "user_id", "member_created": "created_at",
    },
    "better-auth": {
        "user": "user", "member": "member",
        "member_org": "organizationId", "member_user": "userId", "member_created": "createdAt",
    },
}


def header_of(path):
    with open(path) as f:
        line = f.readline().strip()
    name, _, value = line.partition(":")
    if not value:
        die(f"no header line in {path}")
    return name.strip(), value.strip()


def headers(args):
    name, value = header_of(args.session)
    # better-auth checks the Origin of cookie-authenticated writes; Portcullis has a bearer.
    return {name: value, "Origin": args.base}


def cmd_create(args):
    status, _, body = request(args.base, "POST", "/api/auth/organization/create",
                              {"name": "Bench organization", "slug": args.slug}, headers(args))
    if status != 200 or not isinstance(body, dict) or not body.get("id"):
        die(f"create: HTTP {status}: {body}")
    print(json.dumps({"id": body["id"]}))


def shifted(value, i):
    """`value` (a time as the server stored it: unix ms, or an ISO string) plus i ms, so that
    filler members keep a distinct, increasing join time."""
    if isinstance(value, (int, float)):
        return value + i
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        t = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(milliseconds=i)
        return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    die(f"cannot shift the time {value!r}")


def cmd_fill(args):
    s = SCHEMA[args.target]
    started = time.monotonic()
    db = sqlite3.connect(args.sqlite, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA synchronous = OFF")
    owner = db.execute(f'SELECT * FROM "{s["member"]}" WHERE "{s["member_org"]}" = ?',
                       (args.organization,)).fetchall()
    if len(owner) != 1:
        die(f"expected the owner alone in {args.organization}, found {len(owner)} members")
    owner = dict(owner[0])
    user = dict(db.execute(f'SELECT * FROM "{s["user"]}" WHERE id = ?',
                           (owner[s["member_user"]],)).fetchone())
    user_cols, member_cols = list(user), list(owner)

    def users():
        for i in range(1, args.members):
            row = dict(user, id=f"fill-u{i:06d}", name=f"Member {i:06d}",
                       email=f"member.{i:06d}@bench.example")
            yield tuple(row[c] for c in user_cols)

    def members():
        for i in range(1, args.members):
            row = dict(owner, id=f"fill-m{i:06d}", role="member")
            row[s["member_user"]] = f"fill-u{i:06d}"
            row[s["member_created"]] = shifted(owner[s["member_created"]], i)
            yield tuple(row[c] for c in member_cols)

    def insert(table, cols, rows):
        names = ", ".join(f'"{c}"' for c in cols)
        marks = ", ".join("?" for _ in cols)
        db.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    db.execute("BEGIN")
    insert(s["user"], user_cols, users())
    insert(s["member"], member_cols, members())
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n = db.execute(f'SELECT COUNT(*) FROM "{s["member"]}" WHERE "{s["member_org"]}" = ?',
                   (args.organization,)).fetchone()[0]
    db.close()
    if n != args.members:
        die(f"filled {n} members, wanted {args.members}")
    print(json.dumps({"members": n, "seconds": round(time.monotonic() - started, 2)}))


def list_path(organization, offset):
    query = urllib.parse.urlencode({"organizationId": organization, "limit": PAGE, "offset": offset})
    return f"/api/auth/organization/list-members?{query}"


def permission_body(organization):
    return {"organizationId": organization, "permissions": ASK}


def cmd_requests(args):
    hdrs = headers(args)
    last = (args.members - 1) // PAGE * PAGE
    for offset in (0, last):
        status, _, body = request(args.base, "GET", list_path(args.organization, offset), None, hdrs)
        if status != 200 or not isinstance(body, dict):
            die(f"{args.target} list-members offset {offset}: HTTP {status}: {str(body)[:300]}")
        members, total = body.get("members") or [], body.get("total")
        want = min(PAGE, args.members - offset)
        if total != args.members or len(members) != want or not members[0].get("user", {}).get("email"):
            die(f"{args.target} list-members offset {offset}: {len(members)} members, total {total}")
    status, _, body = request(args.base, "POST", "/api/auth/organization/has-permission",
                              permission_body(args.organization), hdrs)
    if status != 200 or not isinstance(body, dict) or body.get("success") is not True:
        die(f"{args.target} has-permission: HTTP {status}: {body}")
    header_fields = [f"{k}: {v}" for k, v in hdrs.items()]
    with open(f"{args.out_prefix}-list-members.txt", "w") as f:
        for offset in range(0, args.members, PAGE):
            f.write("\t".join(["GET", list_path(args.organization, offset), "-"] + header_fields) + "\n")
    with open(f"{args.out_prefix}-has-permission.txt", "w") as f:
        body = json.dumps(permission_body(args.organization), separators=(",", ":"))
        f.write("\t".join(["POST", "/api/auth/organization/has-permission", body]
                          + header_fields) + "\n")


def first_request(path):
    with open(path) as f:
        fields = f.readline().rstrip("\n").split("\t")
    method, target, body = fields[0], fields[1], fields[2]
    hdrs = dict(h.split(": ", 1) for h in fields[3:])
    return method, target, (None if body == "-" else json.loads(body)), hdrs


def logged_at(line):
    """The time at the start of a log line (`2026-12-02T10:55:36.088625Z ...`), or None."""
    try:
        return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
    except ValueError:
        return None


def statements_during(args, method, target, body, hdrs):
    """The SQL statements the server logged while answering one request: those logged between
    sending it and reading the answer (the server's background work, such as the revocation
    feed's poll every 250 ms, logs outside that window unless it happens to fall in it: the
    caller takes the least of several tries)."""
    before = os.path.getsize(args.log)
    sent = datetime.now(timezone.utc)
    status, _, _ = request(args.base, method, target, body, hdrs)
    answered = datetime.now(timezone.utc)
    if status != 200:
        die(f"{target}: HTTP {status}")
    time.sleep(0.3)  # let the log reach the file
    with open(args.log, errors="replace") as f:
        f.seek(before)
        lines = [line for line in f if "sqlx::query" in line
                 and (t := logged_at(line)) is not None and sent <= t <= answered]
    sql = []
    for line in lines:
        # The statement from its first FROM on, whitespace folded: what it reads.
        m = re.search(r'db\.statement="(.*?)" rows_', line)
        text = " ".join((m.group(1) if m else line).replace("\\n", " ").split())
        sql.append(text[text.find(" FROM ") + 1:][:160] if " FROM " in text else text[:160])
    return {"statements": len(lines), "sql": sql}


def cmd_statements(args):
    out = {}
    for key, suffix in (("list_members", "list-members"), ("has_permission", "has-permission")):
        method, target, body, hdrs = first_request(f"{args.requests}-{suffix}.txt")
        statements_during(args, method, target, body, hdrs)
        tries = [statements_during(args, method, target, body, hdrs) for _ in range(5)]
        out[key] = min(tries, key=lambda t: t["statements"])
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create")
    c.add_argument("--base", required=True)
    c.add_argument("--session", required=True)
    c.add_argument("--slug", required=True)
    f = sub.add_parser("fill")
    f.add_argument("--target", choices=SCHEMA, required=True)
    f.add_argument("--sqlite", required=True)
    f.add_argument("--organization", required=True)
    f.add_argument("--members", type=int, required=True)
    r = sub.add_parser("requests")
    r.add_argument("--base", required=True)
    r.add_argument("--target", choices=SCHEMA, required=True)
    r.add_argument("--session", required=True)
    r.add_argument("--organization", required=True)
    r.add_argument("--members", type=int, required=True)
    r.add_argument("--out-prefix", required=True)
    s = sub.add_parser("statements")
    s.add_argument("--base", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--requests", required=True)
    args = p.parse_args()
    if getattr(args, "members", 2) < 2:
        die("--members must be at least 2")
    {"create": cmd_create, "fill": cmd_fill, "requests": cmd_requests,
     "statements": cmd_statements}[args.cmd](args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turns the JSON files of one bench/run into the Markdown table it prints.

  report.py --dir RESULTS --nproc N [--date D] [--meta KEY=VALUE ...]

RESULTS holds what the wrk scripts' done() wrote (one JSON object per file):
  portcullis-get-session.json   better-auth-get-session.json    (idle, 64 connections)
  portcullis-sign-in.json       better-auth-sign-in.json        (16 connections)
  portcullis-flood-get-session.json  portcullis-flood-sign-in.json  (both at once)
and hash.json, the line printed by `portcullis bench-hash` ({"ms_per_hash": .., "iterations": ..}).
Token mode (a second table, printed when any of these exist):
  verify-portcullis.json  verify-jose.json           (bench/verify-bench and reference/verify-bench.mjs)
  portcullis-refresh.json  portcullis-pg-refresh.json      (lua/refresh.lua, SQLite / PostgreSQL)
  portcullis-pg-get-session.json                     (the PostgreSQL read baseline)
The limit (a third table, printed when limit-bare-get-session.json exists):
  limit-bare-get-session.json  limit-bare-ok.json      (bench/bare-handler: axum, no middleware)
  limit-portcullis-ok.json  limit-portcullis-get-session-bearer.json
  limit-portcullis-get-session-cookie.json            (all 64 connections, one after another)
The social sign-in table (printed when social.json or social-skipped.json exists): social.json,
  what lib/social.py printed (callback, provider and Portcullis times, new and returning users).
The organizations table (printed when organizations.json or organizations-skipped.json exists):
  org-{portcullis,better-auth}-{list-members,has-permission}.json (lua/requests.lua), and
  org-statements.json (the SQL statements Portcullis ran per request, lib/organizations.py).
The hosted pages table (printed when pages.json exists): what lib/pages.py printed (time per
  page and of the /api/auth/ok baseline, the bytes of each page and what it links).
The scale tables (printed when scale-fill.json / scale-pg-fill.json exist): lib/scale.sh's
  scale-{small,large}-*.json on SQLite and scale-pg-{small,large}-*.json on PostgreSQL (wrk runs,
  start-up, RSS), and scale[-pg]-{fill,db-size,sweep}.json; scale-pg-skipped.json says why there
  is no PostgreSQL table.
A missing file leaves its cells as "n/a". Also writes RESULTS/summary.json with every figure.
"""

import argparse
import json
import os
import sys

TARGETS = {
    "get_session_ratio": 50.0,   # Portcullis get-session throughput >= 50x better-auth
    "get_session_p99_ms": 5.0,   # Portcullis get-session p99 <= 5 ms at 64 connections
    "sign_in_share": 0.90,       # sign-in throughput >= 90 % of cores / hash time
    "flood_p99_factor": 3.0,     # get-session p99 under a sign-in flood <= 3x idle p99
    "verify_per_core": 30000.0,  # portcullis-verify EdDSA verifications per second per core
    "refresh_sqlite_rps": 8000.0,  # refresh-token rotations per second on SQLite, 64 connections
    "refresh_postgres_rps": 5000.0,  # the same on PostgreSQL
    "limiter_cost": 0.05,        # get-session throughput lost to the rate limiter (none exceeded)
    "ok_share": 0.70,            # /api/auth/ok throughput >= 70 % of the bare handler's
    "get_session_share": 0.50,   # get-session (bearer, cookie) >= 50 % of the bare handler's
    "get_session_p99_factor": 2.0,  # get-session p99 <= 2x the bare handler's p99
    "social_callback_p50_ms": 5.0,  # Portcullis' own share of a social callback, p50
    "org_p50_ms": 5.0,           # list-members page / has-permission p50, 10,000 members
    "org_ratio": 20.0,           # ... throughput >= 20x better-auth's with its organization plugin
    "page_p50_ms": 2.0,          # a hosted page (sign-in, account) answered within, p50
    "page_kb": 50.0,             # a hosted page with its stylesheet and script, KB
}


def load(directory, name):
    path = os.path.join(directory, name)
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    # bench-hash might log before its JSON line: take the last line that parses.
    for line in reversed(text.splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def fmt_rps(r):
    return "n/a" if r is None else f"{r['rps']:,.0f} req/s"


def fmt_ms(v):
    if v is None:
        return "n/a"
    return f"{v:.2f} ms" if v < 10 else f"{v:.1f} ms" if v < 100 else f"{v:.0f} ms"


def lat(r, key):
    return None if r is None else r["latency_ms"][key]


def verdict(ok):
    return "n/a" if ok is None else ("✅ met" if ok else "❌ missed")


def errors_of(r):
    if r is None:
        return 0
    return sum(r["errors"].values())


def fmt_num(v, unit="/s"):
    return "n/a" if v is None else f"{v:,.0f} {unit}".rstrip()


def rotations_per_s(r):
    """Successful rotations (200 with a successor) per second of a refresh.lua run."""
    if r is None or not r.get("duration_s"):
        return None
    return r.get("rotations", 0) / r["duration_s"]


def refresh_failures(r):
    """Answers that were not a rotation: invalid_grant, other non-200, wrk errors, starved queue."""
    if r is None:
        return None
    e = r["errors"]
    return (r.get("invalid_grant", 0) + r.get("other_errors", 0) + r.get("starved", 0)
            + e["connect"] + e["read"] + e["write"] + e["timeout"])


def token_table(d, args):
    """The "Token mode" table: (lines, summary dict); no lines when no token result exists."""
    vp, vj = load(d, "verify-portcullis.json"), load(d, "verify-jose.json")
    vb = load(d, "verify-bare.json")
    rs, rp = load(d, "portcullis-refresh.json"), load(d, "portcullis-pg-refresh.json")
    gs, gp = load(d, "portcullis-get-session.json"), load(d, "portcullis-pg-get-session.json")
    if not any((vp, vj, rs, rp, gp)) and not args.token_warn:
        return [], None

    def per_core(v):
        if not v:
            return None
        return v.get("per_cpu_second") or v.get("verifications_per_sec")

    def verif(v):
        if not v:
            return "n/a"
        cores = v.get("cores")
        extra = f" ({cores:.2f} cores busy)" if cores is not None else ""
        return f"{v['verifications_per_sec']:,.0f} /s{extra}"

    def ratio(a, b, digits=1):
        return "n/a" if a is None or not b else f"{a / b:.{digits}f}×"

    v_ratio = ratio(vp and vp["verifications_per_sec"], vj and vj["verifications_per_sec"])
    core_p, core_j = per_core(vp), per_core(vj)
    rot_s, rot_p = rotations_per_s(rs), rotations_per_s(rp)
    get_s = gs["rps"] if gs else None
    get_p = gp["rps"] if gp else None
    fail_s, fail_p = refresh_failures(rs), refresh_failures(rp)
    conns = (rs or rp or {}).get("connections")

    def p50_99(r):
        return "n/a" if r is None else f"{fmt_ms(lat(r, 'p50'))} / {fmt_ms(lat(r, 'p99'))}"

    def cpu(name):
        c = load(d, f"{name}-cpu.json")
        return "n/a" if not c else f"{c['server_cores']:.2f} / {c['machine_cores']:.2f} cores"

    rows = []
    add = rows.append
    add(("access-token verification, 1 thread, EdDSA", "portcullis-verify: " + verif(vp),
         "jose: " + verif(vj), v_ratio, "", ""))
    add(("… verifications per CPU-second (per core)", fmt_num(core_p), fmt_num(core_j),
         ratio(core_p, core_j), f"≥ {TARGETS['verify_per_core']:,.0f} /s per core",
         verdict(None if core_p is None else core_p >= TARGETS["verify_per_core"])))
    core_b = per_core(vb)
    add(("… the signatures alone (ring, no claim checks): the limit, per core", fmt_num(core_p),
         "ring: " + fmt_num(core_b),
         "n/a" if core_p is None or not core_b else f"{core_p / core_b * 100:.0f} % of the limit",
         "", ""))
    add(("refresh rotations, SQLite", fmt_num(rot_s),
         "get-session, SQLite: " + fmt_num(get_s, "req/s"), ratio(rot_s, get_s, 2),
         f"≥ {TARGETS['refresh_sqlite_rps']:,.0f} /s",
         verdict(None if rot_s is None else rot_s >= TARGETS["refresh_sqlite_rps"])))
    add(("refresh p50 / p99, SQLite", p50_99(rs), "get-session: " + p50_99(gs), "", "", ""))
    add(("refresh rotations, PostgreSQL", fmt_num(rot_p),
         "get-session, PostgreSQL: " + fmt_num(get_p, "req/s"), ratio(rot_p, get_p, 2),
         f"≥ {TARGETS['refresh_postgres_rps']:,.0f} /s",
         verdict(None if rot_p is None else rot_p >= TARGETS["refresh_postgres_rps"])))
    add(("refresh p50 / p99, PostgreSQL", p50_99(rp), "get-session: " + p50_99(gp), "", "", ""))
    add(("refresh answers that were not a rotation, SQLite / PostgreSQL",
         f"{'n/a' if fail_s is None else fail_s} / {'n/a' if fail_p is None else fail_p}",
         "", "", "0",
         verdict(None if fail_s is None and fail_p is None else (fail_s or 0) + (fail_p or 0) == 0)))
    add(("CPU: server / whole machine, refresh SQLite · PostgreSQL",
         f"{cpu('portcullis-refresh')} · {cpu('portcullis-pg-refresh')}", "", "", "", ""))
    add(("CPU: server / whole machine, get-session PostgreSQL", cpu("portcullis-pg-get-session"),
         "", "", "", ""))

    header = ("Measurement", "Portcullis", "Baseline (same run)", "Portcullis ÷ baseline",
              "Target", "")
    out = [f"### Token mode — {args.date}, nproc = {args.nproc}"
           + (f", refresh with {conns} connections" if conns else ""), ""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    for m in args.token_meta:
        k, _, v = m.partition("=")
        out.append(f"- {k}: {v}")

    warnings = list(args.token_warn)
    for label, v in (("portcullis-verify", vp), ("jose", vj)):
        if v and v.get("failures"):
            warnings.append(f"{label}: {v['failures']} of {v['verifications']} verifications "
                            "failed during the timed loop — its figure is not trustworthy")
    for label, r in (("refresh, SQLite", rs), ("refresh, PostgreSQL", rp)):
        if r is None:
            continue
        e = r["errors"]
        if refresh_failures(r) or r.get("requests", 0) != r.get("rotations", 0):
            warnings.append(
                f"{label}: {r.get('rotations', 0)} rotations of {r['requests']} requests; "
                f"invalid_grant {r.get('invalid_grant', 0)} (a broken chain), other non-200 "
                f"{r.get('other_errors', 0)}, queue ran dry {r.get('starved', 0)}, timeout "
                f"{e['timeout']}, connect {e['connect']}, read {e['read']}, write {e['write']}")
    if gp is not None and errors_of(gp):
        warnings.append(f"get-session, PostgreSQL: {errors_of(gp)} errors of {gp['requests']} "
                        "requests — its figures are not trustworthy")
    if warnings:
        out.append("")
        out.extend(f"- ⚠️ {w}" for w in warnings)

    summary = {
        "verify": {"portcullis_verify": vp, "jose": vj, "bare_ring": vb,
                   "per_core": {"portcullis_verify": core_p, "jose": core_j}},
        "refresh": {"sqlite": rs, "postgres": rp,
                    "rotations_per_s": {"sqlite": rot_s, "postgres": rot_p}},
        "get_session_baseline": {"sqlite": gs, "postgres": gp},
        "cpu": {n: load(d, f"{n}-cpu.json") for n in (
            "portcullis-refresh", "portcullis-pg-refresh", "portcullis-pg-get-session")},
        "meta": dict(m.partition("=")[::2] for m in args.token_meta),
    }
    return out, summary


def limit_table(d, args, better_auth_get_session):
    """The limit table: Portcullis beside a bare axum handler measured in the same stretch."""
    bare, bare_ok = load(d, "limit-bare-get-session.json"), load(d, "limit-bare-ok.json")
    if bare is None:
        return [], None
    ok = load(d, "limit-portcullis-ok.json")
    bearer = load(d, "limit-portcullis-get-session-bearer.json")
    cookie = load(d, "limit-portcullis-get-session-cookie.json")

    def share(r):
        return r["rps"] / bare["rps"] if r and bare["rps"] > 0 else None

    def pct(v):
        return "n/a" if v is None else f"{v * 100:.0f} %"

    rows = []
    add = rows.append
    add(("bare axum handler, get-session bytes", fmt_rps(bare), "(the limit)", "", "", ""))
    add(("bare axum handler, /api/auth/ok", fmt_rps(bare_ok), "", pct(share(bare_ok)), "", ""))
    for label, r, target in (
            ("Portcullis /api/auth/ok", ok, "ok_share"),
            ("Portcullis get-session, bearer", bearer, "get_session_share"),
            ("Portcullis get-session, cookie", cookie, "get_session_share")):
        v = share(r)
        add((label, fmt_rps(r), "", pct(v), f"≥ {TARGETS[target] * 100:.0f} % of the limit",
             verdict(None if v is None else v >= TARGETS[target])))
    ba = better_auth_get_session["rps"] if better_auth_get_session else None
    for label, r in (("bearer", bearer), ("cookie", cookie)):
        v = r["rps"] / ba if r and ba else None
        add((f"… get-session {label} ÷ better-auth get-session (first table)",
             "n/a" if v is None else f"{v:.0f}×", "", "", f"≥ {TARGETS['get_session_ratio']:.0f}×",
             verdict(None if v is None else v >= TARGETS["get_session_ratio"])))
    p99_bare = lat(bare, "p99")
    for label, r in (("bearer", bearer), ("cookie", cookie)):
        p99 = lat(r, "p99")
        v = p99 / p99_bare if p99 is not None and p99_bare else None
        add((f"get-session p99, {label}", fmt_ms(p99), fmt_ms(p99_bare),
             "n/a" if v is None else f"{v:.1f}× the limit's",
             f"≤ {TARGETS['get_session_p99_factor']:.0f}× the limit's p99",
             verdict(None if v is None else v <= TARGETS["get_session_p99_factor"])))

    def cpu(name):
        c = load(d, f"{name}-cpu.json")
        return "n/a" if not c else f"{c['server_cores']:.2f} / {c['machine_cores']:.2f} cores"

    add(("CPU: server / whole machine, bare · Portcullis bearer", cpu("limit-bare-get-session"),
         cpu("limit-portcullis-get-session-bearer"), "", "", ""))

    header = ("Measurement", "req/s or p99", "the limit's", "share of the limit", "Target", "")
    out = [f"### The limit: a bare axum handler — {args.date}, nproc = {args.nproc}", ""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    out.append("- the limit: axum with no middleware answering a real get-session answer of this "
               "Portcullis as fixed bytes (bench/bare-handler), 64 connections, measured in one "
               "stretch with the Portcullis rows; the ratio column is Portcullis ÷ that limit")
    rounds = [r.get("rounds_rps") for r in (bare, ok, bearer, cookie)]
    if all(rounds) and len({len(r) for r in rounds}) == 1 and len(rounds[0]) > 1:
        per_round = [f"{label} " + " · ".join(f"{x / b * 100:.0f} %" for x, b in zip(r, rounds[0]))
                     for label, r in (("/ok", rounds[1]), ("bearer", rounds[2]),
                                      ("cookie", rounds[3]))]
        out.append(f"- {len(rounds[0])} alternating rounds (bare, /ok, bearer, cookie, bare /ok) of "
                   "the run's duration each, merged (requests over seconds; p99: the rounds' "
                   "median); share of the round's bare handler, round by round: "
                   + "; ".join(per_round))
    warnings = []
    for label, r in (("bare get-session", bare), ("bare ok", bare_ok), ("Portcullis ok", ok),
                     ("Portcullis get-session bearer", bearer),
                     ("Portcullis get-session cookie", cookie)):
        if r is not None and errors_of(r):
            warnings.append(f"{label}: {errors_of(r)} errors of {r['requests']} requests — "
                            "its figures are not trustworthy")
    if warnings:
        out.append("")
        out.extend(f"- ⚠️ {w}" for w in warnings)
    summary = {"bare_get_session": bare, "bare_ok": bare_ok, "ok": ok,
               "get_session_bearer": bearer, "get_session_cookie": cookie,
               "shares": {"ok": share(ok), "bearer": share(bearer), "cookie": share(cookie)}}
    return out, summary


SCALE_BACKENDS = (("scale", "SQLite"), ("scale-pg", "PostgreSQL"))


def scale_table(d, args):
    """The scale tables: each operation on the small and the large database, same run, one table
    per backend (SQLite, then PostgreSQL)."""
    out, summary = [], {}
    for prefix, backend in SCALE_BACKENDS:
        skipped = load(d, f"{prefix}-skipped.json")
        if skipped:
            out.extend(["", f"### Scale — {backend}: skipped ({skipped.get('skipped')})"])
            summary[backend.lower()] = skipped
            continue
        table, figures = scale_backend_table(d, args, prefix, backend)
        if table:
            out.extend([""] + table if out else table)
            summary[backend.lower()] = figures
    return out, summary or None


def scale_backend_table(d, args, prefix, backend):
    """One backend's scale table, from the files $RES/PREFIX-*.json of lib/scale.sh."""
    fill = load(d, f"{prefix}-fill.json")
    if fill is None:
        return [], None
    ops = (("get-session (cache off), 64 conn", "get-session"),
           ("list-sessions, 64 conn", "list-sessions"),
           ("admin user search, email starts with, 4 conn", "search-starts_with"),
           ("admin user search, email contains, 4 conn", "search-contains"),
           ("sign-in, 16 conn", "sign-in"),
           ("refresh rotation, 64 conn", "refresh"))
    rows, summary = [], {"fill": fill}
    add = rows.append
    for label, op in ops:
        small, large = load(d, f"{prefix}-small-{op}.json"), load(d, f"{prefix}-large-{op}.json")
        p_s, p_l = lat(small, "p50"), lat(large, "p50")
        factor = p_l / p_s if p_s and p_l is not None else None
        failed = errors_of(small) or errors_of(large)
        add((label + (f" (⚠️ {failed} errors)" if failed else ""),
             f"{fmt_ms(p_s)} · {fmt_rps(small)}", f"{fmt_ms(p_l)} · {fmt_rps(large)}",
             "n/a" if factor is None else f"{factor:.2f}×", "p50 ≤ 1.5× small",
             verdict(None if factor is None else factor <= 1.5 and not failed)))
        summary[op] = {"small": small, "large": large, "p50_factor": factor}
    during, sweep = load(d, f"{prefix}-large-during-sweep.json"), load(d, f"{prefix}-sweep.json")
    after = load(d, f"{prefix}-large-get-session.json")
    deleted = sweep.get("deleted") if sweep else None
    add(("get-session p99 / max while the sweep runs" +
         (f" ({deleted:,} expired sessions deleted)" if deleted else ""),
         "n/a" if during is None else f"{fmt_ms(lat(during, 'p99'))} / {fmt_ms(lat(during, 'max'))}",
         "after: n/a" if after is None else f"after: {fmt_ms(lat(after, 'p99'))} / {fmt_ms(lat(after, 'max'))}",
         "", "no request blocked (max ≤ 1 s)",
         verdict(None if during is None else lat(during, "max") <= 1000 and not errors_of(during))))
    size = load(d, f"{prefix}-db-size.json")
    sessions = fill.get("sessions") or 0
    users = fill.get("users") or 0
    if size and (sessions + users):
        per_million = size["bytes"] / max(1, sessions) * 1e6 / 2**20
        add(("database size" + (" (pg_database_size)" if backend == "PostgreSQL" else ""),
             f"{size['bytes'] / 2**20:,.0f} MB for {users:,} users and "
             f"{sessions:,} sessions (filled in {fill.get('seconds')} s)",
             f"≈ {per_million:,.0f} MB per million sessions (users included)", "", "", ""))
    st_s, st_l = load(d, f"{prefix}-small-startup.json"), load(d, f"{prefix}-large-startup.json")
    add(("start-up (spawn → first answer), small · large",
         "n/a" if st_s is None else f"{st_s['startup_s']:.2f} s",
         "n/a" if st_l is None else f"{st_l['startup_s']:.2f} s", "", "", ""))
    summary.update({"during_sweep": during, "sweep": sweep, "db_size": size,
                    "startup": {"small": st_s, "large": st_l}})
    rss_settled = (load(d, f"{prefix}-small-rss-settled.json") or {}).get("rss_mb")
    if rss_settled is not None:  # memory is measured once, on the SQLite server
        rss_idle = st_s and st_s.get("rss_idle_mb")
        rss_load = (load(d, f"{prefix}-small-rss-load.json") or {}).get("rss_mb")
        rss_storm = (load(d, f"{prefix}-small-rss-storm.json") or {}).get("rss_mb")

        def mb(v):
            return "n/a" if v is None else f"{v:.0f} MB"

        add(("RSS idle", mb(rss_idle), "", "", "< 32 MB", verdict(None if rss_idle is None else rss_idle < 32)))
        add(("RSS after 64-connection load", mb(rss_load), "", "", "< 128 MB",
             verdict(None if rss_load is None else rss_load < 128)))
        add(("RSS after a sign-in storm (16 conn) · a minute later", mb(rss_storm), mb(rss_settled), "",
             "< 96 MB · < 64 MB",
             verdict(None if rss_storm is None else rss_storm < 96 and rss_settled < 64)))
        summary["rss_mb"] = {"idle": rss_idle, "load": rss_load, "storm": rss_storm,
                             "settled": rss_settled}
    header = ("Measurement", "small database (bench users only)", "large database", "large ÷ small",
              "Target", "")
    out = [f"### Scale — {args.date}, nproc = {args.nproc}, {backend}", ""]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    out.append(f"- large: the bench users plus {users:,} filler users and {sessions:,} filler "
               "sessions (lib/fill.py, a share of them expired for the sweep); session cache off "
               "on both servers, so every get-session and list-sessions reads the database; "
               "cells: p50 · throughput")
    out.append("- admin user search: `GET /api/auth/admin/list-users?searchField=email&"
               "searchOperator=…&searchValue=…` with an administrator's session (made with "
               "`portcullis users create --role admin`), first page (100) and the total; each "
               "search asks for ten bench users (`bench.user.0001` · `user.0001`), none of the "
               "filler; *starts with* is the row an admin UI's search box should use: it reads "
               "the `users_email_lower` index (migration 0011), while *contains* (a pattern that "
               "starts with a wildcard) reads every user")
    if backend == "PostgreSQL":
        out.append("- PostgreSQL: fresh databases (dropped at the end), filled with COPY; the "
                   "database size is pg_database_size after VACUUM ANALYZE")
    return out, summary


def section(d, args, name, first, title):
    """Opens the table of an optional section NAME whose main result is the file FIRST: answers
    (result, its first lines, None), or (None, None, what the table function answers) when the
    section did not run (nothing) or was skipped (NAME-skipped.json: one line saying why)."""
    skipped = load(d, f"{name}-skipped.json")
    result = load(d, first)
    if result is None and skipped is None:
        return None, None, ([], None)
    out = [f"### {title} — {args.date}, nproc = {args.nproc}", ""]
    if skipped is not None:
        out.append(f"- skipped: {skipped['skipped']}")
        return None, None, (out, {"skipped": skipped["skipped"]})
    return result, out, None


def instances_table(d, args):
    """The two-instance table: throughput of one and of two, propagation, the shared limit."""
    one, out, done = section(d, args, "instances", "instances-one.json",
                             "Two instances on one PostgreSQL and Redis")
    if done is not None:
        return done
    a, b = load(d, "instances-both-a.json"), load(d, "instances-both-b.json")
    both = a["rps"] + b["rps"] if a and b else None
    prop, limit = load(d, "instances-propagation.json"), load(d, "instances-limit.json")
    rows = []
    add = rows.append
    add(("get-session, one instance · both at once (load split)", fmt_rps(one),
         "n/a" if both is None else f"{both:,.0f} req/s",
         "n/a" if both is None or not one else f"{both / one['rps']:.2f}×", "", ""))
    add(("sign-out on A → refused on B, p50 / p99 / max",
         "n/a" if prop is None else f"{prop['p50_ms']} ms / {prop['p99_ms']} ms / {prop['max_ms']} ms",
         "" if prop is None else f"{prop['samples']} samples", "", "", ""))
    exact = limit is not None and limit["passed"] == limit["limit"] and limit["other"] == 0
    add(("shared limit: password-reset requests alternating between A and B",
         "n/a" if limit is None else f"{limit['passed']} passed, {limit['refused']} refused"
         + (f", {limit['other']} other" if limit["other"] else ""),
         "" if limit is None else f"limit {limit['limit']}", "", "exactly the limit passes",
         verdict(None if limit is None else exact)))
    header = ("Measurement", "Result", "", "ratio", "Target", "")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    out.append("- both instances run on the same cores as the load generator, so two instances "
               "share the machine rather than double it; the row shows what the shared database "
               "and Redis cost, not a cluster's scaling")
    return out, {"one": one, "both": [a, b], "propagation": prop, "limit": limit}


def social_table(d, args):
    """The social sign-in table: the callback, the provider's part of it, Portcullis' share."""
    r, out, done = section(d, args, "social", "social.json",
                           "Social sign-in callback (loopback oidc-provider)")
    if done is not None:
        return done
    target = TARGETS["social_callback_p50_ms"]

    def p50_99(kind, key):
        x = r[kind][key]
        return f"{fmt_ms(x['p50'])} / {fmt_ms(x['p99'])}"

    rows = []
    for kind, label in (("new", "new user (sign-up)"), ("returning", "returning user")):
        k = r[kind]
        share = k["portcullis_ms"]["p50"]
        rows.append((label, p50_99(kind, "callback_ms"), p50_99(kind, "provider_ms"),
                     p50_99(kind, "portcullis_ms"), f"< {target:.0f} ms p50",
                     verdict(None if share is None else share < target)))
    header = ("Callback, p50 / p99", "whole callback (client)", "provider (its own time)",
              "Portcullis' share", "Target", "")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    out.append("")
    requests = ", ".join(f"{v:g}× {k}" for k, v in r["new"]["provider_requests"].items())
    out.append(f"- {r['count']} sign-ins of each kind, one at a time, after {r['warmup']} not counted; "
               "Portcullis on SQLite; each sign-in a fresh browser (POST /sign-in/social, the "
               "provider's redirects, then the timed GET of the callback); the provider's time is "
               "what it measured answering Portcullis' requests during that callback "
               f"(per new-user callback: {requests or 'none'}); Portcullis' share = callback − "
               "provider, per sign-in, so it includes its HTTP client and the loopback round trips")
    for kind in ("new", "returning"):
        if r[kind]["failures"]:
            out.append(f"- ⚠️ {kind}: {r[kind]['failures']} failed sign-ins "
                       f"(first: {r[kind].get('first_failure', '?')})")
    return out, r


def organizations_table(d, args):
    """The organizations table: list-members pages and has-permission, both servers."""
    r, out, done = section(d, args, "organizations", "organizations.json",
                           "Organizations: one organization of many members, against better-auth")
    if done is not None:
        return done
    stmts = load(d, "org-statements.json") or {}
    rows, summary, warnings = [], {"members": r["members"], "connections": r["connections"]}, []
    for what, label, key in (("list-members", "list-members, a page of 100 (limit/offset)", "list_members"),
                             ("has-permission", "has-permission {member: [create]}", "has_permission")):
        p = load(d, f"org-portcullis-{what}.json")
        b = load(d, f"org-better-auth-{what}.json")
        ratio = None if p is None or b is None or not b["rps"] else p["rps"] / b["rps"]
        p50 = lat(p, "p50")
        ok = None if ratio is None or p50 is None else (
            ratio >= TARGETS["org_ratio"] and p50 < TARGETS["org_p50_ms"])
        n = stmts.get(key, {}).get("statements")
        rows.append((label, fmt_rps(p), f"{fmt_ms(p50)} / {fmt_ms(lat(p, 'p99'))}", fmt_rps(b),
                     f"{fmt_ms(lat(b, 'p50'))} / {fmt_ms(lat(b, 'p99'))}",
                     "n/a" if ratio is None else f"{ratio:.1f}×", "n/a" if n is None else str(n),
                     f"≥ {TARGETS['org_ratio']:.0f}×, p50 < {TARGETS['org_p50_ms']:.0f} ms",
                     verdict(ok)))
        summary[key] = {"portcullis": p, "better_auth": b, "ratio": ratio,
                        "statements": stmts.get(key)}
        for name, x in (("Portcullis", p), ("better-auth", b)):
            if x is not None and errors_of(x):
                warnings.append(f"{name} {what}: {errors_of(x)} errors of {x['requests']} requests")
        if what == "list-members":
            u = load(d, "org-portcullis-unkept-list-members.json")
            if u is not None:
                u_ratio = None if b is None or not b["rps"] else u["rps"] / b["rps"]
                rows.append(("… the same pages with none kept (`member_page_cache_mb = 0`)",
                             fmt_rps(u), f"{fmt_ms(lat(u, 'p50'))} / {fmt_ms(lat(u, 'p99'))}",
                             "", "", "n/a" if u_ratio is None else f"{u_ratio:.1f}×", "", "", ""))
                summary["list_members_unkept"] = {"portcullis": u, "ratio": u_ratio}
                if errors_of(u):
                    warnings.append(f"Portcullis list-members (none kept): {errors_of(u)} errors")
    header = ("Request", "Portcullis", "p50 / p99", "better-auth", "p50 / p99", "ratio",
              "SQL statements (Portcullis)", "Target", "")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    out.append("")
    out.append(f"- {r['members']:,} members; {r['connections']} connections each, the owner's session (Portcullis: bearer; "
               "better-auth: cookie), list-members cycling through every page; both on SQLite, the "
               "same members (filled by direct inserts that copy each server's own rows); "
               "Portcullis keeps the pages it rendered while the organization's members do not "
               "change (checked against the database on every request), so after the warm-up's "
               "first pass its pages are answered from memory; the row under it reads every page "
               "from the database; the statements are counted with no page kept")
    for key, label in (("list_members", "one list-members page"),
                       ("has_permission", "one has-permission")):
        sql = stmts.get(key, {}).get("sql")
        if sql:
            out.append(f"- Portcullis' SQL for {label} (session from its cache): " + "; ".join(
                f"`{s}`" for s in sql))
    out.extend(f"- ⚠️ {w}" for w in warnings)
    return out, summary
def pages_table(d, args):
    """The hosted pages table: time to answer each page beside the baseline, and its weight."""
    r, out, done = section(d, args, "pages", "pages.json", "Hosted pages")
    if done is not None:
        return done
    base = r["baseline"]
    ms_target, kb_target = TARGETS["page_p50_ms"], TARGETS["page_kb"]
    header = ("Page", "p50 / p99", "rendering (p50 − baseline p50)", "HTML", "with stylesheet and script",
              "images but the logo", "Target", "")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    for page, x in r["pages"].items():
        kb = x["total_bytes"] / 1000
        images = len(x["images_besides_logo"]) + len(x["stylesheet_urls"])
        ok = x["ms"]["p50"] < ms_target and kb < kb_target and images == 0
        out.append("| " + " | ".join((
            f"`GET {page}`", f"{fmt_ms(x['ms']['p50'])} / {fmt_ms(x['ms']['p99'])}",
            fmt_ms(x["render_p50_ms"]), f"{x['html_bytes'] / 1000:.1f} KB", f"{kb:.1f} KB",
            str(images), f"p50 < {ms_target:g} ms, < {kb_target:g} KB, 0 images", verdict(ok))) + " |")
    out.append(f"| `GET /api/auth/ok` (baseline) | {fmt_ms(base['p50'])} / {fmt_ms(base['p99'])} "
               "| | | | | | |")
    out.append("")
    out.append(f"- {r['count']} requests of each, one at a time on one kept-alive connection, "
               f"interleaved, after {r['warmup']} not counted; Portcullis on SQLite, /account signed "
               "in (a session cookie); times from sending the request to the last byte read, so they "
               "include the loopback round trip and the Python client, as the baseline does; bytes "
               "are whole answers (status line, headers, body), uncompressed")
    return out, r


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--nproc", type=int, required=True)
    p.add_argument("--date", default="")
    p.add_argument("--meta", action="append", default=[], help="KEY=VALUE shown under the table")
    p.add_argument("--warn", action="append", default=[], help="a warning shown under the table")
    p.add_argument("--token-meta", action="append", default=[],
                   help="KEY=VALUE shown under the token-mode table")
    p.add_argument("--token-warn", action="append", default=[],
                   help="a warning shown under the token-mode table")
    args = p.parse_args()
    d = args.dir

    pg, bg = load(d, "portcullis-get-session.json"), load(d, "better-auth-get-session.json")
    ps, bs = load(d, "portcullis-sign-in.json"), load(d, "better-auth-sign-in.json")
    fg, fs = load(d, "portcullis-flood-get-session.json"), load(d, "portcullis-flood-sign-in.json")
    lg = load(d, "portcullis-limited-get-session.json")
    ug = load(d, "portcullis-unlimited-get-session.json")
    hb = load(d, "hash.json")
    hp = load(d, "hash-parallel.json")

    get_ratio = pg["rps"] / bg["rps"] if pg and bg and bg["rps"] > 0 else None
    sign_ratio = ps["rps"] / bs["rps"] if ps and bs and bs["rps"] > 0 else None
    ms_per_hash = hb.get("ms_per_hash") if isinstance(hb, dict) else None
    bound = args.nproc * 1000.0 / ms_per_hash if ms_per_hash else None
    share = ps["rps"] / bound if ps and bound else None
    ms_parallel = hp.get("ms_per_hash") if isinstance(hp, dict) else None
    bound_parallel = args.nproc * 1000.0 / ms_parallel if ms_parallel else None
    share_parallel = ps["rps"] / bound_parallel if ps and bound_parallel else None
    p99_idle, p99_flood = lat(pg, "p99"), lat(fg, "p99")
    flood_factor = p99_flood / p99_idle if p99_idle and p99_flood is not None else None

    rows = []
    add = rows.append
    add(("get-session throughput, 64 conn", fmt_rps(pg), fmt_rps(bg),
         "n/a" if get_ratio is None else f"{get_ratio:.1f}×",
         f"≥ {TARGETS['get_session_ratio']:.0f}× better-auth",
         verdict(None if get_ratio is None else get_ratio >= TARGETS["get_session_ratio"])))
    add(("get-session p50, 64 conn", fmt_ms(lat(pg, "p50")), fmt_ms(lat(bg, "p50")), "", "", ""))
    add(("get-session p99, 64 conn", fmt_ms(lat(pg, "p99")), fmt_ms(lat(bg, "p99")), "",
         f"≤ {TARGETS['get_session_p99_ms']:.0f} ms",
         verdict(None if pg is None else lat(pg, "p99") <= TARGETS["get_session_p99_ms"])))
    add(("sign-in throughput, 16 conn", fmt_rps(ps), fmt_rps(bs),
         "n/a" if sign_ratio is None else f"{sign_ratio:.2f}×", "", ""))
    add(("sign-in p50 / p99, 16 conn",
         "n/a" if ps is None else f"{fmt_ms(lat(ps, 'p50'))} / {fmt_ms(lat(ps, 'p99'))}",
         "n/a" if bs is None else f"{fmt_ms(lat(bs, 'p50'))} / {fmt_ms(lat(bs, 'p99'))}", "", "", ""))
    add(("hash bound (nproc ÷ time of one hash)",
         "n/a" if bound is None else f"{bound:,.1f} hash/s ({ms_per_hash:.1f} ms/hash, {args.nproc} cores)",
         "", "", "", ""))
    add(("sign-in share of hash bound",
         "n/a" if share is None else f"{share * 100:.0f} %", "", "",
         f"≥ {TARGETS['sign_in_share'] * 100:.0f} %",
         verdict(None if share is None else share >= TARGETS["sign_in_share"])))
    if bound_parallel is None:
        parallel = "n/a"
    else:
        parallel = f"{bound_parallel:,.1f} hash/s ({ms_parallel:.1f} ms/hash)"
        if share_parallel is not None:
            parallel += f"; sign-in at {share_parallel * 100:.0f} % of it"
    add(("… hash bound with every core hashing at once", parallel, "", "", "", ""))
    add(("get-session p99 idle → during sign-in flood",
         "n/a" if flood_factor is None else
         f"{fmt_ms(p99_idle)} → {fmt_ms(p99_flood)} ({flood_factor:.1f}×)",
         "", "", f"≤ {TARGETS['flood_p99_factor']:.0f}× idle",
         verdict(None if flood_factor is None else flood_factor <= TARGETS["flood_p99_factor"])))
    add(("… get-session / sign-in throughput during flood",
         "n/a" if fg is None or fs is None else f"{fmt_rps(fg)} / {fmt_rps(fs)}", "", "", "", ""))

    def cpu(name):
        c = load(d, f"{name}-cpu.json")
        if not c:
            return "n/a"
        return f"{c['server_cores']:.2f} / {c['machine_cores']:.2f} cores"

    add(("CPU: server / whole machine, get-session", cpu("portcullis-get-session"),
         cpu("better-auth-get-session"), "", "", ""))
    add(("CPU: server / whole machine, sign-in", cpu("portcullis-sign-in"),
         cpu("better-auth-sign-in"), "", "", ""))
    add(("CPU: server / whole machine, flood", cpu("portcullis-flood-get-session"), "", "", "", ""))
    limiter_cost = 1 - lg["rps"] / ug["rps"] if lg and ug and ug["rps"] > 0 else None
    add(("get-session with rate limits on (none exceeded) · 3rd column: limits off, in alternating rounds",
         fmt_rps(lg), fmt_rps(ug),
         "n/a" if limiter_cost is None else f"{limiter_cost * 100:+.1f} % cost",
         f"≤ {TARGETS['limiter_cost'] * 100:.0f} % slower",
         verdict(None if limiter_cost is None else limiter_cost <= TARGETS["limiter_cost"])))

    header = ("Measurement", "Portcullis", "better-auth", "Portcullis ÷ better-auth", "Target", "")
    out = []
    out.append(f"### Portcullis vs better-auth — {args.date}, nproc = {args.nproc}")
    out.append("")
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "|".join(["---"] * len(header)) + "|")
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    out.append("")
    for m in args.meta:
        k, _, v = m.partition("=")
        out.append(f"- {k}: {v}")

    warnings = list(args.warn)
    for label, r in (("Portcullis get-session", pg), ("better-auth get-session", bg),
                     ("Portcullis sign-in", ps), ("better-auth sign-in", bs),
                     ("Portcullis get-session during flood", fg), ("Portcullis sign-in flood", fs)):
        if r is not None and errors_of(r):
            e = r["errors"]
            warnings.append(f"{label}: {errors_of(r)} errors of {r['requests']} requests "
                            f"(non-2xx {e['status']}, timeout {e['timeout']}, connect {e['connect']}, "
                            f"read {e['read']}, write {e['write']}) — its figures are not trustworthy")
    if warnings:
        out.append("")
        out.extend(f"- ⚠️ {w}" for w in warnings)

    limit_out, limit_summary = limit_table(d, args, bg)
    if limit_out:
        out.append("")
        out.extend(limit_out)

    scale_out, scale_summary = scale_table(d, args)
    if scale_out:
        out.append("")
        out.extend(scale_out)

    inst_out, inst_summary = instances_table(d, args)
    if inst_out:
        out.append("")
        out.extend(inst_out)

    social_out, social_summary = social_table(d, args)
    if social_out:
        out.append("")
        out.extend(social_out)

    org_out, org_summary = organizations_table(d, args)
    if org_out:
        out.append("")
        out.extend(org_out)
    pages_out, pages_summary = pages_table(d, args)
    if pages_out:
        out.append("")
        out.extend(pages_out)

    token_out, token_summary = token_table(d, args)
    if token_out:
        out.append("")
        out.extend(token_out)

    print("\n".join(out))

    summary = {
        "date": args.date, "nproc": args.nproc, "targets": TARGETS,
        "portcullis": {"get_session": pg, "sign_in": ps, "flood_get_session": fg, "flood_sign_in": fs},
        "better_auth": {"get_session": bg, "sign_in": bs},
        "hash": hb, "hash_bound_per_s": bound, "hash_parallel": hp,
        "hash_parallel_bound_per_s": bound_parallel, "sign_in_share_of_parallel_bound": share_parallel, "get_session_ratio": get_ratio,
        "sign_in_ratio": sign_ratio, "sign_in_share_of_bound": share,
        "flood_p99_factor": flood_factor,
        "limiter_cost": limiter_cost,
        "cpu": {n: load(d, f"{n}-cpu.json") for n in (
            "portcullis-get-session", "better-auth-get-session", "portcullis-sign-in",
            "better-auth-sign-in", "portcullis-flood-get-session")},
        "meta": dict(m.partition("=")[::2] for m in args.meta),
        "tokens": token_summary,
        "limit": limit_summary,
        "scale": scale_summary,
        "instances": inst_summary,
        "social": social_summary,
        "organizations": org_summary,
        "pages": pages_summary,
    }
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

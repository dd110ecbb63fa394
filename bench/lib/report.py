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
A missing file leaves its cells as "n/a". Also writes RESULTS/summary.json with every figure.
"""

import argparse
import json
import os
import sys

TARGETS = {
    "get_session_ratio": 20.0,   # Portcullis get-session throughput >= 20x better-auth
    "get_session_p99_ms": 5.0,   # Portcullis get-session p99 <= 5 ms at 64 connections
    "sign_in_share": 0.90,       # sign-in throughput >= 90 % of cores / hash time
    "flood_p99_factor": 3.0,     # get-session p99 under a sign-in flood <= 3x idle p99
    "verify_per_core": 15000.0,  # portcullis-verify EdDSA verifications per second per core
    "refresh_sqlite_rps": 3000.0,  # refresh-token rotations per second on SQLite, 64 connections
    "limiter_cost": 0.10,        # get-session throughput lost to the rate limiter (none exceeded)
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
    add(("refresh rotations, SQLite", fmt_num(rot_s),
         "get-session, SQLite: " + fmt_num(get_s, "req/s"), ratio(rot_s, get_s, 2),
         f"≥ {TARGETS['refresh_sqlite_rps']:,.0f} /s",
         verdict(None if rot_s is None else rot_s >= TARGETS["refresh_sqlite_rps"])))
    add(("refresh p50 / p99, SQLite", p50_99(rs), "get-session: " + p50_99(gs), "", "", ""))
    add(("refresh rotations, PostgreSQL", fmt_num(rot_p),
         "get-session, PostgreSQL: " + fmt_num(get_p, "req/s"), ratio(rot_p, get_p, 2), "", ""))
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
        "verify": {"portcullis_verify": vp, "jose": vj,
                   "per_core": {"portcullis_verify": core_p, "jose": core_j}},
        "refresh": {"sqlite": rs, "postgres": rp,
                    "rotations_per_s": {"sqlite": rot_s, "postgres": rot_p}},
        "get_session_baseline": {"sqlite": gs, "postgres": gp},
        "cpu": {n: load(d, f"{n}-cpu.json") for n in (
            "portcullis-refresh", "portcullis-pg-refresh", "portcullis-pg-get-session")},
        "meta": dict(m.partition("=")[::2] for m in args.token_meta),
    }
    return out, summary


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
    add(("get-session with rate limits on (none exceeded) · 3rd column: limits off, measured right after",
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
    }
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Turns the JSON files of one bench/run into the Markdown table it prints.

  report.py --dir RESULTS --nproc N [--date D] [--meta KEY=VALUE ...]

RESULTS holds what the wrk scripts' done() wrote (one JSON object per file):
  portcullis-get-session.json   better-auth-get-session.json    (idle, 64 connections)
  portcullis-sign-in.json       better-auth-sign-in.json        (16 connections)
  portcullis-flood-get-session.json  portcullis-flood-sign-in.json  (both at once)
and hash.json, the line printed by `portcullis bench-hash` ({"ms_per_hash": .., "iterations": ..}).
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--nproc", type=int, required=True)
    p.add_argument("--date", default="")
    p.add_argument("--meta", action="append", default=[], help="KEY=VALUE shown under the table")
    p.add_argument("--warn", action="append", default=[], help="a warning shown under the table")
    args = p.parse_args()
    d = args.dir

    pg, bg = load(d, "portcullis-get-session.json"), load(d, "better-auth-get-session.json")
    ps, bs = load(d, "portcullis-sign-in.json"), load(d, "better-auth-sign-in.json")
    fg, fs = load(d, "portcullis-flood-get-session.json"), load(d, "portcullis-flood-sign-in.json")
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

    print("\n".join(out))

    summary = {
        "date": args.date, "nproc": args.nproc, "targets": TARGETS,
        "portcullis": {"get_session": pg, "sign_in": ps, "flood_get_session": fg, "flood_sign_in": fs},
        "better_auth": {"get_session": bg, "sign_in": bs},
        "hash": hb, "hash_bound_per_s": bound, "hash_parallel": hp,
        "hash_parallel_bound_per_s": bound_parallel, "sign_in_share_of_parallel_bound": share_parallel, "get_session_ratio": get_ratio,
        "sign_in_ratio": sign_ratio, "sign_in_share_of_bound": share,
        "flood_p99_factor": flood_factor,
        "cpu": {n: load(d, f"{n}-cpu.json") for n in (
            "portcullis-get-session", "better-auth-get-session", "portcullis-sign-in",
            "better-auth-sign-in", "portcullis-flood-get-session")},
        "meta": dict(m.partition("=")[::2] for m in args.meta),
    }
    with open(os.path.join(d, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

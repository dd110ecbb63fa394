#!/usr/bin/env python3
"""Merges the wrk results of alternating rounds into one result, for bench/run.

    rounds.py DIR NAME ROUNDS

reads DIR/NAME-r1.json … DIR/NAME-rROUNDS.json (and their -cpu.json) and writes DIR/NAME.json
and DIR/NAME-cpu.json. Two loads compared on a shared machine are run in turns (A B A B …) so
that a drift in the machine's other load hits both alike; one pair of 10 s runs differs by more
than what some rows measure.

Throughput is all requests over all seconds. Latency percentiles cannot be merged exactly from
wrk's summaries: each is the median of the rounds' (the max is the max). The rounds' own rates are
kept in `rounds_rps` for the report.
"""

import json
import os
import statistics
import sys


def read(path):
    with open(path) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def merge(results):
    requests = sum(r["requests"] for r in results)
    duration = sum(r["duration_s"] for r in results)
    latency = {k: statistics.median(r["latency_ms"][k] for r in results)
               for k in ("min", "mean", "p50", "p90", "p99")}
    latency["min"] = min(r["latency_ms"]["min"] for r in results)
    latency["max"] = max(r["latency_ms"]["max"] for r in results)
    errors = {k: sum(r["errors"][k] for r in results) for k in results[0]["errors"]}
    return {
        "requests": requests,
        "duration_s": round(duration, 3),
        "rps": round(requests / duration, 2) if duration > 0 else 0.0,
        "bytes": sum(r["bytes"] for r in results),
        "latency_ms": latency,
        "errors": errors,
        "rounds_rps": [round(r["rps"], 2) for r in results],
    }


def main():
    directory, name, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parts = [os.path.join(directory, f"{name}-r{i}") for i in range(1, rounds + 1)]
    with open(os.path.join(directory, f"{name}.json"), "w") as f:
        f.write(json.dumps(merge([read(p + ".json") for p in parts])) + "\n")
    cpus = [read(p + "-cpu.json") for p in parts if os.path.exists(p + "-cpu.json")]
    if cpus:
        cpu = {k: round(statistics.mean(c[k] for c in cpus), 2) for k in cpus[0]}
        with open(os.path.join(directory, f"{name}-cpu.json"), "w") as f:
            f.write(json.dumps(cpu) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Runs the benchmark programs and their peers fairly, and writes the medians for
tools/bench_report.py.

Usage: bench_runner.py BAZEL_BIN RUN_DIR [--runs N] [--only SUITE,...] [--trial]

--trial skips the check for live mxgrid servers (to try the runner while other work runs on
the machine); bench_report.py refuses to record a trial's figures.

The method (docs/benchmarks.md, "How we measure"):
- Every program runs in its own fresh process; a suite's mxgrid program and its peer are run
  alternately, RUNS rounds (default 5), the side that goes first alternating between rounds.
- No mxgrid server is alive while a peer is timed: before each peer run the runner waits for
  every mxgrid-* process to exit (and fails if one does not within 20 s).
- Thread settings are each side's defaults: OMP_*, KMP_*, MKL_*, MXNET_*, OPENBLAS_* and
  MXGRID_* variables are removed from every program's environment.
- Each figure is the median over the rounds, with its min and max (the spread).

A program prints JSON lines: {"metric", "value", "unit"} (one figure) or a finished row
{"name", "unit", "mxgrid", "peer", "peer_value", "better"} (both sides measured inside the
program, e.g. against memcpy or a bare gRPC service). RUN_DIR/medians.jsonl gets one line per
figure: metrics of a peer program are named "peer:<metric>", with "value" (the median),
"min", "max" and "runs"; rows get the median "mxgrid" and "peer_value" and a "spread".
RUN_DIR/raw.jsonl keeps every run's lines.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PY = os.path.join(ROOT, ".venv", "bin", "python")
BENCH = os.path.join(ROOT, "tests", "bench")
SERVER_NAMES = ("mxgrid-worker", "mxgrid-compiler", "mxgrid-kvstore")
CLEAN_PREFIXES = ("OMP_", "KMP_", "MKL_", "MXNET_", "OPENBLAS_", "MXGRID_", "GOMP_", "DNNL_")


def suites(bin_dir, scratch):
    """{name: (mxgrid argv, peer argv or None, rounds or None for the default)}."""
    exe = lambda name: [os.path.join(bin_dir, "tests", "bench", name)]  # noqa: E731
    py = lambda script, *args: [PY, os.path.join(BENCH, script), *args]  # noqa: E731
    return {
        "ops": (exe("ops_bench"), py("mxnet_ops_peer.py"), None),
        "executor": (exe("executor_bench"), py("mxnet_executor_peer.py"), None),
        "ndarray": (exe("ndarray_bench") + [scratch], py("mxnet_peer.py", scratch), None),
        "user": (py("user_code_bench.py", "mxgrid"), py("user_code_bench.py", "mxnet"), None),
        "transfer": (py("transfer_bench.py", "mxgrid"), py("transfer_bench.py", "peer"), None),
        "startup": (py("first_result_bench.py", "mxgrid"), py("first_result_bench.py", "mxnet"),
                    None),
        "idle": (py("idle_bench.py", "mxgrid"), py("idle_bench.py", "mxnet"), 3),
        "engine": (exe("engine_bench"), None, 3),
        "net": (exe("net_bench"), None, 3),
        # Alternates alone/flooded three times inside one run.
        "fairness": (exe("fairness_bench"), None, 1),
        # 2 workers x 2 servers: mxgrid through tools/launch vs MXNet 1.9.1 over ps-lite.
        "dist": (py("dist_kvstore_bench.py", "mxgrid"), py("dist_kvstore_bench.py", "ps-lite"),
                 None),
    }


def clean_env(bin_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN_PREFIXES)}
    env["MXGRID_BAZEL_BIN"] = bin_dir  # where the client finds the servers (not a setting)
    return env


def live_servers():
    """(pid, name) of every running mxgrid server process."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/comm" % pid) as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm.startswith(SERVER_NAMES):
            found.append((int(pid), comm))
    return found


def wait_no_servers(timeout=20.0):
    deadline = time.monotonic() + timeout
    while True:
        alive = live_servers()
        if not alive:
            return
        if time.monotonic() > deadline:
            sys.exit("bench_runner: mxgrid servers still alive (%s); a peer must not be timed "
                     "while they run" % ", ".join("%s pid %d" % (n, p) for p, n in alive))
        time.sleep(0.2)


def run_one(argv, env, side, trial):
    """Runs one program; returns (its JSON lines, wall seconds)."""
    if side == "peer" and not trial:
        wait_no_servers()
    tic = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT)
    wall = time.perf_counter() - tic
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        sys.exit("bench_runner: %s exited with %d" % (" ".join(argv), proc.returncode))
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.strip().startswith("{")]
    return lines, wall


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def aggregate(raw):
    """Medians (with min/max) of every metric and row over the rounds."""
    metrics, rows = {}, {}
    for rec in raw:
        line, side = rec["line"], rec["side"]
        if "metric" in line:
            name = line["metric"] if side == "mxgrid" else "peer:" + line["metric"]
            metrics.setdefault(name, (line.get("unit", ""), []))[1].append(line["value"])
        elif "name" in line:
            rows.setdefault(line["name"], []).append(line)
    out = []
    for name, (unit, values) in metrics.items():
        out.append({"metric": name, "value": median(values), "min": min(values),
                    "max": max(values), "runs": len(values), "unit": unit})
    for name, lines in rows.items():
        row = dict(lines[-1])
        mine = [l["mxgrid"] for l in lines]
        peer = [l["peer_value"] for l in lines]
        row["mxgrid"], row["peer_value"] = median(mine), median(peer)
        row["spread"] = {"mxgrid": [min(mine), max(mine)], "peer": [min(peer), max(peer)],
                         "runs": len(lines)}
        out.append(row)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin_dir")
    parser.add_argument("run_dir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default="")
    parser.add_argument("--trial", action="store_true")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="mxgrid-bench-")
    table = suites(os.path.abspath(args.bin_dir), scratch)
    chosen = [s for s in args.only.split(",") if s] or list(table)
    env = clean_env(os.path.abspath(args.bin_dir))
    raw = []
    with open("/proc/loadavg") as f:
        print("bench_runner: load average before the run: %s" % f.read().strip(),
              file=sys.stderr)
    for suite in chosen:
        mine, peer, rounds = table[suite]
        rounds = rounds or args.runs
        for r in range(rounds):
            order = [("mxgrid", mine), ("peer", peer)]
            if r % 2:
                order.reverse()
            for side, argv in order:
                if argv is None:
                    continue
                lines, wall = run_one(argv, env, side, args.trial)
                if suite == "startup":
                    lines.append({"metric": "startup_wall_s", "value": wall, "unit": "s"})
                raw += [{"suite": suite, "side": side, "round": r, "line": l} for l in lines]
                print("bench_runner: %s %s round %d/%d: %.1f s" % (suite, side, r + 1, rounds,
                                                                  wall), file=sys.stderr)
    os.makedirs(args.run_dir, exist_ok=True)
    with open(os.path.join(args.run_dir, "raw.jsonl"), "w") as f:
        for rec in raw:
            f.write(json.dumps(rec) + "\n")
    with open(os.path.join(args.run_dir, "medians.jsonl"), "w") as f:
        if args.trial:
            f.write(json.dumps({"trial": True}) + "\n")
        for line in aggregate(raw):
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()

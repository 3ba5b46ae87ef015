#!/usr/bin/env python3
"""Tiny imperative operator calls through the Python client, synchronous and pipelined
(mx.connect(..., pipeline=True)), against MXNet 1.9.1 in this same process.

N = 2000 calls on 1-element float32 arrays on cpu: `c = a + b` (a new array per call, the
previous one dropped), then `a += 1` (in place); the time includes a final asnumpy() of the
last result (which waits for everything); 200 warm-up calls, best of 3 runs, microseconds
per call.

Usage: client_ops_bench.py  (binaries from $MXGRID_BAZEL_BIN or <repo>/bazel-bin)
Prints a human summary on stderr and JSON rows on stdout, in the format tools/bench_report.py
merges into docs/benchmarks.json.
"""
import json
import os
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import mxgrid  # noqa: E402

N, WARMUP, RUNS = 2000, 200, 3


def loop_add(m, n):
    a, b = m.nd.ones((1,)), m.nd.ones((1,))
    m.nd.waitall()
    tic = time.perf_counter()
    c = None
    for _ in range(n):
        c = a + b
    c.asnumpy()
    return (time.perf_counter() - tic) / n * 1e6


def loop_iadd(m, n):
    a = m.nd.ones((1,))
    m.nd.waitall()
    tic = time.perf_counter()
    for _ in range(n):
        a += 1
    value = a.asnumpy()[0]
    elapsed = (time.perf_counter() - tic) / n * 1e6
    assert value == n + 1, value
    return elapsed


def measure(m):
    loop_add(m, WARMUP)
    loop_iadd(m, WARMUP)
    return {"add": min(loop_add(m, N) for _ in range(RUNS)),
            "iadd": min(loop_iadd(m, N) for _ in range(RUNS))}


def main():
    import mxnet
    cluster = mxgrid.LocalCluster(num_workers=1, num_kvstore=0).start()
    res = {}
    try:
        for mode, pipeline in (("sync", False), ("pipelined", True)):
            mxgrid.connect(worker=cluster.workers[0], compiler=cluster.compiler,
                           pipeline=pipeline)
            res[mode] = measure(mxgrid)
    finally:
        mxgrid.disconnect()
        cluster.stop()
    res["mxnet"] = measure(mxnet)
    what = {"add": "c = a + b", "iadd": "a += 1"}
    rows = []
    for op in ("add", "iadd"):
        print("%-9s x%d on 1-element arrays: sync %.1f us/op, pipelined %.1f us/op, "
              "MXNet 1.9.1 %.1f us/op (pipelined/sync %.2f, pipelined/MXNet %.2f)"
              % (what[op], N, res["sync"][op], res["pipelined"][op], res["mxnet"][op],
                 res["pipelined"][op] / res["sync"][op],
                 res["pipelined"][op] / res["mxnet"][op]), file=sys.stderr)
        for mode in ("sync", "pipelined"):
            rows.append({"name": "client_ops_%s_%s: Python client `%s` on 1-element float32 "
                                 "arrays, %s operator calls, us per call over %d calls incl. final asnumpy"
                                 % (op, mode, what[op], "synchronous" if mode == "sync"
                                    else "pipelined (InvokeStream)", N),
                         "unit": "us", "mxgrid": round(res[mode][op], 2),
                         "peer": "MXNet 1.9.1 NDArray in process",
                         "peer_value": round(res["mxnet"][op], 2), "better": "lower"})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()

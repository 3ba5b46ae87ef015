#!/usr/bin/env python3
"""CPU used while idle: after some work, with the session (or MXNet's engine) still open,
nothing runs for WINDOW seconds; the CPU time every process of the side used meanwhile, in
percent of one core.

Usage: idle_bench.py mxnet|mxgrid
mxgrid: an embedded cluster of three servers (compiler, worker, one kvstore shard) and this
client; MXNet 1.9.1: this process (its engine and OpenMP threads).
Prints {"metric": "idle_cpu_percent", ...} on stdout.
"""
import json
import os
import sys
import time

WINDOW = 8.0
IMPL = sys.argv[1] if len(sys.argv) > 1 else "mxnet"
if IMPL == "mxgrid":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "clients", "python"))
    import mxgrid as mx
    from mxgrid import connection
    cluster = mx.LocalCluster(num_workers=1, num_kvstore=1).start()
    mx.connect(worker=cluster.workers[0], compiler=cluster.compiler, kvstore=cluster.kvstore)
    pids = [os.getpid()] + list(cluster.pids.values())
else:
    import mxnet as mx
    cluster = None
    pids = [os.getpid()]


def cpu_seconds():
    total = 0.0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


a = mx.nd.ones((1000, 1000))
for _ in range(20):
    a = mx.nd.dot(a, a) / 1000.0
a.asnumpy()
time.sleep(1.0)
before, tic = cpu_seconds(), time.monotonic()
time.sleep(WINDOW)
used = cpu_seconds() - before
print(json.dumps({"metric": "idle_cpu_percent", "value": round(
    used / (time.monotonic() - tic) * 100, 3), "unit": "% of a core"}), flush=True)
if cluster is not None:
    mx.disconnect()
    cluster.stop()

#!/usr/bin/env python3
"""Host <-> worker transfers through the Python client: `mx.nd.array(x).asnumpy()` round
trips of a 256 MiB float32 array on the embedded cluster (worker on this host), through
shared memory (clients/python/mxgrid/_shm.py) and through the gRPC streams (MXGRID_SHM=0),
and their peers, each side in its own process (tools/bench_runner.py alternates them):

- `transfer_bench.py mxgrid`: the two mxgrid paths, alternated, and memcpy (one 256 MiB
  np.copyto into an already-touched destination) in the same process; through shared
  memory also a named array's round trip (`a = mx.nd.array(x); a.asnumpy()`: two copies,
  where the temporary of `mx.nd.array(x).asnumpy()` hands its slot over and copies once);
- `transfer_bench.py peer`: a bare gRPC Python stream (a trivial grpc server in another
  process, generic handlers, raw bytes, no protobuf: the client streams the array's chunks
  up, the server streams them back, joined into one buffer) and memcpy; no mxgrid server runs.

Targets (issue 10): shared memory >= 0.5x memcpy (bandwidth = size / round-trip time); the
gRPC streams >= 0.8x the bare stream. Each figure is the median of RUNS round trips after a
warm-up. Page faults per round trip are getrusage's minflt of this process and of the worker
process (/proc/<pid>/stat).

Usage: transfer_bench.py mxgrid|peer [--mib 256] [--runs 7]  (binaries from
$MXGRID_BAZEL_BIN or <repo>/bazel-bin). Prints a human summary on stderr and
{"metric", "value", "unit"} lines on stdout.
"""
import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from concurrent import futures

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

PEER_CHUNK = 4 << 20
_UPLOAD = "/bench.Bare/Upload"
_DOWNLOAD = "/bench.Bare/Download"


# -- the bare gRPC peer -----------------------------------------------------------------------
def serve_peer(port):
    """A trivial grpc Python server: Upload joins the chunks it gets into one buffer and
    answers its size; Download streams that buffer back in PEER_CHUNK pieces."""
    import grpc
    state = {"buf": b""}

    def upload(chunks, _context):
        parts = list(chunks)
        state["buf"] = b"".join(parts)
        return len(state["buf"]).to_bytes(8, "little")

    def download(_request, _context):
        view = memoryview(state["buf"])
        for off in range(0, len(view), PEER_CHUNK):
            yield view[off:off + PEER_CHUNK].tobytes()

    handler = grpc.method_handlers_generic_handler("bench.Bare", {
        "Upload": grpc.stream_unary_rpc_method_handler(upload),
        "Download": grpc.unary_stream_rpc_method_handler(download)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler],
                         options=[("grpc.max_receive_message_length", -1),
                                  ("grpc.max_send_message_length", -1)])
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    server.wait_for_termination()


def peer_round_trip(channel, x):
    data = memoryview(x.reshape(-1)).cast("B")
    up = channel.stream_unary(_UPLOAD)
    down = channel.unary_stream(_DOWNLOAD)
    up(data[off:off + PEER_CHUNK].tobytes() for off in range(0, len(data), PEER_CHUNK))
    out = bytearray(len(data))
    off = 0
    for chunk in down(b""):
        out[off:off + len(chunk)] = chunk
        off += len(chunk)
    return np.frombuffer(out, dtype=x.dtype).reshape(x.shape)


# -- measurements -------------------------------------------------------------------------------
def minflt_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def timed(fn, worker_pid=None):
    """(seconds, client minflt, worker minflt) of one call."""
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    w0 = minflt_of(worker_pid) if worker_pid else 0
    tic = time.perf_counter()
    fn()
    dt = time.perf_counter() - tic
    f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    w1 = minflt_of(worker_pid) if worker_pid else 0
    return dt, f1 - f0, w1 - w0


def emit(metric, value, unit):
    print(json.dumps({"metric": metric, "value": round(float(value), 4), "unit": unit}),
          flush=True)


def median_of(samples, index=0):
    return float(np.median([s[index] for s in samples]))


def measure_peer(args, x, nbytes):
    import grpc
    dst = np.ones_like(x)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--peer-server",
                               str(port)])
    try:
        channel = grpc.insecure_channel("127.0.0.1:%d" % port, options=[
            ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
        grpc.channel_ready_future(channel).result(timeout=30)
        np.testing.assert_array_equal(peer_round_trip(channel, x), x)
        samples = {"memcpy": [], "bare": []}
        for _ in range(args.runs):
            samples["memcpy"].append(timed(lambda: np.copyto(dst, x)))
            samples["bare"].append(timed(lambda: peer_round_trip(channel, x)))
    finally:
        server.kill()
        server.wait()
    bare, memcpy = nbytes / median_of(samples["bare"]) / 1e9, \
        nbytes / median_of(samples["memcpy"]) / 1e9
    print("peer: bare gRPC Python stream round trip %.2f GB/s, memcpy %.2f GB/s"
          % (bare, memcpy), file=sys.stderr)
    emit("transfer_bare_grpc_gbps", bare, "GB/s")
    emit("transfer_memcpy_gbps", memcpy, "GB/s")


def measure_mxgrid(args, x, nbytes):
    import mxgrid
    from mxgrid import _shm, connection
    dst = np.ones_like(x)
    cluster = mxgrid.LocalCluster(num_workers=1, num_kvstore=0).start()
    worker_pid = dict(cluster.processes)["worker0"].pid
    mxgrid.connect(worker=cluster.workers[0], compiler=cluster.compiler)

    def mx_round_trip():
        return mxgrid.nd.array(x).asnumpy()  # a temporary: its slot is handed over

    def mx_named_round_trip():
        a = mxgrid.nd.array(x)
        return a.asnumpy()  # `a` lives: the worker copies it out

    def shm_mode(on):
        os.environ["MXGRID_SHM"] = "1" if on else "0"

    samples = {k: [] for k in ("memcpy", "shm", "shm_named", "grpc")}
    try:
        for on in (True, False):  # warm-up and check
            shm_mode(on)
            np.testing.assert_array_equal(mx_round_trip(), x)
        pool = _shm.pool_of(connection.get())
        if pool is None or not pool.usable:
            raise SystemExit("shared memory is not in use: is the worker on this host?")
        for _ in range(args.runs):
            samples["memcpy"].append(timed(lambda: np.copyto(dst, x)))
            shm_mode(True)
            samples["shm"].append(timed(mx_round_trip, worker_pid))
            samples["shm_named"].append(timed(mx_named_round_trip, worker_pid))
            shm_mode(False)
            samples["grpc"].append(timed(mx_round_trip, worker_pid))
    finally:
        mxgrid.disconnect()
        cluster.stop()
    res = {k: nbytes / median_of(v) / 1e9 for k, v in samples.items()}
    print("mxgrid: %d MiB round trip, median of %d: shm %.2f GB/s (faults client %.0f, worker "
          "%.0f), named array %.2f GB/s, gRPC streams %.2f GB/s (faults client %.0f, worker "
          "%.0f), memcpy %.2f GB/s"
          % (args.mib, args.runs, res["shm"], median_of(samples["shm"], 1),
             median_of(samples["shm"], 2), res["shm_named"], res["grpc"],
             median_of(samples["grpc"], 1), median_of(samples["grpc"], 2), res["memcpy"]),
          file=sys.stderr)
    emit("transfer_shm_gbps", res["shm"], "GB/s")
    emit("transfer_shm_named_gbps", res["shm_named"], "GB/s")
    emit("transfer_grpc_gbps", res["grpc"], "GB/s")
    emit("transfer_memcpy_gbps", res["memcpy"], "GB/s")
    for mode in ("shm", "grpc"):
        emit("transfer_%s_faults" % mode,
             median_of(samples[mode], 1) + median_of(samples[mode], 2), "faults")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("side", nargs="?", choices=["mxgrid", "peer"], default="mxgrid")
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--peer-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_server:
        serve_peer(args.peer_server)
        return
    nbytes = args.mib << 20
    x = np.random.RandomState(0).rand(nbytes // 4).astype(np.float32)
    if args.side == "peer":
        measure_peer(args, x, nbytes)
    else:
        measure_mxgrid(args, x, nbytes)


if __name__ == "__main__":
    main()

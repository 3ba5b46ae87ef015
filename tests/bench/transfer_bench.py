#!/usr/bin/env python3
"""Host <-> worker transfers through the Python client: `mx.nd.array(x).asnumpy()` round
trips of a 256 MiB float32 array on the embedded cluster (worker on this host), through
shared memory (clients/python/mxgrid/_shm.py) and through the gRPC streams (MXGRID_SHM=0),
against the peers measured in the same run:

- memcpy: one 256 MiB np.copyto into an already-touched destination (the issue's yardstick:
  shared memory should reach >= 0.5x of it, bandwidth = 256 MiB / round-trip time);
- a bare gRPC Python stream: a trivial grpc server (another process, generic handlers, raw
  bytes, no protobuf) that receives the 256 MiB as a client stream of chunks, then streams
  them back; the client sends slices of the numpy array and joins the answer into one
  buffer (the network path should reach >= 0.8x of it);
- MXNet 1.9.1's mx.nd.array(x).asnumpy() in this process, when mxnet is importable.

Each figure is the median of RUNS round trips after a warm-up, alternating the modes so that
the noise of a shared machine hits them alike. Page faults per round trip are getrusage's
minflt of this process, and of the worker process (/proc/<pid>/stat).

Usage: transfer_bench.py [--mib 256] [--runs 7]  (binaries from $MXGRID_BAZEL_BIN or
<repo>/bazel-bin). Prints a human summary on stderr and JSON rows on stdout, in the format
tools/bench_report.py merges into docs/benchmarks.json.
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--peer-server", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_server:
        serve_peer(args.peer_server)
        return

    import grpc
    import mxgrid
    from mxgrid import _shm, connection

    nbytes = args.mib << 20
    x = np.random.RandomState(0).rand(nbytes // 4).astype(np.float32)
    dst = np.ones_like(x)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    peer = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--peer-server",
                             str(port)])
    channel = grpc.insecure_channel("127.0.0.1:%d" % port, options=[
        ("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)])
    grpc.channel_ready_future(channel).result(timeout=30)

    cluster = mxgrid.LocalCluster(num_workers=1, num_kvstore=0).start()
    worker_pid = dict(cluster.processes)["worker0"].pid
    mxgrid.connect(worker=cluster.workers[0], compiler=cluster.compiler)

    def mx_round_trip():
        return mxgrid.nd.array(x).asnumpy()

    def shm_mode(on):
        os.environ["MXGRID_SHM"] = "1" if on else "0"

    samples = {k: [] for k in ("memcpy", "shm", "grpc", "peer", "mxnet")}
    try:
        for on in (True, False):  # warm-up and check
            shm_mode(on)
            np.testing.assert_array_equal(mx_round_trip(), x)
        np.testing.assert_array_equal(peer_round_trip(channel, x), x)
        pool = _shm.pool_of(connection.get())
        if pool is None or not pool.usable:
            raise SystemExit("shared memory is not in use: is the worker on this host?")
        for _ in range(args.runs):
            samples["memcpy"].append(timed(lambda: np.copyto(dst, x)))
            shm_mode(True)
            samples["shm"].append(timed(mx_round_trip, worker_pid))
            shm_mode(False)
            samples["grpc"].append(timed(mx_round_trip, worker_pid))
            samples["peer"].append(timed(lambda: peer_round_trip(channel, x)))
    finally:
        mxgrid.disconnect()
        cluster.stop()
        peer.kill()
        peer.wait()
    try:
        import mxnet
        mxnet.nd.array(x).asnumpy()
        for _ in range(args.runs):
            samples["mxnet"].append(timed(lambda: mxnet.nd.array(x).asnumpy()))
    except ImportError:
        pass

    def gbps(key):
        return nbytes / np.median([s[0] for s in samples[key]]) / 1e9

    def faults(key, index):
        return float(np.median([s[index] for s in samples[key]]))

    res = {k: gbps(k) for k in samples if samples[k]}
    print("%d MiB round trip mx.nd.array(x).asnumpy(), median of %d: shm %.2f GB/s "
          "(%.2fx memcpy %.2f GB/s; faults/round trip client %.0f worker %.0f), gRPC streams "
          "%.2f GB/s (%.2fx bare gRPC Python %.2f GB/s; faults client %.0f worker %.0f)%s"
          % (args.mib, args.runs, res["shm"], res["shm"] / res["memcpy"], res["memcpy"],
             faults("shm", 1), faults("shm", 2), res["grpc"], res["grpc"] / res["peer"],
             res["peer"], faults("grpc", 1), faults("grpc", 2),
             ", MXNet 1.9.1 %.2f GB/s" % res["mxnet"] if "mxnet" in res else ""),
          file=sys.stderr)
    what = "%d MiB float32 `mx.nd.array(x).asnumpy()` round trip on the embedded cluster" % (
        args.mib)
    rows = [
        {"name": "transfer_shm_roundtrip: %s through shared memory, GB/s (size / time), "
                 "median of %d" % (what, args.runs),
         "unit": "GB/s", "mxgrid": round(res["shm"], 3),
         "peer": "one %d MiB np.copyto (memcpy) in the same run" % args.mib,
         "peer_value": round(res["memcpy"], 3), "better": "higher"},
        {"name": "transfer_grpc_roundtrip: %s through the gRPC streams (MXGRID_SHM=0), GB/s, "
                 "median of %d" % (what, args.runs),
         "unit": "GB/s", "mxgrid": round(res["grpc"], 3),
         "peer": "bare gRPC Python stream of the same bytes (generic handlers, %d MiB chunks)"
                 % (PEER_CHUNK >> 20),
         "peer_value": round(res["peer"], 3), "better": "higher"},
        {"name": "transfer_shm_page_faults: minor page faults of the client per %s through "
                 "shared memory (the gRPC streams' for peer)" % what,
         "unit": "faults", "mxgrid": faults("shm", 1),
         "peer": "the same round trip through the gRPC streams (MXGRID_SHM=0)",
         "peer_value": faults("grpc", 1), "better": "lower"},
        {"name": "transfer_shm_worker_page_faults: minor page faults of the worker per %s "
                 "through shared memory (the gRPC streams' for peer)" % what,
         "unit": "faults", "mxgrid": faults("shm", 2),
         "peer": "the same round trip through the gRPC streams (MXGRID_SHM=0)",
         "peer_value": faults("grpc", 2), "better": "lower"},
    ]
    if "mxnet" in res:
        rows.append({"name": "transfer_shm_vs_mxnet: %s through shared memory, GB/s" % what,
                     "unit": "GB/s", "mxgrid": round(res["shm"], 3),
                     "peer": "MXNet 1.9.1 mx.nd.array(x).asnumpy() in process",
                     "peer_value": round(res["mxnet"], 3), "better": "higher"})
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()

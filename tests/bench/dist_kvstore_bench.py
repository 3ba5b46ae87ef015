#!/usr/bin/env python3
"""Distributed KVStore benchmarks, 2 workers x 2 servers on loopback: mxgrid (tools/launch:
mxgrid-kvstore shards, mxgrid-workers as the parameter-server clients) against MXNet 1.9.1's
own dist_sync over ps-lite (scheduler, servers and workers as separate processes with the
DMLC_* environment, as MXNet's tools/launch.py --launcher local starts them).

Usage: dist_kvstore_bench.py mxgrid|ps-lite [--mb 100] [--iters 10] [--steps 50] [--quick]

Each side runs the same worker code (``_worker`` below, under `import mxgrid as mx` or
`import mxnet as mx`) in two jobs, each on freshly started servers:

- push+pull: a float32 model of --mb MB as 20 arrays (5 MB each: above MXNet's big-array
  bound of 1e6 elements, so split across both servers) and as 2,000 arrays (50 KB each:
  whole on one server); per iteration each worker pushes every array (a gradient of ones)
  then pulls every array, then waits (mx.nd.waitall). Throughput = bytes this worker pushed
  and pulled (2 x model size) / median iteration time, rank 0's figure. The pulled values
  are checked (the sum over the workers), so a broken run cannot report a figure.
- row_sparse: an embedding of 100,000 x 128 float32 (51 MB, split across both servers);
  SGD (learning rate 1) on the servers; per iteration each worker pushes a row_sparse
  gradient of 1,024 rows (ones; the same random rows on both ranks, new ones each
  iteration) and row_sparse_pulls those rows, then waits. Median milliseconds per
  iteration, rank 0's. The pulled rows are checked (lazy SGD: each lost the workers' sum
  per round it was pushed in), and so is one row nobody pushed (untouched).
- training step: MLP 784-128-64-10, batch 128 per worker, Module bound with the dist_sync
  store, SGD momentum on the servers; forward_backward + update per step; the time of
  --steps steps after a warm-up, ended by reading a weight back, per step.

Metrics (stdout JSON lines {"metric", "value", "unit"}; the same names on both sides,
tools/bench_runner.py prefixes the peer's with "peer:"):
  dist_push_pull_20_gbps, dist_push_pull_2000_gbps, dist_row_sparse_step_ms,
  dist_train_step_ms
A human summary goes to stderr. Processes of a side are torn down before it exits.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LAUNCH = os.path.join(ROOT, "tools", "launch")
NUM_WORKERS = 2
NUM_SERVERS = 2
JOB_TIMEOUT = 300.0  # seconds one job (start, measure, stop) may take


# -- the worker side (one process per rank, under either implementation) -----------------
def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def _push_pull(mx, kv, num_arrays, total_bytes, iters, base_key):
    """Median seconds of one push-all + pull-all iteration of ``num_arrays`` arrays."""
    import numpy as np
    n = total_bytes // 4 // num_arrays
    keys = list(range(base_key, base_key + num_arrays))
    grads = [mx.nd.ones((n,)) for _ in keys]
    outs = [mx.nd.zeros((n,)) for _ in keys]
    tic = time.perf_counter()
    kv.init(keys, [mx.nd.zeros((n,)) for _ in keys])
    mx.nd.waitall()
    init_s = time.perf_counter() - tic
    times, phases = [], []
    for i in range(iters + 2):  # two warm-up iterations
        if mx.__name__ == "mxnet":  # untimed: MXNet's dist push sends the array itself
            for g in grads:         # (comm_buf_) and its pull writes into it: refill
                g[:] = 1
        mx.nd.waitall()
        kv._barrier()
        tic = time.perf_counter()
        kv.push(keys, grads)
        pushed = time.perf_counter()
        kv.pull(keys, out=outs)
        pulled = time.perf_counter()
        mx.nd.waitall()
        if i >= 2:
            times.append(time.perf_counter() - tic)
            phases.append((pushed - tic, pulled - pushed, tic + times[-1] - pulled))
    if kv.rank == 0:  # where an iteration's time goes (the push / pull calls, the wait)
        p = sorted(phases, key=sum)[len(phases) // 2]
        sys.stderr.write("%d arrays: init %.2f s; median iteration %.1f ms = push call %.1f + "
                         "pull call %.1f + wait %.1f ms\n" % (
                             num_arrays, init_s, sum(p) * 1e3, p[0] * 1e3, p[1] * 1e3,
                             p[2] * 1e3))
    for o in (outs[0], outs[-1]):  # no optimizer: the stored value is the sum of the pushes
        got = o.asnumpy()
        if not np.all(got == kv.num_workers):
            raise SystemExit("push+pull check failed: pulled %s, expected %d everywhere"
                             % (got[:4], kv.num_workers))
    return _median(times)


EMBEDDING = (100000, 128)
ROWS_PER_STEP = 1024


def _row_sparse_step(mx, kv, iters):
    """Median seconds of one row_sparse push + row_sparse_pull of ROWS_PER_STEP rows, SGD
    (learning rate 1, lazy) on the servers."""
    import numpy as np
    kv.set_optimizer(mx.optimizer.create("sgd", learning_rate=1.0))
    # Every row stored (MXNet's servers refuse a row_sparse init without rows).
    kv.init("embedding", mx.nd.ones(EMBEDDING).tostype("row_sparse"))
    mx.nd.waitall()
    pushes = np.zeros(EMBEDDING[0])  # rounds each row was pushed in (both ranks push it)
    times = []
    for i in range(iters + 2):  # two warm-up iterations
        rows = np.sort(np.random.RandomState(i).choice(EMBEDDING[0] - 1, ROWS_PER_STEP,
                                                        replace=False))
        pushes[rows] += 1
        ids = mx.nd.array(rows, dtype=np.int64)
        grad = mx.nd.sparse.row_sparse_array(
            (np.ones((ROWS_PER_STEP, EMBEDDING[1]), np.float32), rows), shape=EMBEDDING)
        out = mx.nd.zeros(EMBEDDING, stype="row_sparse")
        mx.nd.waitall()
        kv._barrier()
        tic = time.perf_counter()
        kv.push("embedding", grad)
        kv.row_sparse_pull("embedding", out=out, row_ids=ids)
        mx.nd.waitall()
        if i >= 2:
            times.append(time.perf_counter() - tic)
        # Lazy SGD: each pushed row lost the workers' sum of ones per round it was pushed in.
        want = 1 - kv.num_workers * pushes[rows]
        got = out.data.asnumpy()
        if not (np.array_equal(out.indices.asnumpy(), rows) and
                np.all(got == want[:, None])):
            raise SystemExit("row_sparse check failed: rows %s values %s, expected %s"
                             % (rows[:3], got[:3, 0], want[:3]))
    last = mx.nd.zeros(EMBEDDING, stype="row_sparse")  # never pushed: untouched (lazy)
    kv.row_sparse_pull("embedding", out=last,
                       row_ids=mx.nd.array([EMBEDDING[0] - 1], dtype=np.int64))
    if not np.all(last.data.asnumpy() == 1):
        raise SystemExit("row_sparse check failed: a row nobody pushed changed")
    return _median(times)


def _mlp(mx):
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def _train_step(mx, kv, steps):
    """Seconds per Module forward_backward + update step."""
    import numpy as np
    rng = np.random.RandomState(kv.rank)
    batch = mx.io.DataBatch(data=[mx.nd.array(rng.rand(128, 784).astype(np.float32))],
                            label=[mx.nd.array(rng.randint(0, 10, 128).astype(np.float32))])
    mod = mx.mod.Module(_mlp(mx), context=mx.cpu())
    mod.bind(data_shapes=[("data", (128, 784))], label_shapes=[("softmax_label", (128,))])
    mod.init_params(mx.init.Xavier())
    mod.init_optimizer(kvstore=kv, optimizer="sgd",
                       optimizer_params={"learning_rate": 0.01, "momentum": 0.9})
    for _ in range(5):  # warm-up
        mod.forward_backward(batch)
        mod.update()
    mod.get_params()[0]["fc1_weight"].asnumpy()
    kv._barrier()
    tic = time.perf_counter()
    for _ in range(steps):
        mod.forward_backward(batch)
        mod.update()
    weight = mod.get_params()[0]["fc1_weight"].asnumpy()
    elapsed = time.perf_counter() - tic
    if not np.all(np.isfinite(weight)):
        raise SystemExit("training step check failed: non-finite weights")
    return elapsed / steps


def worker_main(args):
    if args.impl == "mxgrid":
        sys.path.insert(0, os.path.join(ROOT, "clients", "python"))
        import mxgrid as mx
    else:
        import mxnet as mx
    kv = mx.kv.create("dist_sync")
    out = {"rank": kv.rank, "num_workers": kv.num_workers}
    total = int(args.mb * 1e6)
    if args.what == "pushpull":
        for count, base in ((20, 0), (2000, 100)):
            t = _push_pull(mx, kv, count, total, args.iters, base)
            out["dist_push_pull_%d_gbps" % count] = 2 * total / t / 1e9
    elif args.what == "rows":
        out["dist_row_sparse_step_ms"] = _row_sparse_step(mx, kv, args.iters) * 1e3
    else:
        out["dist_train_step_ms"] = _train_step(mx, kv, args.steps) * 1e3
    with open(os.path.join(args.out, "rank%d.json" % kv.rank), "w") as f:
        json.dump(out, f)


# -- the orchestrators --------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _worker_argv(impl, what, out, args):
    return [sys.executable, os.path.abspath(__file__), "_worker", "--impl", impl, "--what",
            what, "--out", out, "--mb", str(args.mb), "--iters", str(args.iters),
            "--steps", str(args.steps)]


def run_pslite(what, out, args):
    """One MXNet job: scheduler, servers, workers as MXNet's local launcher starts them."""
    env = dict(os.environ, DMLC_PS_ROOT_URI="127.0.0.1", DMLC_PS_ROOT_PORT=str(_free_port()),
               DMLC_NUM_WORKER=str(NUM_WORKERS), DMLC_NUM_SERVER=str(NUM_SERVERS),
               DMLC_NODE_HOST="127.0.0.1")
    procs = []
    try:
        for role, count in (("scheduler", 1), ("server", NUM_SERVERS)):
            for _ in range(count):
                procs.append(subprocess.Popen([sys.executable, "-c", "import mxnet"],
                                              env=dict(env, DMLC_ROLE=role),
                                              stdin=subprocess.DEVNULL))
        workers = [subprocess.Popen(_worker_argv("mxnet", what, out, args),
                                    env=dict(env, DMLC_ROLE="worker"),
                                    stdin=subprocess.DEVNULL)
                   for _ in range(NUM_WORKERS)]
        procs += workers
        deadline = time.monotonic() + JOB_TIMEOUT
        for w in workers:
            rc = w.wait(max(1.0, deadline - time.monotonic()))
            if rc != 0:
                raise SystemExit("ps-lite worker exited with %d" % rc)
        for p in procs:  # servers and scheduler exit once rank 0 stops them
            p.wait(max(1.0, deadline - time.monotonic()))
    finally:
        _stop(procs)


def run_mxgrid(what, out, args):
    """One mxgrid job through tools/launch (shards, workers, the scripts)."""
    proc = subprocess.Popen([sys.executable, LAUNCH, "-n", str(NUM_WORKERS), "-s",
                             str(NUM_SERVERS)] + _worker_argv("mxgrid", what, out, args),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = proc.wait(JOB_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the launcher tears its processes down
        proc.wait(20)
        raise SystemExit("tools/launch did not finish within %.0f s" % JOB_TIMEOUT)
    if rc != 0:
        raise SystemExit("tools/launch exited with %d" % rc)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["mxgrid", "ps-lite", "_worker"])
    parser.add_argument("--impl", choices=["mxgrid", "mxnet"])
    parser.add_argument("--what", choices=["pushpull", "rows", "train"])
    parser.add_argument("--out")
    parser.add_argument("--mb", type=float, default=100.0)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="10 MB, 3 iterations, 10 steps")
    args = parser.parse_args()
    if args.quick:
        args.mb, args.iters, args.steps = 10.0, 3, 10
    if args.side == "_worker":
        worker_main(args)
        return
    run = run_mxgrid if args.side == "mxgrid" else run_pslite
    units = {"dist_push_pull_20_gbps": "GB/s", "dist_push_pull_2000_gbps": "GB/s",
             "dist_row_sparse_step_ms": "ms", "dist_train_step_ms": "ms"}
    for what in ("pushpull", "rows", "train"):
        with tempfile.TemporaryDirectory(prefix="dist-bench-") as out:
            tic = time.perf_counter()
            run(what, out, args)
            ranks = []
            for r in range(NUM_WORKERS):
                with open(os.path.join(out, "rank%d.json" % r)) as f:
                    ranks.append(json.load(f))
        for metric, unit in units.items():
            if metric in ranks[0]:
                print(json.dumps({"metric": metric, "value": round(ranks[0][metric], 4),
                                  "unit": unit}), flush=True)
                print("%s %s: %.4g %s (rank 1: %.4g); job %.1f s" % (
                    args.side, metric, ranks[0][metric], unit, ranks[1][metric],
                    time.perf_counter() - tic), file=sys.stderr)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Training step of an MLP through the Python client (mx.mod.Module on a local cluster)
against MXNet 1.9.1's Module in this same process.

MLP 784-128-64-10 (FullyConnected/relu, SoftmaxOutput), SGD lr 0.1, random data; a step is
Module.forward(is_train) + backward + update on a prepared DataBatch; 10 warm-up steps, then
50 timed steps and a final waitall, best of 3 runs, at batch 128 and 1024. Also counts the
RPCs one step makes (by method) and times the step with update_metric('acc') as fit runs
it (one round trip on mxgrid: Forward with backward, update and the outputs' values).

Usage: client_mlp_bench.py  (binaries from $MXGRID_BAZEL_BIN or <repo>/bazel-bin)
Prints a human summary on stderr and one JSON row per batch size on stdout, in the format
tools/bench_report.py merges into docs/benchmarks.json.
"""
import collections
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import mxgrid  # noqa: E402
from mxgrid import connection  # noqa: E402

WARMUP, STEPS, RUNS = 10, 50, 3


def mlp(m):
    net = m.sym.Variable("data")
    net = m.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = m.sym.Activation(net, act_type="relu", name="relu1")
    net = m.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = m.sym.Activation(net, act_type="relu", name="relu2")
    net = m.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return m.sym.SoftmaxOutput(net, name="softmax")


def make_module(m, batch):
    rng = np.random.RandomState(0)
    x = rng.rand(batch * 8, 784).astype(np.float32)
    y = rng.randint(0, 10, size=batch * 8).astype(np.float32)
    it = m.io.NDArrayIter(x, y, batch_size=batch)
    batches = list(it)
    mod = m.mod.Module(mlp(m), context=m.cpu())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(initializer=m.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.1),))
    return mod, batches


def step(mod, batch, metric=None):
    """A step as fit takes it: mxgrid's Module does forward + backward + update (+ the
    outputs for the metric) in one round trip when it can; MXNet's in separate calls."""
    if metric is not None and getattr(mod, "_train_step", None) and \
            mod._train_step(batch, metric):
        return
    mod.forward(batch, is_train=True)
    mod.backward()
    mod.update()
    if metric is not None:
        mod.update_metric(metric, getattr(batch, "host_label", None) or batch.label)


def time_steps(m, mod, batches, metric=None):
    for i in range(WARMUP):
        step(mod, batches[i % len(batches)], metric)
    m.nd.waitall()
    best = float("inf")
    for _ in range(RUNS):
        tic = time.perf_counter()
        for i in range(STEPS):
            step(mod, batches[i % len(batches)], metric)
        m.nd.waitall()
        best = min(best, (time.perf_counter() - tic) / STEPS * 1e3)
    return best


def count_rpcs(mod, batches, metric):
    """RPC methods made by one step (averaged over 10 steps)."""
    counts = collections.Counter()
    orig = connection.Connection.call

    def counting(self, method, request, timeout=None):
        name = getattr(method, "_method", None)
        name = name.decode().rsplit("/", 1)[-1] if isinstance(name, bytes) else \
            getattr(method, "__name__", "call")
        counts[name] += 1
        return orig(self, method, request, timeout)
    connection.Connection.call = counting
    try:
        for i in range(10):
            step(mod, batches[i % len(batches)], metric)
    finally:
        connection.Connection.call = orig
    return {k: v / 10 for k, v in sorted(counts.items())}


def main():
    import mxnet
    cluster = mxgrid.LocalCluster(num_workers=1, num_kvstore=0).start()
    rows = []
    try:
        mxgrid.connect(worker=cluster.workers[0], compiler=cluster.compiler)
        for batch in (128, 1024):
            mod, batches = make_module(mxgrid, batch)
            mine = time_steps(mxgrid, mod, batches)
            mine_metric = time_steps(mxgrid, mod, batches, mxgrid.metric.Accuracy())
            rpcs = count_rpcs(mod, batches, mxgrid.metric.Accuracy())
            ref_mod, ref_batches = make_module(mxnet, batch)
            ref = time_steps(mxnet, ref_mod, ref_batches)
            ref_metric = time_steps(mxnet, ref_mod, ref_batches, mxnet.metric.Accuracy())
            print("batch %4d: mxgrid client %.3f ms/step, MXNet Module %.3f ms/step, ratio %.2f"
                  " | with update_metric: %.3f vs %.3f ms (ratio %.2f)"
                  % (batch, mine, ref, mine / ref, mine_metric, ref_metric,
                     mine_metric / ref_metric), file=sys.stderr)
            print("           RPCs per step (with update_metric): %s, total %g"
                  % (", ".join("%s x%g" % kv for kv in rpcs.items()), sum(rpcs.values())),
                  file=sys.stderr)
            rows.append({"name": "client_mlp_step_b%d: Python client Module forward + backward "
                                 "+ update, MLP 784-128-64-10, SGD lr 0.1, batch %d, incl. "
                                 "final wait" % (batch, batch),
                         "unit": "ms", "mxgrid": round(mine, 4), "peer": "MXNet 1.9.1 Module",
                         "peer_value": round(ref, 4), "better": "lower"})
            rows.append({"name": "client_mlp_fit_step_b%d: as client_mlp_step_b%d plus "
                                 "update_metric('acc') (a fit step)" % (batch, batch),
                         "unit": "ms", "mxgrid": round(mine_metric, 4),
                         "peer": "MXNet 1.9.1 Module", "peer_value": round(ref_metric, 4),
                         "better": "lower"})
            del mod
    finally:
        mxgrid.disconnect()
        cluster.stop()
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()

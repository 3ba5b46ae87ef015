#!/usr/bin/env python3
"""Plain MXNet 1.x user code, timed: the same source runs under `import mxnet as mx` (MXNet
1.9.1 in process) and `import mxgrid as mx` (the client, embedded cluster, defaults).

Usage: user_code_bench.py mxnet|mxgrid [--quick]

tools/bench_runner.py runs it once per side per round, each in a fresh process, alternating
sides, and pairs the metrics by name. Nothing but the import differs between the sides; the
page-fault counter (ru_minflt of this process, plus the embedded cluster's servers on the
mxgrid side, read from /proc) is measurement, not user code.

Metrics (median of the repetitions inside this process):
  user_mlp_step_b128_ms / _b1024_ms  Module forward_backward + update + update_metric('acc'),
                                     MLP 784-128-64-10, SGD lr 0.1, per step
  user_tiny_add_us                   `c = a + b` on 1-element arrays, per call (2000 calls,
                                     then c.asnumpy())
  user_add16m_new_ms                 `c = a + b` on 16M float32, a new c each call, waited
  user_add16m_new_faults             page faults per such call (all processes of the side)
  user_roundtrip_256mib_gbps         mx.nd.array(x).asnumpy() of 256 MiB float32 (against
                                     memcpy: transfer_bench.py)
  user_lstm_symbol_ms                mx.rnn: a 2-layer LSTM unrolled over 35 steps (PTB's
                                     language model), its arguments listed and shapes
                                     inferred, per graph (about 700 symbols composed)
Prints {"metric", "value", "unit"} lines on stdout.
"""
import json
import os
import resource
import sys
import time

import numpy as np

IMPL = sys.argv[1] if len(sys.argv) > 1 else "mxnet"
QUICK = "--quick" in sys.argv
if IMPL == "mxgrid":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "clients", "python"))
    import mxgrid as mx
else:
    import mxnet as mx


def emit(metric, value, unit):
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": unit}), flush=True)


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def minor_faults():
    """Minor page faults of this process and, on mxgrid, of its embedded servers."""
    total = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cluster = getattr(getattr(mx, "connection", None), "_cluster", None)
    for pid in (cluster.pids.values() if cluster is not None else ()):
        try:
            with open("/proc/%d/stat" % pid) as f:
                total += int(f.read().rsplit(")", 1)[1].split()[7])
        except OSError:
            pass
    return total


# ---- user code below: plain MXNet 1.x --------------------------------------------------
def mlp():
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu", name="relu2")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def mlp_step_ms(batch, steps, reps):
    rng = np.random.RandomState(0)
    x = rng.rand(batch * 8, 784).astype(np.float32)
    y = rng.randint(0, 10, size=batch * 8).astype(np.float32)
    it = mx.io.NDArrayIter(x, y, batch_size=batch)
    batches = list(it)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    mod.init_params(initializer=mx.init.Xavier())
    mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.1),))
    metric = mx.metric.Accuracy()

    def run(n):
        for i in range(n):
            b = batches[i % len(batches)]
            mod.forward_backward(b)
            mod.update()
            mod.update_metric(metric, b.label)
        mx.nd.waitall()

    run(10)
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        run(steps)
        times.append((time.perf_counter() - tic) / steps * 1e3)
    return median(times)


def tiny_add_us(n=2000, reps=3):
    a, b = mx.nd.ones((1,)), mx.nd.ones((1,))
    times = []
    for _ in range(reps + 1):
        tic = time.perf_counter()
        for _ in range(n):
            c = a + b
        c.asnumpy()
        times.append((time.perf_counter() - tic) / n * 1e6)
    return median(times[1:])


def add16m_new(n):
    a = mx.nd.ones((16 << 20,))
    b = mx.nd.ones((16 << 20,))
    c = a + b
    c.wait_to_read()
    times, faults0 = [], minor_faults()
    for _ in range(n):
        tic = time.perf_counter()
        c = a + b
        c.wait_to_read()
        times.append((time.perf_counter() - tic) * 1e3)
    return median(times), (minor_faults() - faults0) / n


def roundtrip_gbps(reps):
    x = np.random.RandomState(1).rand(64 << 20).astype(np.float32)
    rt = []
    for _ in range(reps):
        tic = time.perf_counter()
        y = mx.nd.array(x).asnumpy()
        rt.append(x.nbytes / (time.perf_counter() - tic) / 1e9)
        assert y[12345] == x[12345]
        del y
    return median(rt)


def lstm_symbol_ms(reps):
    def build():
        stack = mx.rnn.SequentialRNNCell()
        for i in range(2):
            stack.add(mx.rnn.LSTMCell(num_hidden=200, prefix="lstm_l%d_" % i))
        embed = mx.sym.Embedding(mx.sym.Variable("data"), input_dim=10000, output_dim=200,
                                 name="embed")
        stack.reset()
        outputs, _ = stack.unroll(35, inputs=embed, merge_outputs=True)
        pred = mx.sym.FullyConnected(mx.sym.Reshape(outputs, shape=(-1, 200)),
                                     num_hidden=10000, name="pred")
        net = mx.sym.SoftmaxOutput(pred, mx.sym.Reshape(mx.sym.Variable("softmax_label"),
                                                        shape=(-1,)), name="softmax")
        net.list_arguments()
        net.infer_shape(data=(32, 35), softmax_label=(32, 35))
        return net

    build()
    times = []
    for _ in range(reps):
        tic = time.perf_counter()
        build()
        times.append((time.perf_counter() - tic) * 1e3)
    return median(times)


def main():
    emit("user_mlp_step_b128_ms", mlp_step_ms(128, 50 if QUICK else 200, 3), "ms")
    emit("user_mlp_step_b1024_ms", mlp_step_ms(1024, 20 if QUICK else 60, 3), "ms")
    emit("user_tiny_add_us", tiny_add_us(), "us")
    ms, faults = add16m_new(10 if QUICK else 30)
    emit("user_add16m_new_ms", ms, "ms")
    emit("user_add16m_new_faults", faults, "faults")
    emit("user_roundtrip_256mib_gbps", roundtrip_gbps(3 if QUICK else 5), "GB/s")
    emit("user_lstm_symbol_ms", lstm_symbol_ms(3 if QUICK else 7), "ms")


if __name__ == "__main__":
    main()

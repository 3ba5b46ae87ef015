"""The MXNet 1.9.1 side of the NDArray benchmarks, measured like tests/bench/ndarray_bench.cc.

Prints one JSON object per line: {"metric": ..., "value": ..., "unit": ...}.
Run with the project's venv: .venv/bin/python tests/bench/mxnet_peer.py [DIR]
"""
import json
import os
import sys
import time

import mxnet as mx

ELEMENTS = 16 << 20
GB = 1e9


def best_seconds(reps, fn):
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def emit(metric, value, unit):
    print(json.dumps({"metric": metric, "value": value, "unit": unit}), flush=True)


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "/tmp"
    nbytes = ELEMENTS * 4
    a = mx.nd.full((ELEMENTS,), 1.5)
    b = mx.nd.full((ELEMENTS,), 2.5)
    (a + b).wait_to_read()
    add_s = best_seconds(20, lambda: (a + b).wait_to_read())
    emit("mxnet_add_new_gbps", 3.0 * nbytes / add_s / GB, "GB/s")
    c = mx.nd.zeros((ELEMENTS,))

    def add_into():
        mx.nd.elemwise_add(a, b, out=c)
        c.wait_to_read()

    emit("mxnet_add_into_gbps", 3.0 * nbytes / best_seconds(20, add_into) / GB, "GB/s")
    assert c[0].asscalar() == 4.0

    arrays = [mx.nd.full((ELEMENTS,), i) for i in range(4)]
    mx.nd.waitall()
    total = 4.0 * nbytes
    path = os.path.join(directory, "mxnet_bench.params")
    save_s = best_seconds(3, lambda: mx.nd.save(path, arrays))

    def load():
        loaded = mx.nd.load(path)
        mx.nd.waitall()
        assert len(loaded) == 4

    load_s = best_seconds(3, load)
    emit("mxnet_save_gbps", total / save_s / GB, "GB/s")
    emit("mxnet_load_gbps", total / load_s / GB, "GB/s")
    os.remove(path)


if __name__ == "__main__":
    main()

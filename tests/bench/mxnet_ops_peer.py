"""MXNet 1.9.1's side of tests/bench/ops_bench.cc: the same ops, float32 on CPU, forward
(is_train=True) + backward through a bound executor; median milliseconds of 15 runs.
Prints {"metric": ..., "value": ..., "unit": "ms"} lines.
"""
import json
import time

import mxnet as mx


def time_op(sym, **shapes):
    ex = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    for name, arr in ex.arg_dict.items():
        arr[:] = mx.nd.random.uniform(-1, 1, arr.shape)
    heads = [mx.nd.random.uniform(-1, 1, o.shape) for o in ex.outputs]

    def once():
        ex.forward(is_train=True)
        ex.backward(heads)
        mx.nd.waitall()

    for _ in range(3):
        once()
    ms = []
    for _ in range(15):
        start = time.perf_counter()
        once()
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    return ms[len(ms) // 2]


def emit(metric, value):
    print(json.dumps({"metric": metric, "value": value, "unit": "ms"}), flush=True)


def main():
    data = mx.sym.Variable("data")
    emit("mxnet_fc_ms", time_op(mx.sym.FullyConnected(data, num_hidden=1024), data=(256, 784)))
    emit("mxnet_conv_ms", time_op(
        mx.sym.Convolution(data, kernel=(3, 3), num_filter=64, pad=(1, 1)), data=(64, 3, 32, 32)))
    emit("mxnet_bn_ms", time_op(mx.sym.BatchNorm(data), data=(64, 64, 32, 32)))
    emit("mxnet_pool_ms", time_op(
        mx.sym.Pooling(data, kernel=(2, 2), stride=(2, 2), pool_type="max"), data=(64, 64, 32, 32)))
    emit("mxnet_lstm_ms", time_op(
        mx.sym.RNN(data, mode="lstm", state_size=256, num_layers=1), data=(35, 32, 256)))
    emit("mxnet_layernorm_ms", time_op(mx.sym.LayerNorm(data), data=(128, 1024)))
    emit("mxnet_conv3d_ms", time_op(
        mx.sym.Convolution(data, kernel=(3, 3, 3), num_filter=32, pad=(1, 1, 1)),
        data=(8, 16, 16, 32, 32)))
    emit("mxnet_topk_ms", time_op(mx.sym.topk(data, k=10, ret_typ="value"), data=(256, 1000)))
    emit("mxnet_sort_ms", time_op(mx.sym.sort(data, axis=-1), data=(256, 1000)))


if __name__ == "__main__":
    main()

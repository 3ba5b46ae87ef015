"""MXNet 1.9.1's side of tests/bench/executor_bench.cc, float32 on CPU with MXNet's defaults
(its MKLDNN build; MXNET_SUBGRAPH_BACKEND unset):
  - one training step: forward(is_train=True) + backward() + the mx.optimizer SGD
    (momentum 0.9) updater on every weight + mx.nd.waitall(), MLP 784-128-64-10 and LeNet at
    batch 128; median ms of 300 steps (MLP) or 20 (LeNet) after warm-up;
  - ResNet-50 (example/image-classification/symbols/resnet.py, as
    libs/graph/testing/models.cc builds it) with data (32, 3, 224, 224): sym.infer_shape, and
    sym.simple_bind(grad_req='write') + waitall (which also allocates every array);
  - ResNet-18 batch 32 training executor: the "Total N MB allocated" of ex.debug_str(), nnvm's
    storage_allocated_bytes (the planned intermediate blocks, arguments and gradients not
    counted), truncated to whole MiB.
Prints {"metric": ..., "value": ..., "unit": ...} lines.
"""
import json
import re
import sys
import time

import mxnet as mx
import numpy as np


def emit(metric, value, unit):
    print(json.dumps({"metric": metric, "value": value, "unit": unit}), flush=True)


def median_ms(warmup, iters, fn):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - start) * 1e3)
    ms.sort()
    return ms[len(ms) // 2]


def mlp():
    net = mx.sym.Variable("data")
    for i, hidden in enumerate([128, 64], start=1):
        net = mx.sym.FullyConnected(net, num_hidden=hidden, name="fc%d" % i)
        net = mx.sym.Activation(net, act_type="relu", name="relu%d" % i)
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def lenet():
    net = mx.sym.Variable("data")
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=20, name="conv1")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh1")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    net = mx.sym.Convolution(net, kernel=(5, 5), num_filter=50, name="conv2")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh2")
    net = mx.sym.Pooling(net, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    net = mx.sym.Flatten(net, name="flatten")
    net = mx.sym.FullyConnected(net, num_hidden=500, name="fc1")
    net = mx.sym.Activation(net, act_type="tanh", name="tanh3")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc2")
    return mx.sym.SoftmaxOutput(net, name="softmax")


def conv(data, filters, kernel, stride, pad, name):
    return mx.sym.Convolution(data, num_filter=filters, kernel=(kernel, kernel),
                              stride=(stride, stride), pad=(pad, pad), no_bias=True, name=name)


def batch_norm(data, name, fix_gamma=False):
    return mx.sym.BatchNorm(data, fix_gamma=fix_gamma, eps=2e-5, momentum=0.9, name=name)


def relu(data, name):
    return mx.sym.Activation(data, act_type="relu", name=name)


def residual_unit(data, filters, stride, dim_match, name, bottleneck):
    act1 = relu(batch_norm(data, name + "_bn1"), name + "_relu1")
    if bottleneck:
        inner = filters // 4
        body = conv(act1, inner, 1, 1, 0, name + "_conv1")
        body = relu(batch_norm(body, name + "_bn2"), name + "_relu2")
        body = conv(body, inner, 3, stride, 1, name + "_conv2")
        body = relu(batch_norm(body, name + "_bn3"), name + "_relu3")
        body = conv(body, filters, 1, 1, 0, name + "_conv3")
    else:
        body = conv(act1, filters, 3, stride, 1, name + "_conv1")
        body = relu(batch_norm(body, name + "_bn2"), name + "_relu2")
        body = conv(body, filters, 3, 1, 1, name + "_conv2")
    shortcut = data if dim_match else conv(act1, filters, 1, stride, 0, name + "_sc")
    return body + shortcut


def resnet(depth, num_classes=1000):
    units = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[depth]
    bottleneck = depth >= 50
    filters = [64, 256, 512, 1024, 2048] if bottleneck else [64, 64, 128, 256, 512]
    body = batch_norm(mx.sym.Variable("data"), "bn_data", fix_gamma=True)
    body = conv(body, filters[0], 7, 2, 3, "conv0")
    body = relu(batch_norm(body, "bn0"), "relu0")
    body = mx.sym.Pooling(body, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
    for stage, count in enumerate(units):
        for unit in range(count):
            body = residual_unit(body, filters[stage + 1], 2 if unit == 0 and stage > 0 else 1,
                                 unit > 0, "stage%d_unit%d" % (stage + 1, unit + 1), bottleneck)
    body = relu(batch_norm(body, "bn1"), "relu1")
    body = mx.sym.Pooling(body, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    body = mx.sym.Flatten(body)
    body = mx.sym.FullyConnected(body, num_hidden=num_classes, name="fc1")
    return mx.sym.SoftmaxOutput(body, name="softmax")


def train_step_ms(label, net, data_shape, steps):
    batch = data_shape[0]
    reqs = {name: "null" if name in ("data", "softmax_label") else "write"
            for name in net.list_arguments()}
    ex = net.simple_bind(mx.cpu(), grad_req=reqs, data=data_shape, softmax_label=(batch,))
    rng = np.random.RandomState(7)
    for name, arr in ex.arg_dict.items():
        if name == "softmax_label":
            arr[:] = np.arange(batch) % 10
        else:
            scale = 1.0 if name == "data" else 0.07
            arr[:] = rng.uniform(-scale, scale, arr.shape)
    opt = mx.optimizer.create("sgd", learning_rate=0.01, momentum=0.9, rescale_grad=1.0 / batch)
    updater = mx.optimizer.get_updater(opt)
    params = [(i, ex.arg_dict[name], ex.grad_dict[name])
              for i, name in enumerate(n for n in net.list_arguments() if reqs[n] == "write")]

    def update():
        for i, weight, grad in params:
            updater(i, grad, weight)

    def step():
        ex.forward(is_train=True)
        ex.backward()
        update()
        mx.nd.waitall()

    ms = median_ms(3, steps, step)

    def fwd():
        ex.forward(is_train=True)
        mx.nd.waitall()

    def fwd_bwd():
        ex.forward(is_train=True)
        ex.backward()
        mx.nd.waitall()

    def upd():
        update()
        mx.nd.waitall()

    f, fb, u = median_ms(1, 10, fwd), median_ms(1, 10, fwd_bwd), median_ms(1, 10, upd)
    print("%s step %.3f ms: forward %.3f, backward %.3f, update %.3f (%d params)"
          % (label, ms, f, fb - f, u, len(params)), file=sys.stderr)
    return ms


def main():
    emit("mxnet_mlp_train_step_ms", train_step_ms("mxnet mlp", mlp(), (128, 784), 300), "ms")
    emit("mxnet_lenet_train_step_ms", train_step_ms("mxnet lenet", lenet(), (128, 1, 28, 28), 20),
         "ms")

    net = resnet(50)
    image = (32, 3, 224, 224)
    emit("mxnet_resnet50_infer_shape_ms",
         median_ms(2, 20, lambda: net.infer_shape(data=image)), "ms")

    def bind():
        net.simple_bind(mx.cpu(), grad_req="write", data=image)
        mx.nd.waitall()

    emit("mxnet_resnet50_simple_bind_ms", median_ms(1, 5, bind), "ms")

    ex = resnet(18).simple_bind(mx.cpu(), grad_req="write", data=image)
    total = re.search(r"Total (\d+) MB allocated", ex.debug_str())
    emit("mxnet_resnet18_allocated_mib", float(total.group(1)), "MiB")


if __name__ == "__main__":
    main()

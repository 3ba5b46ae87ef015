"""The MXNet Python Overview Tutorial, end to end, against an mxgrid cluster.

The code is the tutorial's (../shared/seed), changed only in `import mxgrid as mx` and Python 3
print(). Where the tutorial uses GPUs and the worker has none, the same lines run on CPU
contexts (mx.cpu(i)) instead and say so. Every result is checked, so this script fails loudly
if anything differs from what the tutorial shows.

    PYTHONPATH=clients/python .venv/bin/python examples/tutorial.py

With MXGRID_WORKER / MXGRID_COMPILER / MXGRID_KVSTORE set it uses that cluster; otherwise it
starts an embedded local one.
"""
import os
import pickle as pkl
import tempfile

import numpy as np

import mxgrid as mx


def section(title):
    print("\n## " + title)


def check(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-6)


def gpu_or_cpu(i=0):
    """mx.gpu(i) where the worker has that GPU, else mx.cpu(i)."""
    return mx.gpu(i) if mx.context.num_gpus() > i else mx.cpu(i)


def ndarray_part(workdir):
    section("NDArray: create and initialize")
    a = mx.nd.empty((2, 3))
    b = mx.nd.empty((2, 3), gpu_or_cpu())
    c = mx.nd.empty((2, 3), gpu_or_cpu(2))
    print(c.shape, c.context)
    assert c.shape == (2, 3)
    a = mx.nd.zeros((2, 3))
    b = mx.nd.ones((2, 3))
    b[:] = 2
    check(b.asnumpy(), np.full((2, 3), 2))

    a = mx.nd.ones((2, 3))
    b = mx.nd.zeros((2, 3), gpu_or_cpu())
    a.copyto(b)
    check(b.asnumpy(), np.ones((2, 3)))

    a = mx.nd.ones((2, 3))
    b = a.asnumpy()
    print(type(b))
    print(b)
    assert isinstance(b, np.ndarray)

    a = mx.nd.empty((2, 3))
    a[:] = np.random.uniform(-0.1, 0.1, a.shape)
    print(a.asnumpy())
    assert np.all(np.abs(a.asnumpy()) <= 0.1)

    section("NDArray: element-wise operations")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 4
    print(b.asnumpy())
    c = a + b
    print(c.asnumpy())
    check(c.asnumpy(), np.full((2, 3), 6))
    d = a * b
    print(d.asnumpy())
    check(d.asnumpy(), np.full((2, 3), 8))

    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3), gpu_or_cpu()) * 3
    c = a.copyto(gpu_or_cpu()) * b
    print(c.asnumpy())
    check(c.asnumpy(), np.full((2, 3), 6))

    section("NDArray: load and save")
    a = mx.nd.ones((2, 3)) * 2
    data = pkl.dumps(a)
    b = pkl.loads(data)
    print(b.asnumpy())
    check(b.asnumpy(), np.full((2, 3), 2))

    path = os.path.join(workdir, "mydata.bin")
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3)) * 3
    mx.nd.save(path, [a, b])
    c = mx.nd.load(path)
    print(c[0].asnumpy())
    print(c[1].asnumpy())
    check(c[1].asnumpy(), np.full((2, 3), 3))
    mx.nd.save(path, {"a": a, "b": b})
    c = mx.nd.load(path)
    print(c["a"].asnumpy())
    print(c["b"].asnumpy())
    check(c["a"].asnumpy(), np.full((2, 3), 2))

    section("NDArray: automatic parallelization")
    a = mx.nd.ones((2, 3))
    b = a
    c = a.copyto(mx.cpu())
    a += 1
    b *= 3
    c *= 3
    print(a.asnumpy(), c.asnumpy(), sep="\n")
    check(a.asnumpy(), np.full((2, 3), 6))  # b is a: (1 + 1) * 3
    check(c.asnumpy(), np.full((2, 3), 3))


def symbol_part():
    section("Symbol: basic composition")
    net = mx.symbol.Variable('data')
    net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=128)
    net = mx.symbol.Activation(data=net, name='relu1', act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name='fc2', num_hidden=64)
    net = mx.symbol.SoftmaxOutput(data=net, name='out')
    print(type(net))
    print(net.list_arguments())
    assert net.list_arguments() == ['data', 'fc1_weight', 'fc1_bias', 'fc2_weight', 'fc2_bias',
                                    'out_label']

    net = mx.symbol.Variable('data')
    w = mx.symbol.Variable('myweight')
    net = mx.symbol.FullyConnected(data=net, weight=w, name='fc1', num_hidden=128)
    print(net.list_arguments())
    assert net.list_arguments() == ['data', 'myweight', 'fc1_bias']

    section("Symbol: more complicated composition")
    lhs = mx.symbol.Variable('data1')
    rhs = mx.symbol.Variable('data2')
    net = mx.symbol.FullyConnected(data=lhs + rhs, name='fc1', num_hidden=128)
    print(net.list_arguments())
    assert net.list_arguments() == ['data1', 'data2', 'fc1_weight', 'fc1_bias']

    net = mx.symbol.Variable('data')
    net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=128)
    net2 = mx.symbol.Variable('data2')
    net2 = mx.symbol.FullyConnected(data=net2, name='net2', num_hidden=128)
    composed_net = net(data=net2, name='compose')
    # MXNet 1.x keeps the argument names (the tutorial shows MXNet 0.x's compose_ prefix).
    print(composed_net.list_arguments())
    assert composed_net.list_arguments() == ['data2', 'net2_weight', 'net2_bias', 'fc1_weight',
                                             'fc1_bias']

    section("Symbol: argument shape inference")
    net = mx.symbol.Variable('data')
    net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=10)
    arg_shape, out_shape, aux_shape = net.infer_shape(data=(100, 100))
    print(dict(zip(net.list_arguments(), arg_shape)))
    print(out_shape)
    assert dict(zip(net.list_arguments(), arg_shape)) == {
        'data': (100, 100), 'fc1_weight': (10, 100), 'fc1_bias': (10,)}
    assert out_shape == [(100, 10)]

    section("Symbol: bind and run")
    A = mx.symbol.Variable('A')
    B = mx.symbol.Variable('B')
    C = A * B
    a = mx.nd.ones(3) * 4
    b = mx.nd.ones(3) * 2
    c_exec = C.bind(ctx=mx.cpu(), args={'A': a, 'B': b})
    c_exec.forward()
    print(c_exec.outputs[0].asnumpy())
    check(c_exec.outputs[0].asnumpy(), [8, 8, 8])

    net = mx.symbol.Variable('data')
    net = mx.symbol.FullyConnected(data=net, name='fc1', num_hidden=10)
    net = mx.symbol.SoftmaxOutput(data=net, name='out')
    texec = net.simple_bind(ctx=mx.cpu(), data=(4, 5))
    texec.forward(is_train=True)
    texec.backward()
    print(texec.outputs[0].asnumpy())
    check(texec.outputs[0].asnumpy(), np.full((4, 10), 0.1))  # zero weights: uniform


def kvstore_part():
    section("KVStore: initialization")
    kv = mx.kv.create('local')  # create a local kv store.
    shape = (2, 3)
    kv.init(3, mx.nd.ones(shape) * 2)
    a = mx.nd.zeros(shape)
    kv.pull(3, out=a)
    print(a.asnumpy())
    check(a.asnumpy(), np.full(shape, 2))

    section("KVStore: push, aggregation and updater")
    kv.push(3, mx.nd.ones(shape) * 8)
    kv.pull(3, out=a)  # pull out the value
    print(a.asnumpy())
    check(a.asnumpy(), np.full(shape, 8))

    gpus = [gpu_or_cpu(i) for i in range(4)]
    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.push(3, b)
    kv.pull(3, out=a)
    print(a.asnumpy())
    check(a.asnumpy(), np.full(shape, 4))

    def update(key, input, stored):
        print("update on key: %d" % key)
        stored += input * 2
    kv._set_updater(update)
    kv.pull(3, out=a)
    print(a.asnumpy())
    check(a.asnumpy(), np.full(shape, 4))
    kv.push(3, mx.nd.ones(shape))
    kv.pull(3, out=a)
    print(a.asnumpy())
    check(a.asnumpy(), np.full(shape, 6))

    section("KVStore: pull")
    b = [mx.nd.ones(shape, gpu) for gpu in gpus]
    kv.pull(3, out=b)
    print(b[1].asnumpy())
    check(b[1].asnumpy(), np.full(shape, 6))

    section("KVStore: a list of key-value pairs")
    keys = [5, 7, 9]
    kv.init(keys, [mx.nd.ones(shape)] * len(keys))
    kv.push(keys, [mx.nd.ones(shape)] * len(keys))
    b = [mx.nd.zeros(shape)] * len(keys)
    kv.pull(keys, out=b)
    print(b[1].asnumpy())
    check(b[1].asnumpy(), np.full(shape, 3))

    b = [[mx.nd.ones(shape, gpu) for gpu in gpus]] * len(keys)
    kv.push(keys, b)
    kv.pull(keys, out=b)
    print(b[1][1].asnumpy())
    check(b[1][1].asnumpy(), np.full(shape, 11))


def main():
    if mx.context.num_gpus() == 0:
        print("(the worker has no GPU: the tutorial's mx.gpu(i) lines run on mx.cpu(i))")
    with tempfile.TemporaryDirectory() as workdir:
        ndarray_part(workdir)
    symbol_part()
    kvstore_part()
    print("\nThe tutorial ran end to end.")


if __name__ == "__main__":
    main()

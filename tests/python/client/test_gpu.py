"""GPU arrays, executors and Module training through the client, on a worker with GPUs (every
test skips where the worker has none): the tutorial's GPU lines, device listing, errors for a
missing GPU, and the digits MLP trained on gpu(0) to the same accuracy as on cpu(0)."""
import numpy as np
import pytest


@pytest.fixture
def mx(mxw):
    if mxw.context.num_gpus() == 0:
        pytest.skip("the worker has no GPU")
    return mxw


def test_tutorial_gpu_lines(mx):
    b = mx.nd.empty((2, 3), mx.gpu())
    assert b.context == mx.gpu(0) and b.shape == (2, 3)
    a = mx.nd.ones((2, 3))
    b = mx.nd.zeros((2, 3), mx.gpu())
    a.copyto(b)
    np.testing.assert_array_equal(b.asnumpy(), np.ones((2, 3)))
    a = mx.nd.ones((2, 3)) * 2
    b = mx.nd.ones((2, 3), mx.gpu()) * 3
    c = a.copyto(mx.gpu()) * b
    assert c.context == mx.gpu(0)
    np.testing.assert_array_equal(c.asnumpy(), np.full((2, 3), 6.0))


def test_devices_describe_each_gpu(mx):
    conn = mx.connection.get() if hasattr(mx, "connection") else None
    devices = conn.list_devices() if conn is not None else []
    gpus = [d for d in devices if d.context.type == 2]
    assert len(gpus) == mx.context.num_gpus() >= 1
    for d in gpus:
        assert d.name and d.total_memory_bytes > 0 and d.compute_capability_major >= 5
        assert d.healthy


def test_a_missing_gpu_is_refused(mx):
    with pytest.raises(mx.MXNetError, match="does not exist"):
        mx.nd.ones((2,), mx.gpu(mx.context.num_gpus())).asnumpy()


def test_large_arrays_round_trip(mx):
    x = np.random.RandomState(0).standard_normal((1024, 1024, 3)).astype(np.float32)
    g = mx.nd.array(x, ctx=mx.gpu())
    np.testing.assert_array_equal(g.asnumpy(), x)
    np.testing.assert_allclose((g * 2 + 1).asnumpy(), x * 2 + 1, rtol=1e-6)


def _digits(mx):
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.float32)
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=128, name="fc1")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.FullyConnected(net, num_hidden=64, name="fc2")
    net = mx.sym.Activation(net, act_type="relu")
    net = mx.sym.FullyConnected(net, num_hidden=10, name="fc3")
    return x, y, mx.sym.SoftmaxOutput(net, name="softmax")


def _accuracy(mx, net, x, y, ctx, arg_params):
    train, val = slice(0, 1500), slice(1500, None)
    it = mx.io.NDArrayIter(x[train], y[train], batch_size=100, shuffle=False)
    mod = mx.mod.Module(net, context=ctx)
    mod.fit(it, num_epoch=10, optimizer="sgd", arg_params=arg_params,
            optimizer_params={"learning_rate": 0.05, "momentum": 0.9})
    val_it = mx.io.NDArrayIter(x[val], y[val], batch_size=100)
    return mod.score(val_it, "acc")[0][1]


def test_module_trains_the_digits_mlp_on_gpu_like_on_cpu(mx):
    x, y, net = _digits(mx)
    # The same initial weights on both devices: the runs differ by rounding only.
    init = mx.mod.Module(net, context=mx.cpu())
    init.bind(data_shapes=[("data", (100, 64))], label_shapes=[("softmax_label", (100,))])
    mx.random.seed(42)
    init.init_params(mx.init.Xavier())
    args, _ = init.get_params()
    gpu_acc = _accuracy(mx, net, x, y, mx.gpu(0), args)
    cpu_acc = _accuracy(mx, net, x, y, mx.cpu(0), args)
    assert cpu_acc > 0.85
    assert abs(gpu_acc - cpu_acc) < 0.02, (gpu_acc, cpu_acc)

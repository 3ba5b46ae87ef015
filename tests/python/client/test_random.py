"""mx.random, mx.nd.random and mx.sym.random against real MXNet 1.9.1: names, parameters,
output shapes and dtypes, sampler statistics, and reproducibility after mx.random.seed
(imperative calls and bound executors)."""
import numpy as np
import pytest

N = 20000


def _schema(mx, name):
    from mxgrid import _ops
    return _ops.lookup(name)


def _mxnet_params(real_mx, name):
    import ctypes
    from mxnet.base import _LIB, check_call, c_str, mx_uint, py_str, OpHandle
    h = OpHandle()
    check_call(_LIB.NNGetOpHandle(c_str(name), ctypes.byref(h)))
    real_name, desc, key, ret = (ctypes.c_char_p() for _ in range(4))
    num = mx_uint()
    names, types, descs = (ctypes.POINTER(ctypes.c_char_p)() for _ in range(3))
    check_call(_LIB.MXSymbolGetAtomicSymbolInfo(
        h, ctypes.byref(real_name), ctypes.byref(desc), ctypes.byref(num), ctypes.byref(names),
        ctypes.byref(types), ctypes.byref(descs), ctypes.byref(key), ctypes.byref(ret)))
    return [(py_str(names[i]), py_str(types[i])) for i in range(num.value)]


OPS = ["_random_uniform", "_random_normal", "_random_gamma", "_random_exponential",
       "_random_poisson", "_random_negative_binomial", "_random_generalized_negative_binomial",
       "_random_randint", "_random_uniform_like", "_random_normal_like", "_random_gamma_like",
       "_random_exponential_like", "_random_poisson_like", "_random_negative_binomial_like",
       "_random_generalized_negative_binomial_like", "_sample_uniform", "_sample_normal",
       "_sample_gamma", "_sample_exponential", "_sample_poisson", "_sample_negative_binomial",
       "_sample_generalized_negative_binomial", "_sample_multinomial", "_shuffle"]


@pytest.mark.parametrize("name", OPS)
def test_operator_parameters_and_inputs_match_mxnet(mxw, real_mx, name):
    info = _schema(mxw, name)
    assert info is not None, name
    theirs = _mxnet_params(real_mx, name)
    their_inputs = [n for n, t in theirs if t.startswith("NDArray")]
    their_params = [n for n, t in theirs if not t.startswith("NDArray")]
    assert list(info.inputs) == their_inputs
    assert [p.name for p in info.params] == their_params
    for p, (_, t) in zip(info.params, [x for x in theirs if not x[1].startswith("NDArray")]):
        if t.startswith("{"):  # enums: the same choices and default
            assert p.type.replace(" ", "") == t.split("}")[0].replace(" ", "") + "}", p.name
            assert t.endswith("default=" + p.default_value), (p.name, t, p.default_value)
        if "required" in t:
            assert p.required, p.name


def _same_meta(a, b):
    assert a.shape == b.shape
    assert np.dtype(a.dtype) == np.dtype(b.dtype)


@pytest.mark.parametrize("call", [
    lambda m: m.nd.random.uniform(-1, 1, shape=(2, 3)),
    lambda m: m.nd.random.uniform(),
    lambda m: m.nd.random.uniform(shape=4, dtype="float16"),
    lambda m: m.nd.random.normal(0, 2, shape=(3,), dtype="float64"),
    lambda m: m.nd.random.randn(2, 5),
    lambda m: m.nd.random.gamma(2, 3, shape=(2, 2)),
    lambda m: m.nd.random.exponential(2, shape=(7,)),
    lambda m: m.nd.random.poisson(3, shape=(2, 4)),
    lambda m: m.nd.random.negative_binomial(3, 0.5, shape=(5,)),
    lambda m: m.nd.random.generalized_negative_binomial(2, 0.3, shape=(5,)),
    lambda m: m.nd.random.randint(0, 10, shape=(3, 3)),
    lambda m: m.nd.random.randint(-5, 5, shape=(4,), dtype="int64"),
    lambda m: m.nd.random.uniform(m.nd.array([0, 1]), m.nd.array([1, 3]), shape=(4, 2)),
    lambda m: m.nd.random.normal(m.nd.array([0, 1, 2]), m.nd.array([1, 1, 1])),
    lambda m: m.nd.random.gamma(m.nd.array([[1, 2]]), m.nd.array([[1, 1]]), shape=3,
                                dtype="float16"),
    lambda m: m.nd.random.poisson(m.nd.array([1.0, 2.0]), shape=(5,)),
    lambda m: m.nd.random.exponential(m.nd.array([1.0, 2.0]), shape=(5,)),
    lambda m: m.nd.random.multinomial(m.nd.array([[0.2, 0.8], [0.5, 0.5]]), shape=3),
    lambda m: m.nd.random.multinomial(m.nd.array([0.2, 0.8])),
    lambda m: m.nd.random.shuffle(m.nd.array(np.arange(12).reshape(4, 3))),
    lambda m: m.nd.random.uniform_like(m.nd.zeros((2, 5), dtype="float64")),
    lambda m: m.nd.sample_normal(m.nd.array([0, 1]), m.nd.array([1, 2]), shape=(3,)),
    lambda m: m.nd.random_uniform(shape=(2, 2)),
    lambda m: m.random.uniform(0, 1, shape=(3,)),
])
def test_shapes_and_dtypes_match_mxnet(mxw, real_mx, call):
    ours, theirs = call(mxw), call(real_mx)
    if isinstance(theirs, (list, tuple)):
        for a, b in zip(ours, theirs):
            _same_meta(a, b)
    else:
        _same_meta(ours, theirs)


def test_multinomial_get_prob_outputs_and_gradient(mxw):
    mx = mxw
    p = mx.nd.array([[0.2, 0.8]])
    samples, logp = mx.nd.random.multinomial(p, shape=(4,), get_prob=True)
    assert samples.dtype == np.int32 and samples.shape == (1, 4)
    s = samples.asnumpy()
    np.testing.assert_allclose(logp.asnumpy(), np.log(np.array([0.2, 0.8])[s]), rtol=1e-6)
    # The gradient of sum(log p) with respect to the probabilities: counts / p.
    data = mx.sym.Variable("data")
    net = mx.sym.random.multinomial(data, shape=(50,), get_prob=True)[1]
    exe = net.simple_bind(mx.cpu(), data=(1, 2))
    exe.arg_dict["data"][:] = np.array([[0.25, 0.75]], dtype=np.float32)
    exe.forward(is_train=True)
    exe.backward([mx.nd.ones((1, 50))])
    drawn = exe.outputs[0].asnumpy()
    counts = np.array([np.sum(np.isclose(drawn, np.log(0.25))),
                       np.sum(np.isclose(drawn, np.log(0.75)))])
    np.testing.assert_allclose(exe.grad_dict["data"].asnumpy()[0], counts / [0.25, 0.75],
                               rtol=1e-5)


@pytest.mark.parametrize("make,mean,var", [
    (lambda m: m.nd.random.uniform(-2, 6, shape=(N,)), 2, 64 / 12),
    (lambda m: m.nd.random.normal(3, 0.5, shape=(N,)), 3, 0.25),
    (lambda m: m.nd.random.randn(N, loc=1, scale=2), 1, 4),
    (lambda m: m.nd.random.gamma(2.5, 2, shape=(N,)), 5, 10),
    (lambda m: m.nd.random.exponential(4, shape=(N,)), 4, 16),  # scale = 1 / rate
    (lambda m: m.nd.random.poisson(7.5, shape=(N,)), 7.5, 7.5),
    (lambda m: m.nd.random.negative_binomial(3, 0.4, shape=(N,)), 4.5, 11.25),
    (lambda m: m.nd.random.generalized_negative_binomial(2, 0.5, shape=(N,)), 2, 4),
    (lambda m: m.nd.random.randint(0, 10, shape=(N,)), 4.5, 99 / 12),
    (lambda m: m.nd.random.normal(m.nd.array([10.0]), m.nd.array([3.0]), shape=(N,)), 10, 9),
])
def test_sampler_moments(mxw, make, mean, var):
    mxw.random.seed(1234)
    x = make(mxw).asnumpy().astype(np.float64).ravel()
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / x.size)
    assert abs(x.var(ddof=1) - var) < 0.1 * var


def test_seed_reproduces_imperative_values(mxw):
    mx = mxw
    mx.random.seed(42)
    a = mx.nd.random.uniform(shape=(100,)).asnumpy()
    b = mx.nd.random.normal(shape=(100,)).asnumpy()
    mx.random.seed(42)
    np.testing.assert_array_equal(mx.nd.random.uniform(shape=(100,)).asnumpy(), a)
    np.testing.assert_array_equal(mx.nd.random.normal(shape=(100,)).asnumpy(), b)
    mx.random.seed(43)
    assert not np.array_equal(mx.nd.random.uniform(shape=(100,)).asnumpy(), a)
    # One device only: ctx=mx.cpu(0) seeds the stream the calls above use.
    mx.random.seed(42, ctx=mx.cpu(0))
    np.testing.assert_array_equal(mx.nd.random.uniform(shape=(100,)).asnumpy(), a)
    with pytest.raises(ValueError):
        mx.random.seed(1.5)


def test_seed_reproduces_executor_values(mxw):
    mx = mxw
    x = mx.sym.Variable("x")
    net = mx.sym.Dropout(x + mx.sym.random.uniform(shape=(20, 30)), p=0.5)
    exe = net.simple_bind(mx.cpu(), x=(20, 30), grad_req="null")

    def run(seed):
        mx.random.seed(seed)
        exe.forward(is_train=True)
        return exe.outputs[0].asnumpy()

    a = run(7)
    np.testing.assert_array_equal(run(7), a)
    assert not np.array_equal(run(8), a)
    assert 0.3 < np.mean(a == 0) < 0.7


def test_symbol_zero_input_node_infers_and_binds(mxw):
    mx = mxw
    s = mx.sym.random.normal(loc=1, scale=0.1, shape=(2, 3), dtype="float64")
    arg, out, aux = s.infer_shape()
    assert out == [(2, 3)]
    _, out_types, _ = s.infer_type()
    assert out_types == [np.float64]
    exe = s.bind(mx.cpu(), {})
    exe.forward()
    assert exe.outputs[0].shape == (2, 3)
    assert abs(exe.outputs[0].asnumpy().mean() - 1) < 0.2


def test_ctx_and_out(mxw):
    mx = mxw
    a = mx.nd.random.uniform(0, 1, shape=(2, 2), ctx=mx.cpu(0))
    assert a.context == mx.cpu(0)
    out = mx.nd.zeros((3, 4), dtype="float64")
    mx.nd.random.uniform(5, 6, out=out)
    v = out.asnumpy()
    assert v.dtype == np.float64 and ((v >= 5) & (v < 6)).all()
    with pytest.raises((ValueError, mx.MXNetError)):
        mx.nd.random.uniform(shape=(2,), ctx="tpu(0)").asnumpy()


def test_shuffle_permutes_rows(mxw):
    mx = mxw
    data = np.arange(40).reshape(20, 2).astype(np.float32)
    out = mx.nd.random.shuffle(mx.nd.array(data)).asnumpy()
    assert sorted(map(tuple, out)) == sorted(map(tuple, data))
    assert not np.array_equal(out, data)


def test_bad_parameters_raise(mxw):
    mx = mxw
    for call in [lambda: mx.nd.random.uniform(2, 1, shape=(2,)),
                 lambda: mx.nd.random.normal(0, -1, shape=(2,)),
                 lambda: mx.nd.random.randint(5, 5, shape=(2,)),
                 lambda: mx.nd.random.negative_binomial(2, 1.5, shape=(2,))]:
        with pytest.raises(mx.MXNetError):
            call().asnumpy()
    with pytest.raises(TypeError):
        mx.nd.random.uniform(mx.nd.array([0]), 1)

"""float16 through every operator (the worker runs half-precision calls on float32 copies and
rounds once, as MXNet's CPU kernels compute half_t in float): imperative operators, a bound
FullyConnected/BatchNorm graph whose float16 input makes its parameters float16, and its
gradients, each against real MXNet 1.9.1."""
import numpy as np
import pytest


def _inputs():
    rng = np.random.RandomState(3)
    return (rng.uniform(-2, 2, (4, 6)).astype(np.float16),
            rng.uniform(-1, 1, (1, 6)).astype(np.float16))


@pytest.mark.parametrize("op", ["broadcast_add", "broadcast_mul", "broadcast_maximum"])
def test_binary_float16_matches_mxnet(mxw, real_mx, op):
    a, b = _inputs()
    outs = [getattr(m.nd, op)(m.nd.array(a, dtype="float16"), m.nd.array(b, dtype="float16"))
            for m in (mxw, real_mx)]
    assert outs[0].dtype == np.float16
    np.testing.assert_array_equal(outs[0].asnumpy(), outs[1].asnumpy())


def test_unary_and_reductions_float16_match_mxnet(mxw, real_mx):
    a, _ = _inputs()
    for fn in (lambda m, x: m.nd.exp(x), lambda m, x: m.nd.sqrt(m.nd.abs(x)),
               lambda m, x: m.nd.sum(x, axis=1), lambda m, x: m.nd.mean(x),
               lambda m, x: m.nd.softmax(x), lambda m, x: m.nd.relu(x) * 3 + 1):
        got, want = (fn(m, m.nd.array(a, dtype="float16")).asnumpy() for m in (mxw, real_mx))
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32),
                                   rtol=2e-3, atol=2e-3)


def test_sum_of_many_float16_accumulates_in_float(mxw, real_mx):
    ones = np.ones(4096, np.float16)
    for m in (mxw, real_mx):
        assert float(m.nd.sum(m.nd.array(ones, dtype="float16")).asscalar()) == 4096.0


def _bn_fc(m):
    x = m.sym.Variable("x")
    h = m.sym.BatchNorm(x, fix_gamma=False, name="bn")
    return m.sym.FullyConnected(h, num_hidden=3, name="fc")


def _run_bn_fc(m, dtype, x, w, head):
    exe = _bn_fc(m).simple_bind(m.cpu(), x=(4, 6), type_dict={"x": dtype})
    exe.arg_dict["x"][:] = x
    exe.arg_dict["fc_weight"][:] = w
    exe.arg_dict["fc_bias"][:] = 0.25
    exe.arg_dict["bn_gamma"][:] = 1
    exe.arg_dict["bn_beta"][:] = 0
    exe.aux_dict["bn_moving_var"][:] = 1
    exe.forward(is_train=True)
    exe.backward(m.nd.array(head, dtype=dtype))
    return exe, [exe.outputs[0].asnumpy(), exe.aux_dict["bn_moving_mean"].asnumpy(),
                 exe.grad_dict["fc_weight"].asnumpy(), exe.grad_dict["x"].asnumpy()]


def test_bound_float16_graph_matches_mxnet(mxw, real_mx):
    rng = np.random.RandomState(5)
    x = rng.uniform(-1, 1, (4, 6)).astype(np.float16)
    w = rng.uniform(-0.5, 0.5, (3, 6)).astype(np.float16)
    head = rng.uniform(-1, 1, (4, 3)).astype(np.float16)
    exe, got = _run_bn_fc(mxw, "float16", x, w, head)
    # The float16 input decides the parameters' types through the operators, as MXNet's
    # simple_bind: FullyConnected's are float16, BatchNorm's float32.
    mx_exe = _bn_fc(real_mx).simple_bind(real_mx.cpu(), x=(4, 6), type_dict={"x": "float16"})
    for ours, theirs in ((exe.arg_dict, mx_exe.arg_dict), (exe.aux_dict, mx_exe.aux_dict)):
        assert {n: a.dtype for n, a in ours.items()} == {n: a.dtype for n, a in theirs.items()}
    assert exe.arg_dict["bn_gamma"].dtype == np.float32
    # Values: MXNet's CPU FullyConnected runs no float16 ("only supported by CuDNN"), so the
    # reference is MXNet in float32 on the same (float16-exact) values; rounding apart, equal.
    _, want = _run_bn_fc(real_mx, "float32", x, w, head)
    # The moving mean: mxgrid's float32 run (MXNet 1.9.1's executor leaves it at 0 on CPU,
    # its oneDNN BatchNorm and its own kernel alike; mxgrid moves it in the training forward).
    want[1] = _run_bn_fc(mxw, "float32", x, w, head)[1][1]
    assert np.abs(want[1]).max() > 0
    for g, w32, dtype in zip(got, want, (np.float16, np.float32, np.float16, np.float16)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g.astype(np.float32), w32, rtol=1e-2, atol=1e-2)


def test_simple_bind_without_type_dict_is_float32(mxw):
    exe = _bn_fc(mxw).simple_bind(mxw.cpu(), x=(2, 6))
    assert all(a.dtype == np.float32 for a in exe.arg_arrays)

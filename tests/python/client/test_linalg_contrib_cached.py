"""mx.nd.linalg / mx.sym.linalg (the _linalg_* operators), mx.nd.contrib (isinf, isfinite,
isnan and the _contrib_* operators), _eye, and mx.nd.CachedOp, checked against MXNet
1.9.1."""
import numpy as np
import pytest

RNG = np.random.RandomState(7)
SPD = np.array([[4, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 2]])
DOM = np.array([[2.5, 0.3, -0.4], [0.2, -1.8, 0.6], [0.1, 0.5, 2.2]])

# (name, kwargs, inputs): each run forward and backward (head gradient ones) in both.
LINALG = [
    ("gemm", {"transpose_a": True, "alpha": 1.5, "beta": 0.5},
     [RNG.randn(2, 4, 3), RNG.randn(2, 4, 2), RNG.randn(2, 3, 2)]),
    ("gemm2", {"transpose_b": True}, [RNG.randn(3, 4), RNG.randn(2, 4)]),
    ("gemm2", {"axis": 0}, [RNG.randn(3, 2, 4), RNG.randn(4, 2, 5)]),
    ("syrk", {"transpose": True, "alpha": 0.5}, [RNG.randn(2, 3, 4)]),
    ("trmm", {"rightside": True, "lower": False}, [DOM, RNG.randn(2, 3)]),
    ("trsm", {"transpose": True, "alpha": 2.0}, [DOM, RNG.randn(3, 2)]),
    ("potrf", {}, [SPD]),
    ("potri", {"lower": False}, [DOM]),
    ("gelqf", {}, [RNG.randn(2, 3, 4)]),
    ("inverse", {}, [DOM]),
    ("det", {}, [np.stack([DOM, SPD])]),
    ("slogdet", {}, [np.stack([DOM, SPD])]),
    ("sumlogdiag", {}, [SPD]),
    ("extractdiag", {"offset": -1}, [RNG.randn(2, 4, 4)]),
    ("makediag", {"offset": 2}, [RNG.randn(2, 3)]),
]


def _run_linalg(mx, name, kwargs, inputs):
    arrays = [mx.nd.array(x, dtype="float64") for x in inputs]
    for a in arrays:
        a.attach_grad()
    with mx.autograd.record():
        outs = getattr(mx.nd.linalg, name)(*arrays, **kwargs)
        outs = outs if isinstance(outs, list) else [outs]
        # sign (slogdet's first output) has no gradient: weight the last output only.
        loss = mx.nd.sum(outs[-1] * mx.nd.arange(1, outs[-1].size + 1, dtype="float64")
                         .reshape(outs[-1].shape))
    loss.backward()
    return [o.asnumpy() for o in outs], [a.grad.asnumpy() for a in arrays]


@pytest.mark.parametrize("case", LINALG, ids=["%s_%d" % (c[0], i) for i, c in enumerate(LINALG)])
def test_linalg_values_and_gradients_match_mxnet(mxw, real_mx, case):
    name, kwargs, inputs = case
    ours, our_grads = _run_linalg(mxw, name, kwargs, inputs)
    theirs, their_grads = _run_linalg(real_mx, name, kwargs, inputs)
    assert len(ours) == len(theirs)
    for o, t in zip(ours + our_grads, theirs + their_grads):
        assert o.shape == t.shape
        np.testing.assert_allclose(o, t, rtol=1e-9, atol=1e-10)


def test_linalg_aliases_and_symbol_namespace(mxw, real_mx):
    a, b = RNG.randn(3, 4), RNG.randn(4, 2)
    np.testing.assert_allclose(mxw.nd.linalg_gemm2(mxw.nd.array(a), mxw.nd.array(b)).asnumpy(),
                               a.dot(b).astype(np.float32), rtol=1e-5)
    for mx in (mxw, real_mx):
        s = mx.sym.linalg.gelqf(mx.sym.var("a"))
        assert len(s.list_outputs()) == 2
        _, out_shapes, _ = s.infer_shape(a=(2, 5, 7))
        assert out_shapes == [(2, 5, 7), (2, 5, 5)]
        _, out_types, _ = s.infer_type(a=np.float64)
        assert out_types == [np.float64, np.float64]
    with pytest.raises(AttributeError):
        mxw.nd.linalg.no_such_op  # noqa: B018


def test_potrf_of_an_indefinite_matrix_is_invalid_argument(mxw):
    with pytest.raises(mxw.MXNetError, match="INVALID_ARGUMENT.*not positive definite"):
        mxw.nd.linalg.potrf(mxw.nd.array([[1, 2], [2, 1]])).asnumpy()


@pytest.mark.parametrize("name", ["isinf", "isfinite", "isnan"])
def test_contrib_is_functions_match_mxnet(mxw, real_mx, name):
    x = np.array([[np.inf, -np.inf, np.nan], [5, -0.5, 0]], dtype=np.float32)
    ours = getattr(mxw.nd.contrib, name)(mxw.nd.array(x)).asnumpy()
    theirs = getattr(real_mx.nd.contrib, name)(real_mx.nd.array(x)).asnumpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(AttributeError):
        mxw.nd.contrib.no_such_op  # noqa: B018


@pytest.mark.parametrize("n,m,k,dtype", [(3, 0, 0, None), (2, 4, 1, "int32"),
                                         (4, 3, -2, "float64"), (2, 2, 5, None)])
def test_eye_matches_mxnet(mxw, real_mx, n, m, k, dtype):
    ours = mxw.nd.eye(n, m, k, dtype=dtype).asnumpy()
    theirs = real_mx.nd.eye(n, m, k, dtype=dtype).asnumpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    for mx in (mxw, real_mx):
        exe = mx.sym.eye(n, m, k).bind(mx.cpu(), {})
        np.testing.assert_array_equal(exe.forward()[0].asnumpy(), np.eye(n, m or n, k))


def _cached_run(mx):
    data = mx.sym.var("data")
    net = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    net = mx.sym.Group([mx.sym.relu(net) * 2, mx.sym.sum(net)])
    op = mx.nd.CachedOp(net)
    x = mx.nd.array(np.arange(8, dtype="f").reshape(2, 4) / 8 - 0.3)
    w = mx.nd.array(np.arange(12, dtype="f").reshape(3, 4) / 10 - 0.5)
    b = mx.nd.array([0.1, -0.2, 0.3])
    w.attach_grad()
    b.attach_grad()
    with mx.autograd.record():
        y, s = op(x, w, b)
        loss = mx.nd.sum(y) + s
    loss.backward()
    out = [mx.nd.zeros((2, 3)), mx.nd.zeros((1,))]
    op(x, w, b, out=out)
    return [y.asnumpy(), s.asnumpy(), w.grad.asnumpy(), b.grad.asnumpy(),
            out[0].asnumpy(), out[1].asnumpy()]


def test_cached_op_outputs_gradients_and_out_match_mxnet(mxw, real_mx):
    for o, t in zip(_cached_run(mxw), _cached_run(real_mx)):
        np.testing.assert_allclose(o, t, rtol=1e-5, atol=1e-6)


def test_cached_op_checks_its_arguments(mxw):
    op = mxw.nd.CachedOp(mxw.sym.var("a") + mxw.sym.var("b"))
    with pytest.raises(mxw.MXNetError, match="expected 2 inputs"):
        op(mxw.nd.ones((2,)))
    with pytest.raises(TypeError):
        op(mxw.nd.ones((2,)), np.ones(2))

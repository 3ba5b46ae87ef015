"""Integer dtypes (int8, uint8, int32, int64) in reductions, norm, argmax/argmin, add_n,
broadcast ops, hypot, topk/sort/argsort and clip, forward and gradient, and NaN in
max/min/argmax/argmin: every value and dtype checked against MXNet 1.9.1."""
import numpy as np
import pytest

INT_DTYPES = ["int8", "uint8", "int32", "int64"]
X = [[1, 2, 3], [4, 5, 6]]
WIDE = [[7, -3, 5], [100, -100, 50]]  # int8 wraps; uint8 reads 253, 156, 206


def _forward_calls(nd):
    return {
        "sum": lambda a: nd.sum(a, axis=0),
        "sum_exclude": lambda a: nd.sum(a, axis=1, exclude=True),
        "mean": lambda a: nd.mean(a, axis=1),
        "prod": lambda a: nd.prod(a, axis=0),
        "max": lambda a: nd.max(a, axis=1, keepdims=True),
        "min": lambda a: nd.min(a),
        "nansum": lambda a: nd.nansum(a, axis=0),
        "nanprod": lambda a: nd.nanprod(a, axis=1),
        "norm": lambda a: nd.norm(a),
        "norm_axis": lambda a: nd.norm(a, axis=1),
        "norm_l1": lambda a: nd.norm(a, ord=1, axis=0),
        "argmax": lambda a: nd.argmax(a, axis=0),
        "argmin": lambda a: nd.argmin(a, axis=1),
        "argmax_channel": lambda a: nd.argmax_channel(a),
        "add_n": lambda a: nd.add_n(a, a, a),
        "clip": lambda a: nd.clip(a, 2, 5),
        "topk_value": lambda a: nd.topk(a, k=2, ret_typ="value"),
        "topk_both": lambda a: nd.topk(a, k=2, ret_typ="both", dtype="int64"),
        "sort": lambda a: nd.sort(a, axis=0, is_ascend=False),
        "argsort": lambda a: nd.argsort(a, dtype="int32"),
        "broadcast_add": lambda a: nd.broadcast_add(a, a[0:1]),
        "broadcast_mul": lambda a: nd.broadcast_mul(a, a[1:2]),
        "broadcast_maximum": lambda a: nd.broadcast_maximum(a, a[0:1]),
        "broadcast_hypot": lambda a: nd.broadcast_hypot(a, a[0:1]),
        "hypot": lambda a: nd._internal._hypot(a, a),
    }


def _as_list(r):
    return r if isinstance(r, list) else [r]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("values", [X, WIDE], ids=["small", "wide"])
def test_integer_forward_matches_mxnet(mxw, real_mx, dtype, values):
    src = np.array(values).astype(dtype)
    ours_calls, theirs_calls = _forward_calls(mxw.nd), _forward_calls(real_mx.nd)
    for name in ours_calls:
        ours = _as_list(ours_calls[name](mxw.nd.array(src, dtype=dtype)))
        theirs = _as_list(theirs_calls[name](real_mx.nd.array(src, dtype=dtype)))
        assert len(ours) == len(theirs), name
        for o, t in zip(ours, theirs):
            o, t = o.asnumpy(), t.asnumpy()
            assert o.dtype == t.dtype, (name, o.dtype, t.dtype)
            np.testing.assert_array_equal(o, t, err_msg=name)


def _grads(mx, op, dtype):
    x = mx.nd.array(X, dtype=dtype)
    z = mx.nd.array([[2, 1, 2]], dtype=dtype)
    x.attach_grad()
    z.attach_grad()
    with mx.autograd.record():
        if op.startswith("broadcast"):
            y = getattr(mx.nd, op)(x, z)
        elif op == "add_n":
            y = mx.nd.add_n(x, x)
        elif op == "topk":
            y = mx.nd.topk(x, k=2, ret_typ="value")
        else:
            y = getattr(mx.nd, op)(x, axis=0)
    head = mx.nd.array(np.arange(1, y.size + 1).reshape(y.shape), dtype=dtype)
    y.backward(head)
    return [x.grad.asnumpy(), z.grad.asnumpy()]


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64"])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "prod", "nansum", "add_n",
                                "topk", "broadcast_add", "broadcast_sub", "broadcast_mul",
                                "broadcast_maximum", "broadcast_minimum"])
def test_integer_gradients_match_mxnet(mxw, real_mx, dtype, op):
    for o, t in zip(_grads(mxw, op, dtype), _grads(real_mx, op, dtype)):
        assert o.dtype == t.dtype
        np.testing.assert_array_equal(o, t)


def test_max_min_argmax_argmin_propagate_nan_like_mxnet(mxw, real_mx):
    x = np.array([[1, np.nan, 3], [np.nan, 2, -1], [4, 5, 6]], dtype=np.float32)
    for name, kwargs in [("max", {"axis": 1}), ("min", {"axis": 0}), ("argmax", {"axis": 1}),
                         ("argmin", {"axis": 0}), ("max", {}), ("argmax", {})]:
        ours = getattr(mxw.nd, name)(mxw.nd.array(x), **kwargs).asnumpy()
        theirs = getattr(real_mx.nd, name)(real_mx.nd.array(x), **kwargs).asnumpy()
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_integer_mean_of_256_uint8_elements_is_an_error(mxw):
    # MXNet divides by the count cast to uint8 (0) and dies of SIGFPE; here a clear error.
    with pytest.raises(mxw.MXNetError, match="integer division by zero"):
        mxw.nd.mean(mxw.nd.ones((256,), dtype="uint8")).asnumpy()

"""3-D (NCDHW) Convolution, Deconvolution and Pooling against MXNet 1.9.1: the output and the
gradients of sum(out * head) with respect to every input, through autograd, for several
configurations and both float types; and shape inference, including the parameters MXNet
refuses."""
import numpy as np
import pytest


def _run(m, op, inputs, attrs, head, dtype):
    """Forward `op` on `inputs` and backward `head`; returns [out, grad of each input]."""
    arrays = [m.nd.array(v, dtype=dtype) for v in inputs]
    for a in arrays:
        a.attach_grad()
    with m.autograd.record():
        out = getattr(m.nd, op)(*arrays, **attrs)
    out.backward(m.nd.array(head, dtype=dtype))
    return [out.asnumpy()] + [a.grad.asnumpy() for a in arrays]


def _compare(mxw, real_mx, op, shapes, attrs, dtype, rtol):
    rng = np.random.RandomState(11)
    inputs = [rng.uniform(-1, 1, s) for s in shapes]
    # MXNet gives the output shape, and with it the head gradient.
    mx_out = getattr(real_mx.nd, op)(*[real_mx.nd.array(v, dtype=dtype) for v in inputs],
                                     **attrs)
    head = rng.uniform(-1, 1, mx_out.shape)
    want = _run(real_mx, op, inputs, attrs, head, dtype)
    got = _run(mxw, op, inputs, attrs, head, dtype)
    names = ["output"] + ["grad of input %d" % i for i in range(len(inputs))]
    for name, g, w in zip(names, got, want):
        assert g.dtype == np.dtype(dtype), name
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol, err_msg=name)


_TOL = {"float32": 2e-4, "float64": 1e-10}

CONV_CASES = [
    # (data shape, attrs)
    ((2, 3, 4, 5, 6), dict(kernel=(3, 3, 3), num_filter=4)),
    ((1, 2, 5, 6, 7), dict(kernel=(3, 2, 3), stride=(2, 1, 2), pad=(1, 0, 1), num_filter=3)),
    ((2, 4, 6, 5, 6), dict(kernel=(2, 2, 2), dilate=(2, 1, 2), num_group=2, num_filter=4,
                           no_bias=True)),
    ((2, 16, 4, 6, 6), dict(kernel=(3, 3, 3), pad=(1, 1, 1), num_filter=8)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_convolution_3d_matches_mxnet(mxw, real_mx, case, dtype):
    shape, attrs = CONV_CASES[case]
    groups = attrs.get("num_group", 1)
    shapes = [shape, (attrs["num_filter"], shape[1] // groups) + attrs["kernel"]]
    if not attrs.get("no_bias", False):
        shapes.append((attrs["num_filter"],))
    _compare(mxw, real_mx, "Convolution", shapes, attrs, dtype, _TOL[dtype])


POOL_CASES = [
    ((2, 2, 4, 4, 6), dict(kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="max")),
    ((1, 3, 5, 6, 5), dict(kernel=(3, 2, 3), stride=(2, 2, 2), pad=(1, 1, 1), pool_type="max",
                           pooling_convention="full")),
    ((2, 2, 6, 5, 5), dict(kernel=(3, 3, 2), stride=(2, 2, 2), pad=(1, 1, 1), pool_type="avg",
                           pooling_convention="full")),
    ((2, 1, 5, 4, 5), dict(kernel=(3, 3, 3), stride=(2, 1, 2), pad=(1, 1, 1), pool_type="avg",
                           count_include_pad=False)),
    ((1, 2, 5, 5, 3), dict(kernel=(2, 2, 2), stride=(2, 2, 2), pool_type="sum",
                           pooling_convention="full")),
    ((2, 3, 3, 4, 5), dict(kernel=(1, 1, 1), global_pool=True, pool_type="avg")),
    ((2, 3, 3, 4, 5), dict(kernel=(1, 1, 1), global_pool=True, pool_type="max")),
    ((2, 2, 3, 4, 6), dict(kernel=(1, 2, 2), stride=(1, 2, 2), pool_type="max")),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_pooling_3d_matches_mxnet(mxw, real_mx, case, dtype):
    shape, attrs = POOL_CASES[case]
    _compare(mxw, real_mx, "Pooling", [shape], attrs, dtype, _TOL[dtype])


DECONV_CASES = [
    ((2, 2, 2, 3, 3), dict(kernel=(3, 3, 3), num_filter=3, no_bias=False)),
    ((1, 2, 3, 2, 3), dict(kernel=(3, 2, 3), stride=(2, 2, 1), pad=(1, 0, 1), adj=(1, 1, 0),
                           num_filter=4, num_group=2)),
    # MXNet 1.9.1 runs a 3-D target_shape only where it needs no padding (any other fails
    # in its oneDNN primitive: "could not create a descriptor"); its shape inference is
    # compared below and our padded targets are checked by the C++ cases (deconv3d_target_*).
    ((1, 2, 3, 4, 3), dict(kernel=(3, 3, 2), stride=(2, 2, 2), target_shape=(7, 9, 6),
                           num_filter=2)),
]


# MXNet 1.9.1 runs 3-D Deconvolution only through oneDNN, in float32 (float64 is refused);
# ours in float64 is covered by the C++ consistency cases.
@pytest.mark.parametrize("case", range(len(DECONV_CASES)))
def test_deconvolution_3d_matches_mxnet(mxw, real_mx, case):
    shape, attrs = DECONV_CASES[case]
    groups = attrs.get("num_group", 1)
    shapes = [shape, (shape[1], attrs["num_filter"] // groups) + attrs["kernel"]]
    if not attrs.get("no_bias", True):
        shapes.append((attrs["num_filter"],))
    _compare(mxw, real_mx, "Deconvolution", shapes, attrs, "float32", _TOL["float32"])


def _infer(m, op, data_shape, **attrs):
    data = m.sym.Variable("data")
    _, out, _ = getattr(m.sym, op)(data, **attrs).infer_shape(data=data_shape)
    return out[0]


@pytest.mark.parametrize("op, shape, attrs", [
    ("Convolution", (2, 3, 7, 8, 9), dict(kernel=(3, 2, 4), stride=(2, 3, 1), pad=(1, 0, 2),
                                          dilate=(1, 2, 1), num_filter=5)),
    ("Deconvolution", (2, 3, 4, 5, 6), dict(kernel=(3, 3, 3), stride=(2, 3, 2), pad=(1, 0, 1),
                                            adj=(1, 2, 0), num_filter=4)),
    ("Deconvolution", (1, 2, 4, 4, 4), dict(kernel=(3, 3, 3), stride=(2, 2, 2),
                                            target_shape=(8, 9, 7), num_filter=2)),
    ("Pooling", (1, 2, 7, 8, 9), dict(kernel=(3, 2, 4), stride=(2, 3, 2), pad=(1, 1, 1),
                                      pooling_convention="full")),
    ("Pooling", (1, 2, 7, 8, 9), dict(kernel=(3, 2, 4), stride=(2, 3, 2), pad=(1, 1, 1))),
])
def test_3d_shape_inference_matches_mxnet(mxw, real_mx, op, shape, attrs):
    assert _infer(mxw, op, shape, **attrs) == _infer(real_mx, op, shape, **attrs)


@pytest.mark.parametrize("op, inputs, attrs, words", [
    # MXNet: "Dilate is not supported in 3d deconvolution".
    ("Deconvolution", [(1, 2, 4, 4, 4), (2, 3, 3, 3, 3)],
     dict(kernel=(3, 3, 3), dilate=(2, 2, 2), num_filter=3), ["Deconvolution", "dilate"]),
    # A target shape needing an adj of 1 where the stride is 1 (MXNet: adj must be smaller
    # than stride).
    ("Deconvolution", [(1, 2, 4, 4, 4), (2, 3, 3, 3, 3)],
     dict(kernel=(3, 3, 3), target_shape=(5, 5, 5), num_filter=3), ["Deconvolution",
                                                                    "target_shape"]),
    ("Deconvolution", [(1, 2, 4, 4, 4), (2, 3, 3, 3, 3)],
     dict(kernel=(3, 3, 3), stride=(2, 2, 2), target_shape=(8, 9, 10), num_filter=3),
     ["Deconvolution", "target_shape"]),
    ("Convolution", [(1, 2, 4, 4, 4), (3, 2, 3, 3, 3)],
     dict(kernel=(3, 3, 3), stride=(1, 1), num_filter=3, no_bias=True),
     ["Convolution", "stride"]),
    ("Convolution", [(1, 2, 4, 4, 4, 4), (3, 2, 3, 3, 3, 3)],
     dict(kernel=(3, 3, 3, 3), num_filter=3, no_bias=True), ["Convolution", "kernel"]),
    ("Pooling", [(1, 2, 4, 4, 4)], dict(kernel=(2, 2, 2), pad=(1, 1)), ["Pooling", "pad"]),
    ("Pooling", [(1, 2, 4, 4)], dict(kernel=(2, 2, 2)), ["Pooling", "kernel"]),
])
def test_3d_bad_parameters_are_refused_by_both(mxw, real_mx, op, inputs, attrs, words):
    rng = np.random.RandomState(3)
    for m in (real_mx, mxw):
        arrays = [m.nd.array(rng.uniform(-1, 1, s)) for s in inputs]
        with pytest.raises(Exception) as err:
            getattr(m.nd, op)(*arrays, **attrs).asnumpy()
        if m is mxw:
            for w in words:
                assert w in str(err.value)

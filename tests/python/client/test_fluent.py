"""Fluent methods (x.sum(axis=1), sym.abs()), the symbol module functions over operators
(maximum, minimum, power, zeros, ones, full, arange), the _internal namespaces and the
operators added for them (reshape_like, shape_array, size_array, argmax_channel, softmin,
_identity_with_attr_like_rhs, _zeros/_ones/_full/_arange), checked against MXNet 1.9.1."""
import numpy as np
import pytest

X = np.array([[0.5, -1.25, 2.0], [3.0, -0.75, 0.25]], dtype=np.float32)

# (method, kwargs, input); each checked fluent vs function form and against MXNet 1.9.1.
CALLS = [
    ("abs", {}, X), ("sign", {}, X), ("square", {}, X), ("exp", {}, X),
    ("degrees", {}, X), ("radians", {}, X), ("trunc", {}, X), ("fix", {}, X),
    ("cbrt", {}, np.abs(X) + 0.5), ("rcbrt", {}, np.abs(X) + 0.5),
    ("sum", {"axis": 1}, X), ("mean", {"axis": 0}, X), ("max", {"axis": 1}, X),
    ("norm", {}, X), ("argmax", {"axis": 1}, X), ("argmax_channel", {}, X),
    ("softmax", {}, X), ("log_softmax", {"axis": 0}, X), ("softmin", {}, X),
    ("softmin", {"axis": 0, "temperature": 2.0}, X),
    ("shape_array", {}, X), ("size_array", {}, X), ("flatten", {}, X),
    ("expand_dims", {"axis": 1}, X), ("transpose", {}, X), ("flip", {"axis": 1}, X),
    ("tile", {"reps": (2, 1)}, X), ("repeat", {"repeats": 2}, X),
    ("clip", {"a_min": 0.0, "a_max": 1.0}, X), ("slice_axis", {"axis": 1, "begin": 1, "end": 3}, X),
    ("sort", {"axis": 1}, X), ("topk", {"k": 2}, X), ("squeeze", {}, X[:1]),
    ("depth_to_space", {"block_size": 2}, np.arange(48, dtype="f").reshape(1, 8, 2, 3)),
    ("space_to_depth", {"block_size": 2}, np.arange(32, dtype="f").reshape(2, 1, 4, 4)),
    ("relu", {}, X), ("sigmoid", {}, X), ("one_hot", {"depth": 4}, np.array([0, 3, 1], "f")),
]


def _ids(calls):
    return ["%s_%d" % (c[0], i) for i, c in enumerate(calls)]


@pytest.mark.parametrize("call", CALLS, ids=_ids(CALLS))
def test_ndarray_fluent_matches_function_and_mxnet(mxw, real_mx, call):
    name, kwargs, x = call
    a = mxw.nd.array(x)
    fluent = getattr(a, name)(**kwargs).asnumpy()
    function = getattr(mxw.nd, name)(a, **kwargs).asnumpy()
    theirs = getattr(real_mx.nd.array(x), name)(**kwargs).asnumpy()
    np.testing.assert_array_equal(fluent, function)
    assert fluent.dtype == theirs.dtype, name
    np.testing.assert_allclose(fluent, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call", CALLS, ids=_ids(CALLS))
def test_symbol_fluent_matches_function_and_mxnet(mxw, real_mx, call):
    name, kwargs, x = call
    outs = []
    for mx in (mxw, real_mx):
        data = mx.sym.Variable("data")
        with mx.name.NameManager():
            fluent = getattr(data, name)(**kwargs)
        with mx.name.NameManager():
            function = getattr(mx.sym, name)(data, **kwargs)
        if mx is mxw:  # (MXNet's own squeeze method writes axis=None into the node)
            assert fluent.tojson() == function.tojson()
        assert fluent.list_outputs() == function.list_outputs()
        exe = fluent.bind(mx.cpu(), {"data": mx.nd.array(x)})
        outs.append(exe.forward()[0].asnumpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def test_inplace_reshapes_share_memory(mxw):
    x = mxw.nd.array(np.arange(6, dtype=np.float32).reshape(2, 1, 3))
    views = [x.expand_dims(axis=-1, inplace=True), x.squeeze(inplace=True),
             x.squeeze(axis=1, inplace=True), x.flatten(inplace=True)]
    copies = [x.expand_dims(axis=-1), x.squeeze(), x.squeeze(axis=1), x.flatten()]
    assert [v.shape for v in views] == [(2, 1, 3, 1), (2, 3), (2, 3), (2, 3)]
    assert [c.shape for c in copies] == [v.shape for v in views]
    x[0] = -1
    for v, c in zip(views, copies):
        assert v.asnumpy().min() == -1  # the view sees the write
        assert c.asnumpy().min() == 0  # the copy does not
    with pytest.raises(ValueError):
        x.squeeze(axis=0, inplace=True)


def test_magic_abs(mxw):
    x = mxw.nd.array(X)
    np.testing.assert_array_equal(abs(x).asnumpy(), np.abs(X))
    data = mxw.sym.Variable("data")
    out = abs(data).bind(mxw.cpu(), {"data": x}).forward()[0].asnumpy()
    np.testing.assert_array_equal(out, np.abs(X))


@pytest.mark.parametrize("args", [(3,), ((1, 3),), (2, 0), ((1,), 2), (3, 1, True)])
def test_split_v2_matches_mxnet(mxw, real_mx, args):
    x = np.arange(36, dtype=np.float32).reshape(6, 3, 2)
    ours = mxw.nd.array(x).split_v2(*args)
    theirs = real_mx.nd.array(x).split_v2(*args)
    ours = ours if isinstance(ours, list) else [ours]
    theirs = theirs if isinstance(theirs, list) else [theirs]
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.asnumpy(), t.asnumpy())
    syms = []
    for mx in (mxw, real_mx):
        data = mx.sym.Variable("data")
        out = mx.sym.split_v2(data, *args)
        syms.append(out.infer_shape(data=x.shape)[1])
    assert syms[0] == syms[1]


def test_split_v2_uneven_sections(mxw, real_mx):
    # mx.nd.split_v2 refuses them, as MXNet's; the symbol splits the first parts longer.
    with pytest.raises(ValueError):
        mxw.nd.split_v2(mxw.nd.zeros((5, 2)), 3)
    shapes = [mx.sym.split_v2(mx.sym.Variable("d"), 3).infer_shape(d=(5, 2))[1]
              for mx in (mxw, real_mx)]
    assert shapes[0] == shapes[1] == [(2, 2), (2, 2), (1, 2)]


def test_split_v2_gradient_scatters_back(mxw):
    data = mxw.sym.Variable("data")
    out = data.split_v2((2,), axis=1)
    exe = mxw.sym.Group([out[0] * 2.0, out[1] * 3.0]).simple_bind(mxw.cpu(), data=(2, 4))
    exe.forward(is_train=True)
    exe.backward([mxw.nd.ones((2, 2)), mxw.nd.ones((2, 2))])
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy(), [[2, 2, 3, 3], [2, 2, 3, 3]])


@pytest.mark.parametrize("lhs_shape,rhs_shape,kwargs,want", [
    ((6,), (3, 2), {}, (3, 2)),
    ((30, 7), (15, 2, 4), {"lhs_begin": 0, "lhs_end": 1, "rhs_begin": 0, "rhs_end": 2},
     (15, 2, 7)),
    ((3, 5), (1, 15, 4), {"lhs_begin": 0, "lhs_end": 2, "rhs_begin": 1, "rhs_end": 2}, (15,)),
    ((30, 12), (4, 2, 2, 3), {"lhs_begin": -1, "lhs_end": None, "rhs_begin": 1,
                              "rhs_end": None}, (30, 2, 2, 3)),
])
def test_reshape_like_matches_mxnet(mxw, real_mx, lhs_shape, rhs_shape, kwargs, want):
    x = np.arange(np.prod(lhs_shape), dtype=np.float32).reshape(lhs_shape)
    ours = mxw.nd.reshape_like(mxw.nd.array(x), mxw.nd.zeros(rhs_shape), **kwargs).asnumpy()
    theirs = real_mx.nd.reshape_like(real_mx.nd.array(x), real_mx.nd.zeros(rhs_shape),
                                     **kwargs).asnumpy()
    assert ours.shape == want == theirs.shape
    np.testing.assert_array_equal(ours, theirs)


def test_reshape_like_refuses_a_size_mismatch(mxw):
    with pytest.raises(mxw.MXNetError, match="reshape_like"):
        mxw.nd.reshape_like(mxw.nd.zeros((5,)), mxw.nd.zeros((2, 3))).asnumpy()


def test_reshape_like_gradient_goes_to_lhs_only(mxw):
    lhs, rhs = mxw.sym.Variable("lhs"), mxw.sym.Variable("rhs")
    out = lhs.reshape_like(rhs)
    exe = out.simple_bind(mxw.cpu(), lhs=(6,), rhs=(2, 3))
    exe.arg_dict["lhs"][:] = np.arange(6)
    exe.forward(is_train=True)
    exe.backward([mxw.nd.array(np.arange(6).reshape(2, 3) + 1)])
    np.testing.assert_array_equal(exe.grad_dict["lhs"].asnumpy(), np.arange(6) + 1)
    np.testing.assert_array_equal(exe.grad_dict["rhs"].asnumpy(), np.zeros((2, 3)))


def test_identity_with_attr_like_rhs_infers_backwards(mxw):
    # MXNet's test_infer_shape.py::test_backward_infer.
    w = mxw.sym.Variable("weight")
    wshift = mxw.sym.Variable("wshift", shape=(1,))
    wt = mxw.symbol._internal._identity_with_attr_like_rhs(mxw.sym.broadcast_add(w, wshift), w)
    net = mxw.sym.FullyConnected(data=mxw.sym.Variable("data"), weight=wt, num_hidden=11,
                                 no_bias=True)
    arg_shapes, out_shapes, _ = net.infer_shape(data=(7, 100))
    assert dict(zip(net.list_arguments(), arg_shapes))["weight"] == (11, 100)
    assert out_shapes == [(7, 11)]


def test_shape_and_size_arrays_are_int64(mxw, real_mx):
    x = np.zeros((2, 5, 3), np.float32)
    for name in ("shape_array", "size_array"):
        ours = getattr(mxw.nd, name)(mxw.nd.array(x)).asnumpy()
        theirs = getattr(real_mx.nd, name)(real_mx.nd.array(x)).asnumpy()
        assert ours.dtype == np.int64 == theirs.dtype
        np.testing.assert_array_equal(ours, theirs)
    sym = mxw.sym.Variable("data").shape_array()
    assert sym.infer_type(data=np.float32)[1] == [np.int64]
    assert sym.infer_shape(data=(2, 5, 3))[1] == [(3,)]


@pytest.mark.parametrize("build", [
    lambda mx: mx.sym.zeros((2, 3)),
    lambda mx: mx.sym.ones((4,), dtype="float64"),
    lambda mx: mx.sym.full((2, 2), 7.5),
    lambda mx: mx.sym.arange(5),
    lambda mx: mx.sym.arange(1, 2.5, step=0.5, repeat=2),
    lambda mx: mx.sym.arange(2, -1, step=-1, dtype="int32"),
    lambda mx: mx.sym.linspace(0.5, 7.25, 9),
    lambda mx: mx.sym.linspace(1, 10, 4, endpoint=False, dtype="float64"),
])
def test_creation_symbols_match_mxnet(mxw, real_mx, build):
    ours = build(mxw).eval(ctx=mxw.cpu())[0].asnumpy()
    theirs = build(real_mx).eval(ctx=real_mx.cpu())[0].asnumpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("args,kwargs", [
    ((3.5, 97.25, 13), {}), ((3.5, 97.25, 13), {"endpoint": False}),
    ((3.5, 97.25, 13), {"dtype": "int32"}), ((2.0, 5.0, 1), {}), ((2.0, 5.0, 0), {}),
])
def test_ndarray_linspace_matches_mxnet(mxw, real_mx, args, kwargs):
    ours = mxw.nd.linspace(*args, **kwargs).asnumpy()
    theirs = real_mx.nd.linspace(*args, **kwargs).asnumpy()
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_symbol_maximum_minimum_power(mxw, real_mx):
    a = np.array([[0.5, 2.0], [3.0, 1.0]], np.float32)
    b = np.array([[1.0, 1.5], [2.5, 4.0]], np.float32)
    results = []
    for mx in (mxw, real_mx):
        x, y = mx.sym.Variable("x"), mx.sym.Variable("y")
        outs = [mx.sym.maximum(x, y), mx.sym.minimum(x, y), mx.sym.maximum(x, 1.5),
                mx.sym.minimum(1.5, y), mx.sym.power(x, y), mx.sym.power(x, 2),
                mx.sym.pow(2, y), mx.sym.hypot(x, y), mx.sym.hypot(x, 2.0),
                mx.sym.hypot(3.0, y)]
        args = {"x": mx.nd.array(a), "y": mx.nd.array(b)}
        results.append([o.bind(mx.cpu(), {k: v for k, v in args.items()
                                          if k in o.list_arguments()}).forward()[0].asnumpy()
                        for o in outs])
        assert [o.name for o in outs[2:4]] == ["_maximumscalar0", "_minimumscalar0"]
        assert mx.sym.maximum(1, 3) == 3 and mx.sym.power(2, 3) == 8
        assert mx.sym.hypot(3, 4) == 5
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_hypot_operators_match_mxnet(mxw, real_mx):
    # MXNet 1.9.1 has no mx.nd.hypot function; its operators are there.
    a = np.array([[0.5, -2.0], [3.0, 1.0]], np.float32)
    b = np.array([1.5, -4.0], np.float32)
    outs = []
    for mx in (mxw, real_mx):
        x, y = mx.nd.array(a), mx.nd.array(b)
        outs.append([mx.nd.broadcast_hypot(x, y).asnumpy(),
                     mx.nd._internal._hypot(x, x * 2).asnumpy(),
                     mx.nd._internal._hypot_scalar(x, scalar=2.0).asnumpy()])
    for ours, theirs in zip(*outs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_internal_namespaces_expose_underscore_operators(mxw):
    ours = mxw.nd._internal._plus_scalar(mxw.nd.array([1.0, 2.0]), scalar=1.0).asnumpy()
    np.testing.assert_array_equal(ours, [2.0, 3.0])
    assert mxw.sym._internal is mxw.symbol._internal
    assert "_identity_with_attr_like_rhs" in dir(mxw.sym._internal)
    x = mxw.sym._internal._mul_scalar(mxw.sym.Variable("x"), scalar=2.0)
    assert x.list_arguments() == ["x"]
    with pytest.raises(AttributeError):
        mxw.sym._internal._no_such_operator


def test_check_consistency_compares_outputs_and_gradients(mxw):
    from mxgrid.test_utils import check_consistency
    data = mxw.sym.Variable("data")
    ctx = {"ctx": mxw.cpu(), "data": (3, 4)}
    with mxw.name.NameManager():
        fluent = data.exp(name="e")
    gt = check_consistency([fluent, mxw.sym.exp(data, name="e")], [ctx, ctx])
    assert sorted(gt) == ["data", "e_output"]
    # The reference gradient with the outputs as head gradients: exp(x) * exp(x).
    np.testing.assert_allclose(gt["data"].asnumpy(), gt["e_output"].asnumpy() ** 2, rtol=1e-5)
    with pytest.raises(AssertionError):  # different outputs
        check_consistency([data.sin(name="f"), data.cos(name="f")], [ctx, ctx],
                          grad_req="null")
    with pytest.raises(AssertionError):  # same outputs, different gradients
        check_consistency([mxw.sym.identity(data, name="g"),
                           mxw.sym.BlockGrad(data, name="g")], [ctx, ctx])


@pytest.mark.parametrize("source,destination", [(0, 2), (2, 0), (-1, 0), ((0, 1), (2, 0))])
def test_moveaxis_matches_mxnet(mxw, real_mx, source, destination):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    ours = mxw.nd.moveaxis(mxw.nd.array(x), source, destination).asnumpy()
    theirs = real_mx.nd.moveaxis(real_mx.nd.array(x), source, destination).asnumpy()
    np.testing.assert_array_equal(ours, theirs)
    with pytest.raises(ValueError):
        mxw.nd.moveaxis(mxw.nd.array(x), 3, 0)


def test_concatenate_and_onehot_encode_match_mxnet(mxw, real_mx):
    parts = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((2, 2), np.float32)]
    results = []
    for mx in (mxw, real_mx):
        cat = mx.nd.concatenate([mx.nd.array(p) for p in parts], axis=1).asnumpy()
        out = mx.nd.zeros((3, 4))
        mx.nd.onehot_encode(mx.nd.array([2, 0, 3]), out)
        shape = mx.nd.ones((3,)).broadcast_to((2, 4, 3)).shape
        results.append((cat, out.asnumpy(), shape))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_fill_element_0index_matches_mxnet(mxw, real_mx):
    lhs = np.arange(12, dtype=np.float32).reshape(3, 4)
    val, idx = np.array([-1, -2, -3], np.float32), np.array([3, 0, 2], np.float32)
    outs = [mx.nd.fill_element_0index(mx.nd.array(lhs), mx.nd.array(val),
                                      mx.nd.array(idx)).asnumpy() for mx in (mxw, real_mx)]
    np.testing.assert_array_equal(outs[0], outs[1])
    with pytest.raises(mxw.MXNetError, match="outside"):
        mxw.nd.fill_element_0index(mxw.nd.array(lhs), mxw.nd.array(val),
                                   mxw.nd.array([4, 0, 0])).asnumpy()

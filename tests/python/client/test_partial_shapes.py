"""Partial shape inference (unknown dims) through mxgrid's compiler against real MXNet 1.9.1:
Symbol.infer_shape_partial / infer_shape with unknown dims, under MXNet's legacy rules (0 is
unknown) and under np_shape(True) (-1 is unknown, None an unknown shape)."""
import pytest

# (name, build(sym module) -> symbol, known shapes)
CASES = [
    ("dot_batch_unknown", lambda s: s.dot(s.Variable("x"), s.Variable("y")),
     {"x": (0, 3, 4), "y": (4, 5)}),
    ("dot_transpose_a", lambda s: s.dot(s.Variable("x"), s.Variable("y"), transpose_a=True),
     {"x": (4, 0), "y": (4, 5)}),
    ("dot_transpose_b", lambda s: s.dot(s.Variable("x"), s.Variable("y"), transpose_b=True),
     {"x": (0, 4), "y": (6, 4)}),
    ("batch_dot_batch_unknown", lambda s: s.batch_dot(s.Variable("x"), s.Variable("y")),
     {"x": (0, 3, 4), "y": (0, 4, 5)}),
    ("batch_dot_k_unknown", lambda s: s.batch_dot(s.Variable("x"), s.Variable("y")),
     {"x": (0, 3, 4), "y": (0, 0, 5)}),
    ("embedding", lambda s: s.Embedding(s.Variable("x"), s.Variable("w"), input_dim=100,
                                        output_dim=10),
     {"x": (0, 5), "w": (100, 10)}),
    ("transpose", lambda s: s.transpose(s.Variable("x"), axes=(0, 3, 2, 1)),
     {"x": (0, 3, 224, 224)}),
    ("where_cond_partial", lambda s: s.where(s.Variable("c"), s.Variable("x"), s.Variable("y")),
     {"c": (0, 2), "x": (0, 2), "y": (0, 2)}),
    ("where_cond_known", lambda s: s.where(s.Variable("c"), s.Variable("x"), s.Variable("y")),
     {"c": (3, 2)}),
]


@pytest.mark.parametrize("name,build,shapes", CASES, ids=[c[0] for c in CASES])
def test_infer_shape_partial_matches_mxnet(mxw, real_mx, name, build, shapes):
    ours = build(mxw.sym).infer_shape_partial(**shapes)
    ref = build(real_mx.sym).infer_shape_partial(**shapes)
    assert [list(x) for x in ours] == [list(x) for x in ref], name


@pytest.mark.parametrize("name,build,shapes", CASES, ids=[c[0] for c in CASES])
def test_np_shape_partial_matches_mxnet(mxw, real_mx, name, build, shapes):
    np_shapes = {k: tuple(-1 if d == 0 else d for d in v) for k, v in shapes.items()}
    with mxw.util.np_shape(True):
        ours = build(mxw.sym).infer_shape_partial(**np_shapes)
    with real_mx.util.np_shape(True):
        ref = build(real_mx.sym).infer_shape_partial(**np_shapes)
    assert [list(x) for x in ours] == [list(x) for x in ref], name


def test_slice_channel_fills_input_from_an_output(mxw, real_mx):
    for m in (mxw, real_mx):
        a = m.sym.Variable("a", shape=(0, 10))
        b = m.sym.SliceChannel(data=a, num_outputs=10, axis=1, squeeze_axis=True)
        d = b[1] + m.sym.Variable("c", shape=(5,))
        args, _, _ = d.infer_shape()
        assert dict(zip(d.list_arguments(), args))["a"] == (5, 10)
        a = m.sym.Variable("a", shape=(0, 15, 0))
        b = m.sym.SliceChannel(data=a, num_outputs=3, squeeze_axis=False)
        d = b[1] + m.sym.Variable("c", shape=(3, 5, 2))
        args, _, _ = d.infer_shape()
        assert dict(zip(d.list_arguments(), args))["a"] == (3, 15, 2)


def test_dot_partial_mismatch_is_an_error(mxw):
    x, y = mxw.sym.Variable("x"), mxw.sym.Variable("y")
    with pytest.raises(mxw.MXNetError, match="mismatch"):
        mxw.sym.dot(x, y).infer_shape_partial(x=(0, 3, 4), y=(5, 6))

"""mx.viz.print_summary and mx.viz.plot_network against real MXNet 1.9.1: the same printed
table and the same Graphviz source (node labels, colours, edge labels) for the same graphs."""
import warnings

import pytest


def _convnet(m):
    data = m.sym.Variable("data")
    conv = m.sym.Convolution(data, kernel=(3, 3), num_filter=4, no_bias=True, pad=(1, 1),
                             name="conv")
    conv2 = m.sym.Convolution(data, kernel=(1, 1), num_filter=4, stride=(1, 1), num_group=1,
                              name="conv2")
    bn = m.sym.BatchNorm(m.sym.elemwise_add(conv, conv2, name="add"), name="bn")
    relu = m.sym.Activation(bn, act_type="relu", name="relu")
    halves = m.sym.SliceChannel(relu, num_outputs=2, name="split")
    pool = m.sym.Pooling(halves[0], kernel=(2, 2), pool_type="avg", stride=(2, 2), name="pool")
    leaky = m.sym.LeakyReLU(pool, act_type="elu", name="elu")
    fc = m.sym.FullyConnected(m.sym.Flatten(leaky, name="flat"), num_hidden=10, name="fc")
    emb = m.sym.Embedding(m.sym.Variable("tok"), input_dim=7, output_dim=3, name="emb")
    cat = m.sym.Concat(fc, m.sym.Flatten(emb, name="flat2"), dim=1, name="cat")
    return m.sym.SoftmaxOutput(cat, name="softmax")


def _mlp(m):
    x = m.sym.Variable("data")
    h = m.sym.FullyConnected(x, num_hidden=16, no_bias=True, name="fc1")
    h = m.sym.softmax(m.sym.Activation(h, act_type="tanh", name="act"), name="sm")
    out = m.sym.FullyConnected(h, num_hidden=4, name="fc2")
    return m.sym.Group([m.sym.Reshape(out, shape=(-1, 2), name="rs"), h])


_SHAPES = {"_convnet": {"data": (2, 3, 8, 8), "tok": (2, 5)}, "_mlp": {"data": (3, 7)}}


def _summary(m, capsys, net, **kwargs):
    capsys.readouterr()
    m.viz.print_summary(net, **kwargs)
    return capsys.readouterr().out


@pytest.mark.parametrize("build", [_convnet, _mlp])
def test_print_summary_matches_mxnet(mx, real_mx, capsys, build):
    shape = _SHAPES[build.__name__]
    for kwargs in (dict(shape=shape), dict(),
                   dict(shape=shape, line_length=80, positions=[30, 50, 60, 80])):
        got = _summary(mx, capsys, build(mx), **kwargs)
        want = _summary(real_mx, capsys, build(real_mx), **kwargs)
        assert got == want
        assert "Total params" in got


def test_print_summary_counts_parameters(mx, capsys):
    out = _summary(mx, capsys, _convnet(mx), shape=_SHAPES["_convnet"])
    # conv: 3*4*3*3 (no bias); conv2: 3*4 + 4; bn: 2*4; fc: (32+1)*10; emb: 7*3
    assert "Total params: %d" % (108 + 16 + 8 + 330 + 21) in out
    row = next(line for line in out.splitlines() if line.startswith("fc(FullyConnected)"))
    assert row.split() == ["fc(FullyConnected)", "10", "330", "flat"]


def _edges_and_nodes(dot):
    lines = [line.strip() for line in dot.source.splitlines()[1:-1]]
    return {line for line in lines if "->" in line}, {line for line in lines if "->" not in line}


@pytest.mark.parametrize("build", [_convnet, _mlp])
@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(shape=True),
    dict(shape=True, dtype=True, hide_weights=False),
    dict(title="net", save_format="png", node_attrs={"shape": "oval", "fixedsize": "false"}),
])
def test_plot_network_matches_mxnet(mx, real_mx, build, kwargs):
    kwargs = dict(kwargs)
    if kwargs.pop("shape", False):
        kwargs["shape"] = _SHAPES[build.__name__]
    if kwargs.pop("dtype", False):
        kwargs["dtype"] = {k: "float32" for k in _SHAPES[build.__name__]}
    got = mx.viz.plot_network(build(mx), **kwargs)
    want = real_mx.viz.plot_network(build(real_mx), **kwargs)
    assert _edges_and_nodes(got) == _edges_and_nodes(want)
    assert got.source == want.source
    assert (got.name, got.format) == (want.name, want.format)


def test_plot_network_labels(mx):
    dot = mx.viz.plot_network(_convnet(mx), shape=_SHAPES["_convnet"])
    edges, nodes = _edges_and_nodes(dot)
    assert 'conv [label="Convolution\n3x3/1, 4" fillcolor="#fb8072"' in dot.source
    assert 'pool [label="Pooling\navg, 2x2/2x2" fillcolor="#80b1d3"' in dot.source
    # MXNet labels an edge out of a multi-output node with its last output's shape.
    assert 'pool -> split [label="2x8x8" arrowtail=open dir=back]' in edges
    assert not any("weight" in line or "bn_gamma" in line for line in edges | nodes)
    shown = mx.viz.plot_network(_convnet(mx), hide_weights=False)
    assert 'conv -> conv_weight [label="" arrowtail=open dir=back]' in shown.source
    assert "\tconv_weight [" not in shown.source  # parameters get no node of their own


def test_viz_rejects_bad_input(mx, real_mx):
    with pytest.raises(TypeError, match="Symbol"):
        mx.viz.print_summary(real_mx.sym.Variable("x"))
    with pytest.raises(TypeError, match="Symbol"):
        mx.viz.plot_network("x")
    net = _mlp(mx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="Input shape is incomplete"):
            mx.viz.print_summary(net, shape={"fc1_weight": (16, 7)})
    assert mx.viz is mx.visualization


def test_plot_network_warns_on_repeated_names(mx, real_mx):
    # mxgrid's compiler merges variables of one name, MXNet keeps both: plot MXNet's graph.
    x = real_mx.sym.Variable("x")
    twice = real_mx.sym.elemwise_add(x, real_mx.sym.Variable("x"), name="sum").tojson()
    with pytest.warns(RuntimeWarning, match="Repeated names: x$"):
        dot = mx.viz.plot_network(mx.sym.Symbol(twice))
    with pytest.warns(RuntimeWarning):
        assert dot.source == real_mx.viz.plot_network(real_mx.sym.load_json(twice)).source

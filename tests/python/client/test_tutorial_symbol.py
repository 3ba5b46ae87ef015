"""The MXNet Python tutorial's Symbol section, through mxgrid, with asserted values."""
import json
import pickle

import numpy as np
import pytest


def test_basic_composition(mx):
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
    net = mx.symbol.Activation(data=net, name="relu1", act_type="relu")
    net = mx.symbol.FullyConnected(data=net, name="fc2", num_hidden=64)
    net = mx.symbol.SoftmaxOutput(data=net, name="out")
    assert type(net).__name__ == "Symbol"
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight",
                                    "fc2_bias", "out_label"]
    assert net.list_outputs() == ["out_output"]
    assert net.name == "out"


def test_explicit_weight_name(mx):
    net = mx.symbol.Variable("data")
    w = mx.symbol.Variable("myweight")
    net = mx.symbol.FullyConnected(data=net, weight=w, name="fc1", num_hidden=128)
    assert net.list_arguments() == ["data", "myweight", "fc1_bias"]


def test_composition_with_arithmetic(mx):
    lhs = mx.symbol.Variable("data1")
    rhs = mx.symbol.Variable("data2")
    net = mx.symbol.FullyConnected(data=lhs + rhs, name="fc1", num_hidden=128)
    assert net.list_arguments() == ["data1", "data2", "fc1_weight", "fc1_bias"]


def test_composition_by_call_matches_mxnet(mx, real_mx):
    def build(m):
        net = m.symbol.Variable("data")
        net = m.symbol.FullyConnected(data=net, name="fc1", num_hidden=128)
        net2 = m.symbol.Variable("data2")
        net2 = m.symbol.FullyConnected(data=net2, name="net2", num_hidden=128)
        return net(data=net2, name="compose")
    ours, ref = build(mx), build(real_mx)
    assert ours.list_arguments() == ref.list_arguments()
    assert ours.list_outputs() == ref.list_outputs()


def test_infer_shape(mx):
    net = mx.symbol.Variable("data")
    net = mx.symbol.FullyConnected(data=net, name="fc1", num_hidden=10)
    arg_shape, out_shape, aux_shape = net.infer_shape(data=(100, 100))
    assert dict(zip(net.list_arguments(), arg_shape)) == {
        "data": (100, 100), "fc1_weight": (10, 100), "fc1_bias": (10,)}
    assert out_shape == [(100, 10)]
    assert aux_shape == []
    # Positional, in list_arguments order.
    assert net.infer_shape((100, 100))[1] == [(100, 10)]


def test_infer_shape_incomplete_and_partial(mx, real_mx):
    def build(m):
        d = m.sym.Variable("data")
        return m.sym.FullyConnected(d, num_hidden=10, name="fc")
    with pytest.warns(UserWarning):
        assert build(mx).infer_shape() == (None, None, None)
    assert build(mx).infer_shape_partial() == build(real_mx).infer_shape_partial()
    assert (build(mx).infer_shape_partial(data=(0, 5)) ==
            build(real_mx).infer_shape_partial(data=(0, 5)))


def test_infer_shape_inconsistent_raises(mx):
    a = mx.sym.Variable("a")
    b = mx.sym.Variable("b")
    with pytest.raises(mx.MXNetError) as err:
        (a + b).infer_shape(a=(2, 3), b=(3, 2))
    assert err.value.code is not None and err.value.code.name == "INVALID_ARGUMENT"


def test_infer_type(mx):
    d = mx.sym.Variable("data")
    fc = mx.sym.FullyConnected(d, num_hidden=4, name="fc")
    args, outs, aux = fc.infer_type(data=np.float64)
    assert args == [np.float64] * 3 and outs == [np.float64] and aux == []


def test_auto_names_follow_mxnet_counters(mx, real_mx):
    def names(m):
        with m.name.NameManager():
            a = m.sym.Variable("a")
            b = m.sym.Variable("b")
            out = [(a + b).name, (a * 2).name, (a - b).name, (a / b).name, (2 - a).name,
                   (a * b).name, (a + 1).name, (1.5 / a).name]
            fc0 = m.sym.FullyConnected(a, num_hidden=3)
            fc1 = m.sym.FullyConnected(fc0, num_hidden=3)
            act = m.sym.Activation(fc1, act_type="relu")
            out += [fc0.name, fc1.name, act.name, m.sym.SoftmaxOutput(act).name]
            out += [m.sym.Concat(a, b, dim=0).name, (-a).name]
            out += fc1.list_arguments()
        return out
    assert names(mx) == names(real_mx)


def test_json_round_trip_and_mxnet_interop(mx, real_mx, tmp_path):
    data = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data, num_hidden=8, name="fc1")
    net = mx.sym.Activation(net, act_type="relu", name="relu1")
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    path = str(tmp_path / "net-symbol.json")
    net.save(path)
    ref = real_mx.sym.load(path)
    assert ref.list_arguments() == net.list_arguments()
    assert ref.infer_shape(data=(2, 5))[0] == net.infer_shape(data=(2, 5))[0]
    # MXNet's JSON loads here, with the same graph.
    ref.save(str(tmp_path / "ref-symbol.json"))
    back = mx.sym.load(str(tmp_path / "ref-symbol.json"))
    assert back.list_arguments() == ref.list_arguments()
    g_ours, g_ref = json.loads(back.tojson()), json.loads(ref.tojson())
    assert [(n["op"], n["name"]) for n in g_ours["nodes"]] == \
           [(n["op"], n["name"]) for n in g_ref["nodes"]]
    assert pickle.loads(pickle.dumps(net)).list_arguments() == net.list_arguments()


def test_load_json_rejects_garbage(mx):
    with pytest.raises(mx.MXNetError) as err:
        mx.sym.load_json("{not json")
    assert err.value.code.name == "INVALID_ARGUMENT"


def test_group_internals_indexing(mx):
    a = mx.sym.Variable("a")
    b = mx.sym.Variable("b")
    fc = mx.sym.FullyConnected(a, num_hidden=3, name="fc")
    g = mx.sym.Group([fc, b])
    assert g.list_outputs() == ["fc_output", "b"]
    assert g.name is None
    assert g[0].name == "fc" and g[1].name == "b"
    internals = fc.get_internals()
    assert internals.list_outputs() == ["a", "fc_weight", "fc_bias", "fc_output"]
    assert internals["fc_output"].list_arguments() == fc.list_arguments()
    assert len(g) == 2


def test_variable_attributes(mx, real_mx):
    def attrs(m):
        v = m.sym.Variable("w", shape=(3, 4), lr_mult=2.0, wd_mult=0.5, dtype=np.float16,
                           __foo__="bar")
        return v.list_attr(), v.attr("__shape__")
    assert attrs(mx) == attrs(real_mx)
    with pytest.raises(ValueError):
        mx.sym.Variable("x", foo="bar")


def test_auxiliary_states(mx, real_mx):
    def build(m):
        d = m.sym.Variable("data")
        return m.sym.BatchNorm(d, name="bn")
    assert build(mx).list_auxiliary_states() == build(real_mx).list_auxiliary_states()
    assert build(mx).list_arguments() == build(real_mx).list_arguments()
    assert build(mx).list_inputs() == build(real_mx).list_inputs()
    assert build(mx).infer_shape(data=(2, 3, 4, 4)) == build(real_mx).infer_shape(
        data=(2, 3, 4, 4))


def test_bind_and_run(mxw):
    mx = mxw
    A = mx.symbol.Variable("A")
    B = mx.symbol.Variable("B")
    C = A * B
    a = mx.nd.ones(3) * 4
    b = mx.nd.ones(3) * 2
    c_exec = C.bind(ctx=mx.cpu(), args={"A": a, "B": b})
    c_exec.forward()
    np.testing.assert_array_equal(c_exec.outputs[0].asnumpy(), [8.0, 8.0, 8.0])
    assert c_exec.arg_dict["A"] is a
    # Arguments as a list, in list_arguments order; new values seen by the next forward.
    c_exec = C.bind(mx.cpu(), [a, b])
    a[:] = 5
    c_exec.forward()
    np.testing.assert_array_equal(c_exec.outputs[0].asnumpy(), [10.0, 10.0, 10.0])
    out = C.eval(ctx=mx.cpu(), A=a, B=b)
    np.testing.assert_array_equal(out[0].asnumpy(), [10.0, 10.0, 10.0])


def test_simple_bind_forward_backward(mxw):
    mx = mxw
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(data=net, name="fc1", num_hidden=4)
    net = mx.sym.LinearRegressionOutput(data=net, name="lro")
    texec = net.simple_bind(mx.cpu(), data=(2, 3))
    assert sorted(texec.arg_dict) == ["data", "fc1_bias", "fc1_weight", "lro_label"]
    assert texec.arg_dict["fc1_weight"].shape == (4, 3)
    assert texec.grad_dict["fc1_weight"].shape == (4, 3)
    texec.arg_dict["data"][:] = 1
    texec.arg_dict["fc1_weight"][:] = 0.5
    texec.forward(is_train=True)
    np.testing.assert_allclose(texec.outputs[0].asnumpy(), np.full((2, 4), 1.5))
    texec.backward()
    # LinearRegressionOutput: out_grad = (out - label) * grad_scale / (label.size / batch),
    # here 1.5 / 4; dW = out_grad^T . data sums over the batch of 2.
    np.testing.assert_allclose(texec.grad_dict["fc1_weight"].asnumpy(), np.full((4, 3), 0.75))
    np.testing.assert_allclose(texec.grad_dict["fc1_bias"].asnumpy(), np.full((4,), 0.75))

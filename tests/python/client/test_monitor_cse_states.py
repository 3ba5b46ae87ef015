"""Monitors, common expression elimination, optimizer state and the smaller Symbol/Module
pieces against real MXNet 1.9.1: mx.mon.Monitor statistics, Executor.get_optimized_symbol
with MXNET_ELIMINATE_COMMON_EXPR on and off, Module._updater states (Adam, SGD momentum)
through save/load and reshape, Symbol._gen_atomic_symbol, partial shape inference of a
Convolution, BucketingModule's names, Perplexity with labels past the last class."""
from functools import reduce

import numpy as np
import pytest

# Gradients nobody requested: MXNet's monitor shows whatever its buffer holds there.
_UNREQUESTED = {"fc_0_backward_output0", "softmax_backward_output1"}


def _monitored_step(m, pattern=".*", steps=1, interval=1):
    data = m.nd.array([[0.05, .10]])
    label = m.nd.array([[.01, 0.99]])
    it = m.io.NDArrayIter(data, label, batch_size=1)
    x = m.sym.Variable("data")
    x = m.sym.FullyConnected(name="fc_0", data=x, num_hidden=2)
    x = m.sym.Activation(name="act_0", data=x, act_type="sigmoid")
    x = m.sym.FullyConnected(name="fc_1", data=x, num_hidden=2)
    x = m.sym.Activation(name="act_1", data=x, act_type="sigmoid")
    x = m.sym.LinearRegressionOutput(data=x, name="softmax", grad_scale=2)

    def mean_abs(a):
        return m.nd.divide(m.nd.sum(m.nd.abs(a)), reduce(lambda p, q: p * q, a.shape))

    mon = m.mon.Monitor(interval, stat_func=mean_abs, pattern=pattern, sort=True)
    mod = m.mod.Module(x, context=[m.cpu()])
    mod.bind(it.provide_data, label_shapes=it.provide_label, for_training=True)
    mod.install_monitor(mon)
    mod.init_params(arg_params={
        "fc_0_weight": m.nd.array([[.15, .20], [.25, .30]]), "fc_0_bias": m.nd.array([.35, .35]),
        "fc_1_weight": m.nd.array([[.40, .45], [.50, .55]]), "fc_1_bias": m.nd.array([.60, .60])})
    batch = next(iter(it))
    results = []
    for _ in range(steps):
        mon.tic()
        mod.forward_backward(batch)
        results.append(mon.toc())
    return results


def test_monitor_statistics_match_mxnet(mxw, real_mx):
    got = _monitored_step(mxw)[0]
    want = _monitored_step(real_mx)[0]
    assert [k for _, k, _ in got] == [k for _, k, _ in want]
    assert len(got) == 21
    for (n1, k, v1), (n2, _, v2) in zip(got, want):
        assert n1 == n2
        if k in _UNREQUESTED:
            assert float(v1) == 0.0
            continue
        np.testing.assert_allclose(float(v1), float(v2), rtol=1e-5, err_msg=k)


def test_monitor_pattern_and_interval_match_mxnet(mxw, real_mx):
    got = _monitored_step(mxw, pattern=".*backward.*", steps=3, interval=2)
    want = _monitored_step(real_mx, pattern=".*backward.*", steps=3, interval=2)
    assert [[k for _, k, _ in r] for r in got] == [[k for _, k, _ in r] for r in want]
    assert got[1] == []  # step 2 is not monitored
    assert all(k.startswith(("fc", "act", "softmax")) and "backward" in k for _, k, _ in got[0])


def test_executor_monitor_callback_sees_outputs_in_order(mxw):
    with mxw.name.NameManager():  # fresh counters: _mulscalar0
        net = mxw.sym.exp(mxw.sym.Variable("a") * 2, name="e")
    exe = net.simple_bind(mxw.cpu(), a=(2, 2))
    seen = []
    exe.set_monitor_callback(lambda name, arr: seen.append((name, arr.asnumpy())))
    exe.forward(is_train=True, a=np.ones((2, 2), np.float32))
    assert [n for n, _ in seen] == ["_mulscalar0_output", "e_output"]
    np.testing.assert_allclose(seen[1][1], np.exp(2) * np.ones((2, 2)), rtol=1e-6)
    exe.backward(mxw.nd.ones((2, 2)))
    assert [n for n, _ in seen[2:]] == ["e_backward_output", "_mulscalar0_backward_output"]
    with pytest.raises(mxw.MXNetError):
        exe.set_monitor_callback(lambda n, a: None, monitor_all=True)


def _cse_cases(m):
    with m.name.NameManager():  # fresh counters in both, so the names compare
        return _cse_symbols(m)


def _cse_symbols(m):
    a, b, c = m.sym.Variable("a"), m.sym.Variable("b"), m.sym.Variable("c")
    d = a + 1
    return [((a + 1) + (a + 2), "a"), ((a + b) + (a + b), "ab"),
            (((a + b) + c) + ((a + b) + c), "abc"), (m.sym.Group([a * d, a * d]), "a"),
            (m.sym.Group([a * d + b, a * d + b]), "ab")]


@pytest.mark.parametrize("flag", ["1", "0"])
def test_optimized_symbol_matches_mxnet(mxw, real_mx, flag, monkeypatch):
    monkeypatch.setenv("MXNET_ELIMINATE_COMMON_EXPR", flag)
    rng = np.random.RandomState(0)
    values = {k: rng.rand(3, 4).astype(np.float32) for k in "abc"}
    for (mine, names), (ref, _) in zip(_cse_cases(mxw), _cse_cases(real_mx)):
        shapes = {k: (3, 4) for k in names}
        e1 = mine.simple_bind(mxw.cpu(), **shapes)
        e2 = ref.simple_bind(real_mx.cpu(), **shapes)
        o1, o2 = e1.get_optimized_symbol(), e2.get_optimized_symbol()
        assert o1.get_internals().list_outputs() == o2.get_internals().list_outputs()
        assert o1.list_arguments() == o2.list_arguments()
        out1 = e1.forward(is_train=True, **{k: values[k] for k in names})
        out2 = e2.forward(is_train=True, **{k: real_mx.nd.array(values[k]) for k in names})
        e1.backward([mxw.nd.ones_like(o) for o in out1])
        e2.backward([real_mx.nd.ones_like(o) for o in out2])
        for x, y in zip(out1, out2):
            np.testing.assert_allclose(x.asnumpy(), y.asnumpy(), rtol=1e-6)
        for x, y in zip(e1.grad_arrays, e2.grad_arrays):
            np.testing.assert_allclose(x.asnumpy(), y.asnumpy(), rtol=1e-6)
        assert e1.output_dict.keys() == e2.output_dict.keys()


def test_dropout_is_not_merged(mxw):
    a = mxw.sym.Variable("a")
    net = mxw.sym.Dropout(a) + mxw.sym.Dropout(a)
    exe = net.simple_bind(mxw.cpu(), a=(4,))
    assert len(exe.get_optimized_symbol().get_internals()) == len(net.get_internals())


def _updater_run(m, optimizer, params, reshape_to=None):
    """Two updates of a one-device Module from fixed weights; the updater's states."""
    net = m.sym.FullyConnected(m.sym.Variable("data"), num_hidden=3, name="fc")
    net = m.sym.LinearRegressionOutput(net, name="lro")
    mod = m.mod.Module(net, data_names=("data",), label_names=("lro_label",))
    mod.bind(data_shapes=[("data", (4, 5))], label_shapes=[("lro_label", (4, 3))])
    rng = np.random.RandomState(3)
    mod.init_params(arg_params={"fc_weight": m.nd.array(rng.rand(3, 5)),
                                "fc_bias": m.nd.array(rng.rand(3))})
    mod.init_optimizer(optimizer=optimizer, optimizer_params=params)
    for step, n in enumerate((4, reshape_to or 4)):
        data = m.nd.array(rng.rand(n, 5))
        label = m.nd.array(rng.rand(n, 3))
        mod.forward_backward(m.io.DataBatch([data], [label]))
        mod.update()
    return mod


def _as_np(state):
    if isinstance(state, tuple):
        return [s.asnumpy() for s in state]
    return [state.asnumpy()]


@pytest.mark.parametrize("optimizer,params", [
    ("adam", {"learning_rate": 0.01}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01})])
def test_executor_optimizer_states_match_mxnet(mxw, real_mx, optimizer, params, tmp_path):
    mine = _updater_run(mxw, optimizer, params)
    ref = _updater_run(real_mx, optimizer, params)
    got, want = mine._updater.states, ref._updater.states
    assert set(got) == set(want)
    for k in want:
        for x, y in zip(_as_np(got[k]), _as_np(want[k])):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)
    # Round trip through a file into a fresh module, then the same next update as MXNet's.
    fname = str(tmp_path / "opt.states")
    mine.save_optimizer_states(fname)
    other = _updater_run(mxw, optimizer, params)
    other._updater.set_states(pickle_dumps_zero(mxw, other._updater.states))
    other.load_optimizer_states(fname)
    for k in want:
        for x, y in zip(_as_np(other._updater.states[k]), _as_np(want[k])):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-7)


def pickle_dumps_zero(m, states):
    """Pickled states of the same structure, all zeros (to see a load replace them)."""
    import pickle
    zero = {}
    for k, s in states.items():
        if isinstance(s, tuple):
            zero[k] = tuple(m.nd.zeros(x.shape) for x in s)
        else:
            zero[k] = m.nd.zeros(s.shape)
    return pickle.dumps(zero)


def test_reshape_keeps_the_executor_optimizer_state(mxw, real_mx):
    params = {"learning_rate": 0.1, "momentum": 0.9}
    mine = _updater_run(mxw, "sgd", params, reshape_to=2)
    ref = _updater_run(real_mx, "sgd", params, reshape_to=2)
    for (k, x) in mine.get_params()[0].items():
        np.testing.assert_allclose(x.asnumpy(), ref.get_params()[0][k].asnumpy(), rtol=1e-5)
    got, want = mine._updater.states, ref._updater.states
    for k in want:
        np.testing.assert_allclose(got[k].asnumpy(), want[k].asnumpy(), rtol=1e-5)


def test_arg_params_are_the_current_values(mxw):
    mod = _updater_run(mxw, "sgd", {"learning_rate": 0.1})
    assert set(mod._arg_params) == {"fc_weight", "fc_bias"}
    np.testing.assert_array_equal(mod._arg_params["fc_bias"].asnumpy(),
                                  mod.get_params()[0]["fc_bias"].asnumpy())
    assert mod._aux_params == {}


def test_gen_atomic_symbol_matches_mxnet(mxw, real_mx):
    def build(m):
        data = m.sym.Variable("data")
        s = m.sym.RNN(data, m.sym.Variable("p"), m.sym.Variable("h0"), m.sym.Variable("h1"),
                      state_size=10, num_layers=2, bidirectional=True, state_outputs=True,
                      mode="lstm", name="rnn", attr={"lr_mult": "2"})
        atomic = s._gen_atomic_symbol()
        composed = atomic(data=data, name="x")
        return atomic, composed
    (a1, c1), (a2, c2) = build(mxw), build(real_mx)
    assert a1.list_arguments() == a2.list_arguments() == []
    assert a1.list_outputs() == a2.list_outputs()
    assert a1.list_attr() == a2.list_attr()
    assert c1.list_arguments() == c2.list_arguments()
    assert c1.list_outputs() == c2.list_outputs()
    with pytest.raises(mxw.MXNetError):
        mxw.sym.Group([mxw.sym.Variable("a") + 1, mxw.sym.Variable("b") * 2])._gen_atomic_symbol()


def test_partial_convolution_shapes_match_mxnet(mxw, real_mx):
    def infer(m):
        data = m.sym.Variable("data", shape=(1, 0, 0, 0))
        conv = m.sym.Convolution(data=m.sym.cast(data, dtype="float16"),
                                 weight=m.sym.cast(m.sym.Variable("weight"), dtype="float16"),
                                 pad=(3, 3), num_filter=64, stride=(2, 2), no_bias=True,
                                 kernel=(7, 7))
        return conv.infer_shape_partial()
    assert infer(mxw) == infer(real_mx)


def test_bucketing_module_names_match_mxnet(mxw, real_mx):
    def names(m):
        def sym_gen(seq_len):
            data = m.sym.Variable("data")
            embed = m.sym.Embedding(data=data, input_dim=20, output_dim=4)
            pred = m.sym.FullyConnected(m.sym.Reshape(embed, shape=(-1, 4)), num_hidden=20)
            label = m.sym.Reshape(m.sym.Variable("softmax_label"), shape=(-1,))
            return m.sym.SoftmaxOutput(pred, label, name="softmax"), ("data",), \
                ("softmax_label",)
        mod = m.mod.BucketingModule(sym_gen, default_bucket_key=6, context=m.cpu())
        mod.bind([("data", (2, 6))], [("softmax_label", (2, 6))])
        mod.init_params()
        mod.switch_bucket(3, [("data", (2, 3))], [("softmax_label", (2, 3))])
        return mod.symbol.list_arguments(), sorted(mod.get_params()[0])
    assert names(mxw) == names(real_mx)


def test_perplexity_clips_labels_as_mxnet(mxw, real_mx):
    rng = np.random.RandomState(4)
    prob = rng.rand(6, 5).astype(np.float32)
    label = np.array([0, 4, 5, 7, -1, 2], np.float32)  # 5 and 7 are past the last class
    mine, ref = mxw.metric.Perplexity(-1), real_mx.metric.Perplexity(-1)
    mine.update([mxw.nd.array(label)], [mxw.nd.array(prob)])
    ref.update([real_mx.nd.array(label)], [real_mx.nd.array(prob)])
    np.testing.assert_allclose(mine.get()[1], ref.get()[1], rtol=1e-5)

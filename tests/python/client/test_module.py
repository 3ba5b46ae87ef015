"""mx.metric, mx.io, mx.init, mx.model and mx.mod.Module against real MXNet 1.9.1: metric
values on the same inputs, NDArrayIter batches, checkpoints both ways, Module forward and one
SGD step with the same parameters, and a short fit on scikit-learn's digits."""
import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")


def _mlp(m, hidden=(128, 64), classes=10):
    net = m.sym.Variable("data")
    for i, h in enumerate(hidden):
        net = m.sym.FullyConnected(net, num_hidden=h, name="fc%d" % (i + 1))
        net = m.sym.Activation(net, act_type="relu", name="relu%d" % (i + 1))
    net = m.sym.FullyConnected(net, num_hidden=classes, name="fc%d" % (len(hidden) + 1))
    return m.sym.SoftmaxOutput(net, name="softmax")


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.float32)
    return train_test_split(x, y, test_size=0.25, random_state=0)


@pytest.mark.parametrize("name,kwargs", [
    ("acc", {}), ("ce", {}), ("mse", {}), ("rmse", {}), ("mae", {}),
    ("top_k_accuracy", {"top_k": 3}), ("nll_loss", {})])
def test_metric_values_match_mxnet(mxw, real_mx, name, kwargs):
    rng = np.random.RandomState(1)
    batches = []
    for n in (8, 5):
        logits = rng.rand(n, 4).astype(np.float32)
        prob = logits / logits.sum(axis=1, keepdims=True)
        label = rng.randint(0, 4, size=n).astype(np.float32)
        batches.append((label, prob))
    mine = mxw.metric.create(name, **kwargs)
    ref = real_mx.metric.create(name, **kwargs)
    for label, prob in batches:
        mine.update([mxw.nd.array(label)], [mxw.nd.array(prob)])
        ref.update([real_mx.nd.array(label)], [real_mx.nd.array(prob)])
    got, want = mine.get(), ref.get()
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    assert mine.get_name_value()[0][0] == ref.get_name_value()[0][0]
    mine.reset()
    assert np.isnan(mine.get()[1])


def test_composite_metric_matches_mxnet(mxw, real_mx):
    rng = np.random.RandomState(2)
    prob = rng.rand(6, 3).astype(np.float32)
    label = rng.randint(0, 3, size=6).astype(np.float32)
    mine = mxw.metric.create(["acc", "ce"])
    ref = real_mx.metric.create(["acc", "ce"])
    mine.update([mxw.nd.array(label)], [mxw.nd.array(prob)])
    ref.update([real_mx.nd.array(label)], [real_mx.nd.array(prob)])
    assert mine.get()[0] == ref.get()[0]
    np.testing.assert_allclose(mine.get()[1], ref.get()[1], rtol=1e-5)
    assert isinstance(mxw.metric.create("acc"), mxw.metric.Accuracy)
    with pytest.raises(ValueError):
        mxw.metric.create("no_such_metric")


@pytest.mark.parametrize("handle", ["pad", "discard", "roll_over"])
@pytest.mark.parametrize("shuffle", [False, True])
def test_ndarrayiter_batches_match_mxnet(mxw, real_mx, handle, shuffle):
    data = np.arange(10 * 3, dtype=np.float64).reshape(10, 3)
    label = np.arange(10) % 4
    np.random.seed(7)
    mine = mxw.io.NDArrayIter(data, label, batch_size=4, shuffle=shuffle,
                              last_batch_handle=handle)
    np.random.seed(7)
    ref = real_mx.io.NDArrayIter(data, label, batch_size=4, shuffle=shuffle,
                                 last_batch_handle=handle)
    assert [(d.name, d.shape) for d in mine.provide_data] == \
        [(d.name, d.shape) for d in ref.provide_data] == [("data", (4, 3))]
    assert [(d.name, d.shape) for d in mine.provide_label] == \
        [(d.name, d.shape) for d in ref.provide_label] == [("softmax_label", (4,))]
    for epoch in range(3):
        got = [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in mine]
        want = [(b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad) for b in ref]
        assert len(got) == len(want)
        for (gd, gl, gp), (wd, wl, wp) in zip(got, want):
            assert gd.dtype == wd.dtype == np.float32
            np.testing.assert_array_equal(gd, wd)
            np.testing.assert_array_equal(gl, wl)
            assert gp == wp
        np.random.seed(epoch)  # both shuffle from the same global RNG state
        mine.reset()
        np.random.seed(epoch)
        ref.reset()


def test_ndarrayiter_dict_inputs_and_names(mxw, real_mx):
    data = {"b": np.ones((6, 2)), "a": np.zeros((6, 5))}
    it = mxw.io.NDArrayIter(data, None, batch_size=3)
    ref = real_mx.io.NDArrayIter(data, None, batch_size=3)
    assert [(d.name, d.shape) for d in it.provide_data] == \
        [(d.name, d.shape) for d in ref.provide_data]
    assert it.provide_label == []
    batch = next(it)
    assert [d.shape for d in batch.data] == [(3, 5), (3, 2)]
    lst = mxw.io.NDArrayIter([np.ones((4, 1)), np.ones((4, 2))], batch_size=2)
    assert [d.name for d in lst.provide_data] == ["_0_data", "_1_data"]


def test_initializers_follow_mxnet_naming_rules(mxw):
    np.random.seed(0)
    init = mxw.init.Xavier()
    w = mxw.nd.zeros((64, 32))
    init(mxw.init.InitDesc("fc_weight"), w)
    scale = np.sqrt(3.0 / ((64 + 32) / 2.0))
    vals = w.asnumpy()
    assert np.abs(vals).max() <= scale and vals.std() > scale / 3
    for name, want in (("fc_bias", 0), ("bn_gamma", 1), ("bn_beta", 0),
                       ("bn_moving_mean", 0), ("bn_moving_var", 1)):
        a = mxw.nd.full((3,), 5.0)
        init(mxw.init.InitDesc(name), a)
        np.testing.assert_array_equal(a.asnumpy(), np.full(3, want, np.float32))
    u = mxw.nd.zeros((1000,))
    mxw.init.Uniform()(mxw.init.InitDesc("u_weight"), u)
    assert 0.06 < np.abs(u.asnumpy()).max() <= 0.07
    c = mxw.nd.zeros((2, 2))
    mxw.init.Constant(3.5)(mxw.init.InitDesc("c_weight"), c)
    assert (c.asnumpy() == 3.5).all()
    with pytest.raises(ValueError):
        init(mxw.init.InitDesc("mystery"), mxw.nd.zeros((2,)))


def _fixed_params(rng, shapes):
    return {n: (rng.randn(*s) * 0.1).astype(np.float32) for n, s in shapes.items()}


def test_module_forward_and_sgd_step_match_mxnet(mxw, real_mx):
    rng = np.random.RandomState(3)
    x = rng.rand(16, 20).astype(np.float32)
    y = rng.randint(0, 5, size=16).astype(np.float32)
    shapes = {"fc1_weight": (12, 20), "fc1_bias": (12,), "fc2_weight": (5, 12),
              "fc2_bias": (5,)}
    params = _fixed_params(rng, shapes)
    results = {}
    for m in (mxw, real_mx):
        net = _mlp(m, hidden=(12,), classes=5)
        mod = m.mod.Module(net, context=m.cpu())
        mod.bind(data_shapes=[("data", (16, 20))], label_shapes=[("softmax_label", (16,))])
        mod.init_params(arg_params={k: m.nd.array(v) for k, v in params.items()})
        mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.5),
                                                             ("momentum", 0.9), ("wd", 1e-3)))
        batch = m.io.DataBatch(data=[m.nd.array(x)], label=[m.nd.array(y)])
        mod.forward(batch, is_train=False)
        out0 = mod.get_outputs()[0].asnumpy()
        for _ in range(2):
            mod.forward(batch, is_train=True)
            mod.backward()
            mod.update()
        arg, _ = mod.get_params()
        results[m] = (out0, {k: v.asnumpy() for k, v in arg.items()})
    (g_out, g_arg), (w_out, w_arg) = results[mxw], results[real_mx]
    np.testing.assert_allclose(g_out, w_out, rtol=1e-5, atol=1e-6)
    assert sorted(g_arg) == sorted(w_arg)
    for k in w_arg:
        np.testing.assert_allclose(g_arg[k], w_arg[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_user_training_loop_is_one_round_trip_and_matches_mxnet(mxw, real_mx, monkeypatch):
    """forward_backward + update + update_metric as user code writes it: the same weights and
    accuracy as MXNet's, and one Forward per step on mxgrid (the step is deferred until
    update_metric); a get_outputs after forward_backward sees the step's outputs."""
    from mxgrid import connection
    rng = np.random.RandomState(4)
    x = rng.rand(32, 20).astype(np.float32)
    y = rng.randint(0, 5, size=32).astype(np.float32)
    shapes = {"fc1_weight": (12, 20), "fc1_bias": (12,), "fc2_weight": (5, 12),
              "fc2_bias": (5,)}
    params = _fixed_params(rng, shapes)
    results, calls = {}, []
    original = connection.Connection.call

    def counting(self, method, request, *args, **kwargs):
        calls.append(getattr(method, "_method", b"").decode().rpartition("/")[2])
        return original(self, method, request, *args, **kwargs)

    def wait_counting(self, method, request, *args, **kwargs):
        calls.append(getattr(method, "_method", b"").decode().rpartition("/")[2])
        return original_wait(self, method, request, *args, **kwargs)
    original_wait = connection.Connection.wait_call
    for m in (mxw, real_mx):
        net = _mlp(m, hidden=(12,), classes=5)
        it = m.io.NDArrayIter(x, y, batch_size=8)
        mod = m.mod.Module(net, context=m.cpu())
        mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
        mod.init_params(arg_params={k: m.nd.array(v) for k, v in params.items()})
        mod.init_optimizer(optimizer="sgd", optimizer_params=(("learning_rate", 0.5),
                                                             ("momentum", 0.9)))
        metric = m.metric.Accuracy()
        for epoch in range(2):  # the first epoch also puts the dataset on the worker
            if m is mxw and epoch == 1:
                monkeypatch.setattr(connection.Connection, "call", counting)
                monkeypatch.setattr(connection.Connection, "wait_call", wait_counting)
            it.reset()
            for batch in it:
                mod.forward_backward(batch)
                mod.update()
                mod.update_metric(metric, batch.label)
        if m is mxw:
            monkeypatch.undo()
            assert calls == ["Forward"] * 4, calls
        it.reset()
        batch = next(iter(it))
        mod.forward_backward(batch)
        out = mod.get_outputs()[0].asnumpy()
        mod.update()
        arg, _ = mod.get_params()
        results[m] = (metric.get()[1], out, {k: v.asnumpy() for k, v in arg.items()})
    (g_acc, g_out, g_arg), (w_acc, w_out, w_arg) = results[mxw], results[real_mx]
    assert g_acc == pytest.approx(w_acc)
    np.testing.assert_allclose(g_out, w_out, rtol=1e-4, atol=1e-6)
    for k in w_arg:
        np.testing.assert_allclose(g_arg[k], w_arg[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_checkpoints_interoperate_with_mxnet(mxw, real_mx, tmp_path):
    rng = np.random.RandomState(4)
    net = _mlp(mxw, hidden=(8,), classes=3)
    mod = mxw.mod.Module(net)
    mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
    mod.init_params(initializer=mxw.init.Normal(0.5))
    prefix = str(tmp_path / "mine")
    mod.save_checkpoint(prefix, 3)
    assert (tmp_path / "mine-symbol.json").exists() and (tmp_path / "mine-0003.params").exists()
    sym, arg, aux = real_mx.model.load_checkpoint(prefix, 3)
    assert sym.list_arguments() == net.list_arguments()
    mine_arg, _ = mod.get_params()
    assert sorted(arg) == sorted(mine_arg) and aux == {}
    for k, v in arg.items():
        np.testing.assert_array_equal(v.asnumpy(), mine_arg[k].asnumpy())

    # MXNet-written checkpoint -> mxgrid: same arrays, same forward as MXNet's.
    ref_net = _mlp(real_mx, hidden=(8,), classes=3)
    ref_arg = {k: real_mx.nd.array(rng.randn(*v.shape)) for k, v in arg.items()}
    prefix2 = str(tmp_path / "theirs")
    real_mx.model.save_checkpoint(prefix2, 7, ref_net, ref_arg, {})
    sym2, arg2, aux2 = mxw.model.load_checkpoint(prefix2, 7)
    assert sym2.list_arguments() == ref_net.list_arguments() and aux2 == {}
    for k, v in ref_arg.items():
        np.testing.assert_array_equal(arg2[k].asnumpy(), v.asnumpy())
    x = rng.rand(4, 6).astype(np.float32)
    loaded = mxw.mod.Module.load(prefix2, 7)
    loaded.bind(data_shapes=[("data", (4, 6))], for_training=False)
    loaded.forward(mxw.io.DataBatch([x]))
    ref_mod = real_mx.mod.Module(ref_net)
    ref_mod.bind(data_shapes=[("data", (4, 6))], for_training=False)
    ref_mod.set_params(ref_arg, {})
    ref_mod.forward(real_mx.io.DataBatch([real_mx.nd.array(x)]))
    np.testing.assert_allclose(loaded.get_outputs()[0].asnumpy(),
                               ref_mod.get_outputs()[0].asnumpy(), rtol=1e-5, atol=1e-6)


def test_fit_digits_reaches_90_percent(mxw, tmp_path):
    import io
    xtr, xte, ytr, yte = _digits()
    np.random.seed(0)
    train = mxw.io.NDArrayIter(xtr, ytr, batch_size=32, shuffle=True)
    test = mxw.io.NDArrayIter(xte, yte, batch_size=32)
    mod = mxw.mod.Module(_mlp(mxw), context=mxw.cpu())
    lines = []
    logger = type("L", (), {"info": lambda self, fmt, *a: lines.append(fmt % a),
                            "warning": lambda self, *a: None})()
    mod.logger = logger
    mod.fit(train, eval_data=test, num_epoch=8, initializer=mxw.init.Xavier(),
            optimizer_params={"learning_rate": 0.1, "momentum": 0.9},
            epoch_end_callback=mxw.callback.do_checkpoint(str(tmp_path / "d"), period=4),
            progress_bar=False)
    assert any(l.startswith("Epoch[7] Train-accuracy=") for l in lines)
    assert any(l.startswith("Epoch[7] Time cost=") for l in lines)
    assert any(l.startswith("Epoch[7] Validation-accuracy=") for l in lines)
    prob = mod.predict(test)
    assert prob.shape == (len(yte), 10)
    acc = (prob.asnumpy().argmax(axis=1) == yte).mean()
    assert acc >= 0.90, acc
    assert (tmp_path / "d-0008.params").exists() and (tmp_path / "d-0004.params").exists()
    again = mxw.mod.Module.load(str(tmp_path / "d"), 8)
    again.bind(data_shapes=test.provide_data, for_training=False)
    acc2 = (again.predict(test).asnumpy().argmax(axis=1) == yte).mean()
    assert acc2 == acc


def test_progress_bar_format(mxw):
    import io
    from mxgrid.module import _ProgressBar
    out = io.StringIO()
    bar = _ProgressBar(3, 94, stream=out)
    m = mxw.metric.Accuracy()
    m.update([np.array([1.0, 0.0])], [np.array([[0.1, 0.9], [0.2, 0.8]])])
    bar.update(40, m)  # not a tty: nothing until finish
    assert out.getvalue() == ""
    bar.finish(94, m)
    line = out.getvalue()
    assert line.startswith("Epoch 3 [") and "94/94 batches" in line
    assert "train-accuracy=0.5" in line and line.endswith("s\n")

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


# -- several device contexts (data parallel on one worker) --------------------------------

def _train_steps(m, contexts, params, batches, kvstore="local", workload=None,
                 opt_params=(("learning_rate", 0.5), ("momentum", 0.9), ("wd", 1e-3))):
    """An MLP module on ``contexts`` from ``params``, trained one step per (x, y) batch;
    returns its get_params() values and the last step's forward outputs as numpy."""
    net = _mlp(m, hidden=(12,), classes=5)
    mod = m.mod.Module(net, context=contexts, work_load_list=workload)
    x0, _ = batches[0]
    mod.bind(data_shapes=[("data", x0.shape)], label_shapes=[("softmax_label", (len(x0),))])
    mod.init_params(arg_params={k: m.nd.array(v) for k, v in params.items()})
    mod.init_optimizer(kvstore=kvstore, optimizer="sgd", optimizer_params=opt_params)
    for x, y in batches:
        batch = m.io.DataBatch(data=[m.nd.array(x)], label=[m.nd.array(y)])
        mod.forward(batch, is_train=True)
        mod.backward()
        mod.update()
    out = mod.get_outputs()[0].asnumpy()
    arg, _ = mod.get_params()
    return {k: v.asnumpy() for k, v in arg.items()}, out, mod


def _mlp_case(seed, batch=16, steps=3):
    rng = np.random.RandomState(seed)
    shapes = {"fc1_weight": (12, 20), "fc1_bias": (12,), "fc2_weight": (5, 12),
              "fc2_bias": (5,)}
    params = _fixed_params(rng, shapes)
    batches = [(rng.rand(batch, 20).astype(np.float32),
                rng.randint(0, 5, size=batch).astype(np.float32)) for _ in range(steps)]
    return params, batches


@pytest.mark.parametrize("kvstore", ["local", "device"])
def test_two_devices_train_as_one_device_with_the_whole_batch(mxw, real_mx, kvstore):
    """Two contexts with half a batch each (gradients summed through the store, which runs
    the optimizer; rescale_grad = 1/whole batch) reach one context's weights, and MXNet's on
    the same two contexts."""
    params, batches = _mlp_case(5)
    one, out_one, _ = _train_steps(mxw, mxw.cpu(0), params, batches)
    two, out_two, mod = _train_steps(mxw, [mxw.cpu(0), mxw.cpu(1)], params, batches, kvstore)
    ref, out_ref, _ = _train_steps(real_mx, [real_mx.cpu(0), real_mx.cpu(1)], params,
                                   batches, kvstore)
    assert [len(e.arg_dict) for e in mod._exec_group.execs] == [6, 6]
    assert [e.arg_dict["data"].shape for e in mod._exec_group.execs] == [(8, 20), (8, 20)]
    assert [e.arg_dict["fc1_weight"].context for e in mod._exec_group.execs] == \
        [mxw.cpu(0), mxw.cpu(1)]
    for k in ref:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-4, atol=1e-6, err_msg=k)
        np.testing.assert_allclose(two[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)
        assert not np.allclose(two[k], params[k]), k  # trained
    np.testing.assert_allclose(out_two, out_one, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out_two, out_ref, rtol=1e-4, atol=1e-6)
    # every device holds the same weights after the store's broadcast
    w0, w1 = (e.arg_dict["fc2_weight"].asnumpy() for e in mod._exec_group.execs)
    np.testing.assert_array_equal(w0, w1)


def test_two_devices_without_kvstore_update_each_device_as_mxnet(mxw, real_mx):
    """kvstore=None: each device's updater applies its own half-batch gradient (MXNet's
    _update_params); get_params is the devices' mean. Uneven work_load_list too."""
    params, batches = _mlp_case(6, batch=12)
    ctxs = lambda m: [m.cpu(0), m.cpu(1)]  # noqa: E731
    mine, out, mod = _train_steps(mxw, ctxs(mxw), params, batches, kvstore=None,
                                  workload=[1, 2])
    ref, out_ref, ref_mod = _train_steps(real_mx, ctxs(real_mx), params, batches,
                                         kvstore=None, workload=[1, 2])
    assert mod._exec_group.slices == ref_mod._exec_group.slices == [slice(0, 4), slice(4, 12)]
    w0, w1 = (e.arg_dict["fc1_weight"].asnumpy() for e in mod._exec_group.execs)
    assert not np.allclose(w0, w1)  # the devices diverge, as MXNet's
    for k in ref:
        np.testing.assert_allclose(mine[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(out, out_ref, rtol=1e-4, atol=1e-6)


def test_update_on_kvstore_off_sums_gradients_then_updates_per_device(mxw, real_mx,
                                                                       monkeypatch):
    params, batches = _mlp_case(7)
    monkeypatch.setenv("MXNET_UPDATE_ON_KVSTORE", "0")
    mine, _, mod = _train_steps(mxw, [mxw.cpu(0), mxw.cpu(1)], params, batches)
    assert mod._updater is not None and mod._kvstore is not None
    monkeypatch.delenv("MXNET_UPDATE_ON_KVSTORE")
    one, _, _ = _train_steps(mxw, mxw.cpu(0), params, batches)
    for k in one:
        np.testing.assert_allclose(mine[k], one[k], rtol=1e-4, atol=1e-6, err_msg=k)


def test_two_devices_merge_outputs_in_batch_order_and_input_grads(mxw):
    a = mxw.sym.Variable("a")
    b = mxw.sym.Variable("b")
    net = mxw.sym.Group([a * 3 + 2 * b, mxw.sym.sum(a, axis=1)])
    mod = mxw.mod.Module(net, data_names=["a", "b"], label_names=None,
                         context=[mxw.cpu(0), mxw.cpu(1)], work_load_list=[3, 1])
    mod.bind(data_shapes=[("a", (8, 3)), ("b", (8, 3))], inputs_need_grad=True)
    mod.init_params()
    xa = np.arange(24, dtype=np.float32).reshape(8, 3)
    xb = np.ones((8, 3), np.float32)
    mod.forward(mxw.io.DataBatch(data=[mxw.nd.array(xa), mxw.nd.array(xb)]), is_train=True)
    merged = mod.get_outputs()
    assert merged[0].context == mxw.cpu(0)
    np.testing.assert_array_equal(merged[0].asnumpy(), xa * 3 + 2 * xb)
    np.testing.assert_array_equal(merged[1].asnumpy(), xa.sum(axis=1))
    per_device = mod.get_outputs(merge_multi_context=False)
    assert [o.shape for o in per_device[0]] == [(6, 3), (2, 3)]
    assert [o.context for o in per_device[0]] == [mxw.cpu(0), mxw.cpu(1)]
    np.testing.assert_array_equal(per_device[0][1].asnumpy(), xa[6:] * 3 + 2)
    head = np.arange(24, dtype=np.float32).reshape(8, 3) / 10
    mod.backward([mxw.nd.array(head), mxw.nd.ones((8,))])
    ga, gb = (g.asnumpy() for g in mod.get_input_grads())
    np.testing.assert_allclose(ga, head * 3 + 1, rtol=1e-6)
    np.testing.assert_allclose(gb, head * 2, rtol=1e-6)
    split = mod.get_input_grads(merge_multi_context=False)
    assert [g.shape for g in split[1]] == [(6, 3), (2, 3)]


def test_two_devices_reshape_keeps_training_and_checkpoints_load_anywhere(mxw, real_mx,
                                                                          tmp_path):
    """A batch of another size rebinds both devices on the same weights and optimizer
    state (rescale_grad stays 1/bound batch, as MXNet's test_module_reshape), and a
    two-device checkpoint loads in a one-device Module and in MXNet, and with its
    optimizer state (momentum) in a two-device Module."""
    data = mxw.sym.Variable("data")
    net = mxw.sym.FullyConnected(data, num_hidden=4, name="fc")
    mod = mxw.mod.Module(net, label_names=None, context=[mxw.cpu(0), mxw.cpu(1)])
    mod.bind(data_shapes=[("data", (6, 3))])
    mod.init_params()
    mod.init_optimizer(optimizer_params={"learning_rate": 1, "momentum": 0.5})
    for rows, bias in ((6, -1), (12, -3.5), (3, -5.25)):
        mod.forward(mxw.io.DataBatch(data=[mxw.nd.ones((rows, 3))]))
        mod.backward([mxw.nd.ones((rows, 4))])
        mod.update()
        assert mod.get_outputs()[0].shape == (rows, 4)
        np.testing.assert_array_equal(mod.get_params()[0]["fc_bias"].asnumpy(),
                                      np.full(4, bias, np.float32))
    assert mod._exec_group.slices == [slice(0, 2), slice(2, 3)]
    prefix = str(tmp_path / "two")
    mod.save_checkpoint(prefix, 3, save_optimizer_states=True)
    args = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    for m in (mxw, real_mx):
        loaded = m.mod.Module.load(prefix, 3, label_names=None, context=m.cpu())
        loaded.bind(data_shapes=[("data", (3, 3))])
        got = {k: v.asnumpy() for k, v in loaded.get_params()[0].items()}
        for k in args:
            np.testing.assert_array_equal(got[k], args[k], err_msg=k)
    again = mxw.mod.Module.load(prefix, 3, load_optimizer_states=True, label_names=None,
                                context=[mxw.cpu(0), mxw.cpu(1)])
    again.bind(data_shapes=[("data", (6, 3))])
    again.init_optimizer(optimizer_params={"learning_rate": 1, "momentum": 0.5})
    again.forward(mxw.io.DataBatch(data=[mxw.nd.ones((6, 3))]))
    again.backward([mxw.nd.ones((6, 4))])
    again.update()
    np.testing.assert_array_equal(again.get_params()[0]["fc_bias"].asnumpy(),
                                  np.full(4, -7.125, np.float32))  # -6.25 without state


def test_bucketing_module_shares_parameters_and_trains_as_mxnet(mxw, real_mx, tmp_path):
    rng = np.random.RandomState(11)
    w = (rng.rand(6, 6).astype(np.float32) - 0.5)
    b = (rng.rand(6).astype(np.float32) - 0.5) * 0.1
    steps = [(key, rng.rand(4, 6).astype(np.float32), rng.randint(0, 6, size=4))
             for key in (3, 1, 2, 3, 1)]

    def run(m, contexts):
        def sym_gen(depth):
            net = m.sym.Variable("data")
            weight, bias = m.sym.Variable("fc_weight"), m.sym.Variable("fc_bias")
            for i in range(depth):
                net = m.sym.FullyConnected(net, weight=weight, bias=bias, num_hidden=6,
                                           name="fc%d" % i)
            return m.sym.SoftmaxOutput(net, name="softmax"), ("data",), ("softmax_label",)
        mod = m.mod.BucketingModule(sym_gen, default_bucket_key=3, context=contexts)
        mod.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
        mod.init_params(arg_params={"fc_weight": m.nd.array(w), "fc_bias": m.nd.array(b)})
        mod.init_optimizer(optimizer_params={"learning_rate": 0.3, "momentum": 0.5})
        for key, x, y in steps:
            batch = m.io.DataBatch(data=[m.nd.array(x)], label=[m.nd.array(y)],
                                   bucket_key=key,
                                   provide_data=[m.io.DataDesc("data", (4, 6))],
                                   provide_label=[m.io.DataDesc("softmax_label", (4,))])
            mod.forward_backward(batch)
            mod.update()
        assert sorted(mod._buckets) == [1, 2, 3]
        prefix = str(tmp_path / ("%s-%d" % (m.__name__, len(contexts)
                                            if isinstance(contexts, list) else 1)))
        mod.save_checkpoint(prefix, 5)
        return {k: v.asnumpy() for k, v in mod.get_params()[0].items()}, prefix

    ref, ref_prefix = run(real_mx, real_mx.cpu())
    for contexts in (mxw.cpu(), [mxw.cpu(0), mxw.cpu(1)]):
        got, prefix = run(mxw, contexts)
        for k in ref:
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-4, atol=1e-6, err_msg=k)
    # checkpoints (params, one symbol per bucket, the .buckets keys) load both ways
    for m, saved in ((mxw, ref_prefix), (real_mx, prefix)):
        def m_gen(depth, m=m):
            net = m.sym.Variable("data")
            weight, bias = m.sym.Variable("fc_weight"), m.sym.Variable("fc_bias")
            for i in range(depth):
                net = m.sym.FullyConnected(net, weight=weight, bias=bias, num_hidden=6,
                                           name="fc%d" % i)
            return m.sym.SoftmaxOutput(net, name="softmax"), ("data",), ("softmax_label",)
        loaded = m.mod.BucketingModule.load(saved, 5, sym_gen=m_gen, default_bucket_key=3)
        assert sorted(loaded._buckets) == [1, 2, 3]
        loaded.bind(data_shapes=[("data", (4, 6))], label_shapes=[("softmax_label", (4,))])
        want = ref if m is mxw else got
        for k, v in loaded.get_params()[0].items():
            np.testing.assert_allclose(v.asnumpy(), want[k], rtol=1e-4, atol=1e-6, err_msg=k)


def _grouped(m):
    with m.AttrScope(ctx_group="dev1"):
        a = m.sym.Variable("a") * 2
    with m.AttrScope(ctx_group="dev2"):
        return a + m.sym.Variable("b")


def test_group2ctx_places_groups_on_cpu_contexts_as_mxnet(mxw, real_mx):
    got = {}
    for m in (mxw, real_mx):
        mod = m.mod.Module(_grouped(m), data_names=["a", "b"], label_names=None,
                           context=[m.cpu(0)], group2ctxs={"dev1": m.cpu(1), "dev2": m.cpu(2)})
        mod.bind(data_shapes=[("a", (2, 2)), ("b", (2, 2))], inputs_need_grad=True)
        mod.init_params()
        mod.forward(m.io.DataBatch(data=[m.nd.ones((2, 2)), m.nd.ones((2, 2)) * 3]),
                    is_train=True)
        mod.backward([m.nd.ones((2, 2))])
        grads = mod.get_input_grads()
        got[m] = ([str(g.context) for g in grads], [g.asnumpy() for g in grads],
                  mod.get_outputs()[0].asnumpy())
    assert got[mxw][0] == got[real_mx][0] == ["cpu(1)", "cpu(2)"]
    for g, w in zip(got[mxw][1] + [got[mxw][2]], got[real_mx][1] + [got[real_mx][2]]):
        np.testing.assert_array_equal(g, w)
    exe = _grouped(mxw).simple_bind(mxw.cpu(0), group2ctx={"dev1": mxw.cpu(3)}, a=(2, 2),
                                    b=(2, 2))
    assert exe.arg_dict["a"].context == mxw.cpu(3) and exe.arg_dict["b"].context == mxw.cpu(0)
    with pytest.raises(mxw.base.MXNetError, match="CPU contexts only"):
        _grouped(mxw).simple_bind(mxw.cpu(0), group2ctx={"dev1": mxw.gpu(0)}, a=(2, 2),
                                  b=(2, 2))


def test_executor_group_shares_parameters_with_a_shared_group(mxw):
    from mxgrid.module.executor_group import DataParallelExecutorGroup
    from mxgrid.test_utils import same_array
    data = mxw.sym.Variable("data")
    small = mxw.sym.FullyConnected(data, num_hidden=3, name="fc")
    big = mxw.sym.FullyConnected(small, num_hidden=2, name="extra")
    ctxs = [mxw.cpu(0), mxw.cpu(1)]
    g1 = DataParallelExecutorGroup(small, ctxs, [1, 1], [("data", (4, 5))], None,
                                   ["fc_weight", "fc_bias"], True, False)
    assert [sorted(d) for d in g1.shared_data_arrays] == [["data"], ["data"]]
    g2 = DataParallelExecutorGroup(big, ctxs, [1, 1], [("data", (4, 5))], None,
                                   ["fc_weight", "fc_bias"], True, False, shared_group=g1)
    assert g2.shared_data_arrays is g1.shared_data_arrays
    for e1, e2 in zip(g1.execs, g2.execs):
        for name in ("fc_weight", "fc_bias"):
            assert same_array(e1.arg_dict[name], e2.arg_dict[name])
            assert same_array(e1.grad_dict[name], e2.grad_dict[name])
        assert same_array(e1.arg_dict["data"], e2.arg_dict["data"])
    assert sorted(g1.shared_data_arrays[0]) == ["data", "extra_bias", "extra_weight"]
    assert g2.grad_req["data"] == "null" and g2.grad_req["extra_weight"] == "null"


def test_fit_on_two_devices_matches_one_device(mxw):
    """Module.fit over an NDArrayIter (batches sliced across the devices, labels from the
    client, the metric fed per device) ends at one device's weights and accuracy."""
    params, _ = _mlp_case(8)
    rng = np.random.RandomState(9)
    x = rng.rand(64, 20).astype(np.float32)
    y = (x[:, :5].argmax(axis=1)).astype(np.float32)
    results = []
    for contexts in (mxw.cpu(0), [mxw.cpu(0), mxw.cpu(1)]):
        mod = mxw.mod.Module(_mlp(mxw, hidden=(12,), classes=5), context=contexts)
        metric = mxw.metric.Accuracy()
        mod.fit(mxw.io.NDArrayIter(x, y, batch_size=16), eval_metric=metric, num_epoch=4,
                arg_params={k: mxw.nd.array(v) for k, v in params.items()},
                optimizer_params={"learning_rate": 0.5, "momentum": 0.9},
                progress_bar=False)
        arg, _ = mod.get_params()
        score = mod.score(mxw.io.NDArrayIter(x, y, batch_size=16), "acc")[0][1]
        results.append(({k: v.asnumpy() for k, v in arg.items()}, metric.get()[1], score))
    (one, acc_one, score_one), (two, acc_two, score_two) = results
    for k in one:
        np.testing.assert_allclose(two[k], one[k], rtol=1e-4, atol=1e-5, err_msg=k)
    assert acc_two == acc_one and score_two == score_one and score_one > 0.3

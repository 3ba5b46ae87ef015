"""mx.optimizer, mx.lr_scheduler and mx.gluon.loss against real MXNet 1.9.1: every optimizer
updates the same weights from the same gradients for several steps through its Updater
(float16 with multi_precision where MXNet has it), states and weights compared each step;
the schedulers' values; Updater's pickled state round trip; the lr/wd multipliers; the losses.
"""
import pickle

import numpy as np
import pytest

SHAPE = (3, 4)
STEPS = 3

# (class name, kwargs, dtype): MXNet's optimizers with their options exercised.
CASES = [
    ("SGD", {}, np.float32),
    ("SGD", {"momentum": 0.9, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 0.3},
     np.float32),
    ("SGD", {"momentum": 0.9, "multi_precision": True}, np.float16),
    ("SGD", {"multi_precision": True, "wd": 0.1}, np.float16),
    ("NAG", {"momentum": 0.9, "wd": 0.01, "clip_gradient": 0.4}, np.float32),
    ("NAG", {}, np.float32),
    ("NAG", {"momentum": 0.8, "multi_precision": True}, np.float16),
    ("Signum", {"momentum": 0.9, "wd_lh": 0.01, "wd": 0.02}, np.float32),
    ("Signum", {"momentum": 0.0, "wd": 0.02}, np.float32),
    ("FTML", {"clip_gradient": 0.5, "wd": 0.01}, np.float32),
    ("LARS", {"momentum": 0.9, "eta": 0.01, "wd": 0.001}, np.float32),
    ("LAMB", {"wd": 0.01}, np.float32),
    ("LAMB", {"bias_correction": False, "lower_bound": 0.1, "upper_bound": 2.0,
              "clip_gradient": 0.5}, np.float32),
    ("LAMB", {"multi_precision": True, "wd": 0.01}, np.float16),
    # MXNet 1.9.1's DCASGD with momentum tests `if mom:` on an array and raises.
    ("DCASGD", {"lamda": 0.1}, np.float32),
    ("DCASGD", {}, np.float32),
    ("Adam", {"wd": 0.01, "clip_gradient": 0.5, "rescale_grad": 0.7}, np.float32),
    ("Adam", {"multi_precision": True}, np.float16),
    ("AdaGrad", {"wd": 0.01, "clip_gradient": 0.5}, np.float32),
    ("RMSProp", {"wd": 0.01, "clip_weights": 0.5}, np.float32),
    ("RMSProp", {"centered": True, "clip_gradient": 0.3}, np.float32),
    ("AdaDelta", {"wd": 0.01, "rescale_grad": 0.5}, np.float32),
    ("Ftrl", {"lamda1": 0.001, "wd": 0.01}, np.float32),
    ("Adamax", {"wd": 0.01, "clip_gradient": 0.5}, np.float32),
    ("Nadam", {"wd": 0.01}, np.float32),
    ("Test", {"rescale_grad": 0.5}, np.float32),
]


def _data(dtype, seed):
    rng = np.random.RandomState(seed)
    weight = rng.uniform(-1, 1, SHAPE).astype(dtype)
    grads = [rng.uniform(-1, 1, SHAPE).astype(dtype) for _ in range(STEPS)]
    return weight, grads


def _flat(state):
    if state is None:
        return []
    if isinstance(state, (tuple, list)):
        return [a for s in state for a in _flat(s)]
    return [state]


def _tols(dtype):
    return (2e-2, 2e-3) if dtype == np.float16 else (1e-4, 1e-5)


@pytest.mark.parametrize("name,kwargs,dtype", CASES,
                         ids=["%s-%d" % (c[0], i) for i, c in enumerate(CASES)])
def test_updates_match_mxnet(mxw, real_mx, name, kwargs, dtype):
    mx, rmx = mxw, real_mx
    weight, grads = _data(dtype, seed=len(name) * 7 + len(kwargs))
    ours = mx.optimizer.get_updater(mx.optimizer.create(name.lower(), **kwargs))
    theirs = rmx.optimizer.get_updater(rmx.optimizer.create(name.lower(), **kwargs))
    w1 = mx.nd.array(weight, dtype=dtype)
    w2 = rmx.nd.array(weight, dtype=dtype)
    rtol, atol = _tols(dtype)
    for step, g in enumerate(grads):
        ours(0, mx.nd.array(g, dtype=dtype), w1)
        theirs(0, rmx.nd.array(g, dtype=dtype), w2)
        np.testing.assert_allclose(w1.asnumpy().astype(np.float64),
                                   w2.asnumpy().astype(np.float64), rtol=rtol, atol=atol,
                                   err_msg="%s %s step %d weight" % (name, kwargs, step))
        s1, s2 = _flat(ours.states[0]), _flat(theirs.states[0])
        assert len(s1) == len(s2)
        for k, (a, b) in enumerate(zip(s1, s2)):
            assert a.dtype == b.dtype, (name, k)
            np.testing.assert_allclose(a.asnumpy().astype(np.float64),
                                       b.asnumpy().astype(np.float64), rtol=rtol, atol=atol,
                                       err_msg="%s %s step %d state %d" % (name, kwargs,
                                                                           step, k))


def test_update_operators_write_out_and_states(mxw, real_mx):
    """The operators called directly, as MXNet's Python does (out=weight)."""
    mx, rmx = mxw, real_mx
    weight, (g, _, _) = _data(np.float32, seed=3)
    calls = [("sgd_mom_update", 1, {"lr": 0.1, "momentum": 0.9, "wd": 0.01}),
             ("adam_update", 2, {"lr": 0.01, "wd": 0.1, "clip_gradient": 0.2}),
             ("rmspropalex_update", 3, {"lr": 0.01, "gamma1": 0.9}),
             ("ftml_update", 3, {"lr": 0.1, "t": 2}),
             ("signum_update", 1, {"lr": 0.1, "momentum": 0.9, "wd_lh": 0.1})]
    for op, num_states, attrs in calls:
        states = [np.full(SHAPE, 0.1 * (k + 1), np.float32) for k in range(num_states)]
        res = []
        for lib in (mx, rmx):
            w = lib.nd.array(weight)
            st = [lib.nd.array(s) for s in states]
            getattr(lib.nd, op)(w, lib.nd.array(g), *st, out=w, **attrs)
            res.append([w.asnumpy()] + [s.asnumpy() for s in st])
        for a, b in zip(*res):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=op)


def test_adamw_operators_match_mxnet(mxw, real_mx):
    mx, rmx = mxw, real_mx
    weight, (g, _, _) = _data(np.float32, seed=5)
    for scale in (0.5, 0.0):
        res = []
        for lib in (mx, rmx):
            w, mean, var = (lib.nd.array(weight), lib.nd.zeros(SHAPE), lib.nd.zeros(SHAPE))
            op = lib.nd._adamw_update if lib is mx else rmx.nd._internal._adamw_update
            op(w, lib.nd.array(g), mean, var, lib.nd.array([scale]), out=w, lr=0.01, eta=0.5,
               wd=0.1)
            res.append([w.asnumpy(), mean.asnumpy(), var.asnumpy()])
        for a, b in zip(*res):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bad_operator_calls_raise(mxw):
    mx = mxw
    w = mx.nd.ones(SHAPE)
    # Errors of a call surface at the call or, pipelined, at the next wait.
    with pytest.raises(mx.MXNetError):
        mx.nd.sgd_update(w, mx.nd.ones((2, 2)), lr=0.1, out=w).wait_to_read()
    with pytest.raises(mx.MXNetError):
        mx.nd.sgd_update(w, mx.nd.ones(SHAPE), out=w).wait_to_read()  # lr is required
    half = mx.nd.array(np.ones(SHAPE), dtype=np.float16)
    with pytest.raises(mx.MXNetError):  # weight32 must be float32
        mx.nd.mp_sgd_update(half, half, half.copy(), lr=0.1).wait_to_read()
    np.testing.assert_array_equal(w.asnumpy(), np.ones(SHAPE))


SCHEDULERS = [
    ("FactorScheduler", {"step": 3, "factor": 0.5, "base_lr": 1.0}),
    ("FactorScheduler", {"step": 2, "factor": 0.1, "stop_factor_lr": 1e-3, "base_lr": 1.0,
                         "warmup_steps": 4, "warmup_begin_lr": 0.1}),
    ("MultiFactorScheduler", {"step": [2, 5, 9], "factor": 0.3, "base_lr": 0.5}),
    ("MultiFactorScheduler", {"step": [6], "factor": 0.5, "base_lr": 0.5, "warmup_steps": 3,
                              "warmup_mode": "constant", "warmup_begin_lr": 0.01}),
    ("PolyScheduler", {"max_update": 12, "base_lr": 1.0, "pwr": 2, "final_lr": 0.1}),
    ("PolyScheduler", {"max_update": 12, "base_lr": 1.0, "warmup_steps": 3}),
    ("CosineScheduler", {"max_update": 10, "base_lr": 2.0, "final_lr": 0.2}),
    ("CosineScheduler", {"max_update": 10, "base_lr": 2.0, "warmup_steps": 4,
                         "warmup_begin_lr": 0.5}),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS)
def test_lr_schedulers_match_mxnet(mx, real_mx, name, kwargs):
    import mxgrid.lr_scheduler as ours_mod
    import mxnet.lr_scheduler as theirs_mod
    ours = getattr(ours_mod, name)(**kwargs)
    theirs = getattr(theirs_mod, name)(**kwargs)
    for n in range(0, 16):
        assert ours(n) == pytest.approx(theirs(n), rel=1e-12), (name, n)


def test_lr_scheduler_bad_arguments(mx):
    from mxgrid import lr_scheduler
    with pytest.raises(ValueError):
        lr_scheduler.FactorScheduler(step=0)
    with pytest.raises(ValueError):
        lr_scheduler.MultiFactorScheduler(step=[3, 2])
    with pytest.raises(ValueError):
        lr_scheduler.CosineScheduler(max_update=5, warmup_mode="cubic")
    with pytest.raises(ValueError):
        lr_scheduler.PolyScheduler(max_update=5, base_lr=0.1, warmup_begin_lr=0.5)


def test_optimizer_with_lr_scheduler(mxw, real_mx):
    mx, rmx = mxw, real_mx
    weight, grads = _data(np.float32, seed=11)
    w = {}
    for lib in (mx, rmx):
        sched = lib.lr_scheduler.FactorScheduler(step=1, factor=0.5, base_lr=0.4)
        upd = lib.optimizer.get_updater(lib.optimizer.SGD(lr_scheduler=sched, momentum=0.5))
        w[lib] = lib.nd.array(weight)
        for g in grads:
            upd(0, lib.nd.array(g), w[lib])
    np.testing.assert_allclose(w[mx].asnumpy(), w[rmx].asnumpy(), rtol=1e-5)


def test_lr_wd_multipliers_match_mxnet(mx, real_mx):
    names = {0: "fc_weight", 1: "fc_bias", 2: "bn_gamma", 3: "bn_beta"}
    for lib in (mx, real_mx):
        opt = lib.optimizer.SGD(learning_rate=0.1, wd=0.01, param_idx2name=names)
        opt.set_lr_mult({"fc_bias": 2.0, 3: 0.5})
        got = [(opt._get_lr(i), opt._get_wd(i)) for i in range(4)]
        if lib is mx:
            ours = got
        else:
            assert ours == got
    opt = mx.optimizer.SGD(wd=0.01, param_idx2name=names)
    assert opt.wd_mult == {"fc_bias": 0.0, "bn_beta": 0.0}
    assert not opt._has_custom_mults()
    opt.set_wd_mult({"fc_weight": 0.5})
    assert opt._has_custom_mults()


def test_updater_states_round_trip(mxw):
    mx = mxw
    weight, grads = _data(np.float32, seed=13)
    opt = mx.optimizer.Adam(learning_rate=0.01)
    upd = mx.optimizer.get_updater(opt)
    w = mx.nd.array(weight)
    upd(0, mx.nd.array(grads[0]), w)
    upd("named", mx.nd.array(grads[0]), mx.nd.array(weight))
    blob = upd.get_states(dump_optimizer=True)
    states, opt_copy = pickle.loads(blob)
    assert set(states) == {0, "named"} and isinstance(opt_copy, mx.optimizer.Adam)
    restored = mx.optimizer.get_updater(mx.optimizer.Adam())
    restored.set_states(blob)
    assert restored.optimizer._index_update_count == {0: 1, "named": 1}
    w2 = w.copy()
    upd(0, mx.nd.array(grads[1]), w)
    restored(0, mx.nd.array(grads[1]), w2)
    np.testing.assert_allclose(w.asnumpy(), w2.asnumpy(), rtol=1e-6)
    # Without the optimizer: the states only.
    plain = mx.optimizer.get_updater(mx.optimizer.Adam(learning_rate=0.01))
    plain.set_states(upd.get_states())
    assert set(plain.states) == {0, "named"}
    np.testing.assert_allclose(plain.states[0][0].asnumpy(), upd.states[0][0].asnumpy())


def test_create_and_register(mx):
    opt = mx.optimizer.create("sgd", learning_rate=0.3, momentum=0.9)
    assert isinstance(opt, mx.optimizer.SGD) and opt.lr == 0.3
    assert opt._server_form() == ("sgd", {
        "learning_rate": "0.3", "wd": "0.0", "rescale_grad": "1.0", "begin_num_update": "0",
        "multi_precision": "False", "momentum": "0.9", "lazy_update": "True"})
    assert mx.optimizer.Adamax()._server_form() is None
    with pytest.raises(ValueError):
        mx.optimizer.create("no_such_optimizer")

    @mx.optimizer.register
    class MyOpt(mx.optimizer.Optimizer):  # pylint: disable=unused-variable
        def update(self, index, weight, grad, state):
            weight[:] -= grad

    assert isinstance(mx.optimizer.create("myopt"), MyOpt)
    with pytest.raises(UserWarning):
        mx.optimizer.SGD(lr_scheduler=mx.lr_scheduler.FactorScheduler(2)).set_learning_rate(1)


def test_local_kvstore_runs_client_side_optimizers(mxw, tmp_path):
    """An optimizer the servers do not know runs through the Updater at each push."""
    mx = mxw
    weight, grads = _data(np.float32, seed=17)
    kv = mx.kv.create("local")
    kv.set_optimizer(mx.optimizer.Adamax(learning_rate=0.1))
    kv.init(3, mx.nd.array(weight))
    ref = mx.optimizer.get_updater(mx.optimizer.Adamax(learning_rate=0.1))
    w_ref = mx.nd.array(weight)
    for g in grads:
        kv.push(3, mx.nd.array(g))
        ref(3, mx.nd.array(g), w_ref)
    out = mx.nd.zeros(SHAPE)
    kv.pull(3, out=out)
    np.testing.assert_allclose(out.asnumpy(), w_ref.asnumpy(), rtol=1e-6)
    # Its states save and load as the Updater's pickle.
    fname = str(tmp_path / "states")
    kv.save_optimizer_states(fname)
    kv.load_optimizer_states(fname)
    kv.push(3, mx.nd.array(grads[0]))
    ref(3, mx.nd.array(grads[0]), w_ref)
    kv.pull(3, out=out)
    np.testing.assert_allclose(out.asnumpy(), w_ref.asnumpy(), rtol=1e-6)


def test_dist_kvstore_refuses_client_side_optimizers(mxw, monkeypatch):
    mx = mxw
    monkeypatch.setenv("MXGRID_JOB", "optimizer-api-refusal")
    monkeypatch.setenv("MXGRID_NUM_WORKERS", "1")
    kv = mx.kv.create("dist_sync")
    with pytest.raises(mx.MXNetError, match="Adamax"):
        kv.set_optimizer(mx.optimizer.Adamax())
    with pytest.raises(mx.MXNetError, match="lr_scheduler"):
        kv.set_optimizer(mx.optimizer.SGD(
            lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2)))


LOSSES = [
    ("L1Loss", {}, False),
    ("L1Loss", {"weight": 0.5, "batch_axis": 1}, True),
    ("L2Loss", {}, True),
    ("SoftmaxCrossEntropyLoss", {}, False),
    ("SoftmaxCELoss", {"sparse_label": False, "weight": 2.0}, True),
    ("SoftmaxCrossEntropyLoss", {"axis": 1, "from_logits": True}, False),
    ("SigmoidBinaryCrossEntropyLoss", {}, True),
    ("SigmoidBinaryCrossEntropyLoss", {"from_sigmoid": True}, False),
]


@pytest.mark.parametrize("name,kwargs,sample_weight", LOSSES)
def test_gluon_losses_match_mxnet(mxw, real_mx, name, kwargs, sample_weight):
    mx, rmx = mxw, real_mx
    rng = np.random.RandomState(19)
    pred = rng.uniform(0.05, 0.95, (4, 3)).astype(np.float32)
    if name.startswith("Softmax") and kwargs.get("sparse_label", True):
        label = rng.randint(0, 3, (4,)).astype(np.float32)
        if kwargs.get("axis") == 1:
            label = label.reshape(4)
    elif name.startswith("Sigmoid"):
        label = rng.randint(0, 2, (4, 3)).astype(np.float32)
    else:
        label = rng.uniform(0, 1, (4, 3)).astype(np.float32)
    sw = rng.uniform(0, 1, (4, 1)).astype(np.float32) if sample_weight else None
    if sample_weight and kwargs.get("batch_axis") == 1:
        sw = sw.reshape(1, 4)[:, :3]
    results = []
    for lib in (mx, rmx):
        loss = getattr(lib.gluon.loss, name)(**kwargs)
        args = [lib.nd.array(pred), lib.nd.array(label)]
        if sw is not None:
            args.append(lib.nd.array(sw))
        results.append(loss(*args).asnumpy())
    assert results[0].shape == results[1].shape
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)


def test_sigmoid_bce_pos_weight(mxw, real_mx):
    mx, rmx = mxw, real_mx
    rng = np.random.RandomState(23)
    pred = rng.uniform(-2, 2, (3, 5)).astype(np.float32)
    label = rng.randint(0, 2, (3, 5)).astype(np.float32)
    pos = rng.uniform(0.5, 2, (1, 5)).astype(np.float32)
    out = [lib.gluon.loss.SigmoidBCELoss()(lib.nd.array(pred), lib.nd.array(label), None,
                                           lib.nd.array(pos)).asnumpy()
           for lib in (mx, rmx)]
    np.testing.assert_allclose(out[0], out[1], rtol=1e-5, atol=1e-6)


def test_multi_sgd_operators_match_mxnet(mxw, real_mx):
    """multi_sgd_mom_update over two weights of different shapes, out=weights."""
    mx, rmx = mxw, real_mx
    rng = np.random.RandomState(29)
    shapes = [(3, 2), (5,)]
    values = [[rng.uniform(-1, 1, s).astype(np.float32) for _ in range(3)] for s in shapes]
    res = []
    for lib in (mx, rmx):
        arrays = [[lib.nd.array(v) for v in group] for group in values]
        flat = [a for group in arrays for a in group]
        weights = [group[0] for group in arrays]
        lib.nd.multi_sgd_mom_update(*flat, out=weights, lrs=(0.1, 0.2), wds=(0.01, 0.0),
                                    momentum=0.9, rescale_grad=0.5, clip_gradient=0.3,
                                    num_weights=2)
        res.append([a.asnumpy() for a in flat])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

"""A store's optimizer applies each key's lr_mult / wd_mult (set_lr_mult, set_wd_mult, the
wd_mult 0 of parameters not named *_weight or *_gamma when param_idx2name is given), on the
worker's local store and on the kvstore shards (dist_sync), as MXNet 1.9.1's store does."""
import numpy as np
import pytest

STR_KEYS = ["fc_weight", "fc_bias", "other"]
INT_KEYS = [0, 1, 2]


def _optimizer(m):
    opt = m.optimizer.SGD(learning_rate=0.5, wd=0.1, momentum=0.9,
                          param_idx2name={0: "fc_weight", 1: "fc_bias"})
    opt.set_lr_mult({"fc_weight": 2.0, 2: 0.25})
    return opt


def _train(m, kv, keys):
    rng = np.random.RandomState(4)
    kv.set_optimizer(_optimizer(m))
    kv.init(keys, [m.nd.array(rng.uniform(-1, 1, (3, 2))) for _ in keys])
    for _ in range(3):
        kv.push(keys, [m.nd.array(rng.uniform(-1, 1, (3, 2))) for _ in keys])
    outs = [m.nd.zeros((3, 2)) for _ in keys]
    kv.pull(keys, out=outs)
    return [o.asnumpy() for o in outs]


@pytest.mark.parametrize("keys", [STR_KEYS, INT_KEYS], ids=["str_keys", "int_keys"])
@pytest.mark.parametrize("kv_type", ["local", "dist_sync"])
def test_store_optimizer_applies_key_multipliers_as_mxnet(mxw, real_mx, monkeypatch, kv_type,
                                                          keys):
    monkeypatch.setenv("MXGRID_JOB", "mults-%s-%s" % (kv_type, type(keys[0]).__name__))
    monkeypatch.setenv("MXGRID_NUM_WORKERS", "1")
    got = _train(mxw, mxw.kv.create(kv_type), keys)
    want = _train(real_mx, real_mx.kv.create("local"), keys)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # The multipliers matter here: without them the first two keys' results differ.
    plain = real_mx.optimizer.SGD(learning_rate=0.5, wd=0.1, momentum=0.9)
    kv = real_mx.kv.create("local")
    rng = np.random.RandomState(4)
    kv.set_optimizer(plain)
    kv.init(keys, [real_mx.nd.array(rng.uniform(-1, 1, (3, 2))) for _ in keys])
    for _ in range(3):
        kv.push(keys, [real_mx.nd.array(rng.uniform(-1, 1, (3, 2))) for _ in keys])
    outs = [real_mx.nd.zeros((3, 2)) for _ in keys]
    kv.pull(keys, out=outs)
    for g, o in zip(got[:2], outs[:2]):
        assert not np.allclose(g, o.asnumpy())


def test_bad_multiplier_is_refused(mxw, monkeypatch):
    monkeypatch.setenv("MXGRID_JOB", "mults-bad")
    monkeypatch.setenv("MXGRID_NUM_WORKERS", "1")
    for kv_type in ("local", "dist_sync"):
        kv = mxw.kv.create(kv_type)
        opt = mxw.optimizer.SGD(learning_rate=0.1)
        opt.set_lr_mult({"w": float("nan")})
        with pytest.raises(mxw.MXNetError, match="lr_mult of key 'w' is nan"):
            kv.set_optimizer(opt)

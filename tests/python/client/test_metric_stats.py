"""mx.metric F1, MCC and PearsonCorrelation ('macro' and 'micro'; local and global values,
reset_local) against real MXNet 1.9.1."""
import numpy as np
import pytest


def _batches(kind):
    rng = np.random.RandomState(11)
    out = []
    for n in (8, 5, 12):
        if kind == "binary":
            label = rng.randint(0, 2, n).astype(np.float32)
            pred = rng.uniform(0, 1, (n, 2)).astype(np.float32)
        else:
            label = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
            pred = (label + rng.normal(0, 0.5, (n, 3))).astype(np.float32)
        out.append((label, pred))
    return out


def _run(m, name, average, kind):
    metric = m.metric.create(name, average=average)
    values = []
    for i, (label, pred) in enumerate(_batches(kind)):
        metric.update([m.nd.array(label)], [m.nd.array(pred)])
        values.append((metric.get(), metric.get_global()))
        if i == 1:
            metric.reset_local()
    return values


@pytest.mark.parametrize("average", ["macro", "micro"])
@pytest.mark.parametrize("name,kind", [("f1", "binary"), ("mcc", "binary"),
                                       ("pearsoncorrelation", "real")])
def test_statistics_metrics_match_mxnet(mxw, real_mx, name, kind, average):
    got, want = _run(mxw, name, average, kind), _run(real_mx, name, average, kind)
    for (g_local, g_global), (w_local, w_global) in zip(got, want):
        assert g_local[0] == w_local[0]
        np.testing.assert_allclose(g_local[1], w_local[1], rtol=1e-6)
        np.testing.assert_allclose(g_global[1], w_global[1], rtol=1e-6)


def test_binary_metrics_refuse_more_classes(mxw):
    f1 = mxw.metric.F1()
    with pytest.raises(ValueError, match="binary"):
        f1.update([mxw.nd.array([0, 1, 2])], [mxw.nd.ones((3, 2))])


def _pcc_run(m):
    rng = np.random.RandomState(5)
    metric = m.metric.create("pcc")
    values = []
    for i, (n, k) in enumerate([(10, 2), (12, 4), (9, 3), (6, 5)]):
        label = rng.randint(0, k, n).astype(np.float32)
        pred = rng.uniform(0, 1, (n, k)).astype(np.float32)
        pred[np.arange(n) % 2 == 0, label[np.arange(n) % 2 == 0].astype(int)] += 1
        metric.update([m.nd.array(label)], [m.nd.array(pred)])
        values.append((metric.get(), metric.get_global()))
        if i == 1:
            metric.reset_local()
    return values


def test_pcc_matches_mxnet_as_classes_grow(mxw, real_mx):
    for (g_local, g_global), (w_local, w_global) in zip(_pcc_run(mxw), _pcc_run(real_mx)):
        assert g_local[0] == w_local[0] == "pcc"
        np.testing.assert_allclose(g_local[1], w_local[1], rtol=1e-9)
        np.testing.assert_allclose(g_global[1], w_global[1], rtol=1e-9)
    for name in ("torch", "caffe"):
        got = mxw.metric.create(name)
        got.update(None, [mxw.nd.array([1.0, 2.0])])
        want = real_mx.metric.create(name)
        want.update(None, [real_mx.nd.array([1.0, 2.0])])
        assert got.get() == want.get()

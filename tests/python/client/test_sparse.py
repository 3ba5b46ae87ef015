"""Sparse NDArrays (row_sparse, csr) through the client against real MXNet 1.9.1: their
parts, conversions, the sparse kernels (retain, dot(csr, dense), lazy and standard optimizer
updates), the storage fallback, kvstore row_sparse_pull, .params files both ways, pickling,
and the worker's errors for malformed parts."""
import pickle

import numpy as np
import pytest
import scipy.sparse as spsp


def _dense(shape, density, seed):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1, 1, size=shape).astype(np.float32)
    x[rng.uniform(size=shape) > density] = 0
    if len(shape) > 1:
        x[rng.uniform(size=shape[0]) > density] = 0  # whole rows of zeros
    return x


def _parts(a):
    if a.stype == "csr":
        return a.data.asnumpy(), a.indptr.asnumpy(), a.indices.asnumpy()
    return a.data.asnumpy(), a.indices.asnumpy()


@pytest.mark.parametrize("stype,shape", [("row_sparse", (6, 3)), ("row_sparse", (5, 2, 2)),
                                         ("csr", (4, 7))])
def test_tostype_parts_match_mxnet(mxw, real_mx, stype, shape):
    x = _dense(shape, 0.5, 1)
    ours = mxw.nd.array(x).tostype(stype)
    theirs = real_mx.nd.array(x).tostype(stype)
    assert ours.stype == stype and isinstance(ours, mxw.nd.sparse.BaseSparseNDArray)
    assert ours.shape == shape
    for got, want in zip(_parts(ours), _parts(theirs)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ours.asnumpy(), x)
    np.testing.assert_array_equal(ours.tostype("default").asnumpy(), x)
    other = "csr" if stype == "row_sparse" else "row_sparse"
    if len(shape) == 2:
        np.testing.assert_array_equal(ours.tostype(other).asnumpy(), x)


def test_constructors_match_mxnet(mxw, real_mx):
    data, indices, indptr = [1.0, 2.0, 3.0], [2, 0, 1], [0, 1, 1, 3]
    for m in (mxw, real_mx):
        a = m.nd.sparse.csr_matrix((data, indices, indptr), shape=(3, 4))
        b = m.nd.sparse.row_sparse_array(([[1, 2], [3, 4]], [1, 3]), shape=(5, 2))
        c = m.nd.sparse.csr_matrix(spsp.csr_matrix(np.eye(3, dtype=np.float32)))
        z = m.nd.zeros((3, 2), stype="row_sparse")
        if m is mxw:
            got = [a.asnumpy(), b.asnumpy(), c.asnumpy(), z.asnumpy(), b.indices.asnumpy()]
        else:
            want = [a.asnumpy(), b.asnumpy(), c.asnumpy(), z.asnumpy(), b.indices.asnumpy()]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert mxw.nd.zeros((3, 2), stype="csr").stype == "csr"


def test_retain_dot_and_fallback_match_mxnet(mxw, real_mx):
    x = _dense((6, 4), 0.6, 2)
    rhs = np.random.RandomState(3).uniform(size=(4, 5)).astype(np.float32)
    rhs_t = np.random.RandomState(4).uniform(size=(6, 3)).astype(np.float32)
    out = {}
    for m in (mxw, real_mx):
        rsp = m.nd.array(x).tostype("row_sparse")
        csr = m.nd.array(x).tostype("csr")
        kept = m.nd.sparse.retain(rsp, m.nd.array([0, 1, 4], dtype=np.int64))
        out[m] = [kept.asnumpy(), kept.indices.asnumpy(),
                  m.nd.dot(csr, m.nd.array(rhs)).asnumpy(),
                  m.nd.dot(csr, m.nd.array(rhs_t), transpose_a=True).asnumpy(),
                  m.nd.exp(rsp).asnumpy(), (rsp * 2).asnumpy(),
                  m.nd.zeros_like(rsp).asnumpy()]
    for g, w in zip(out[mxw], out[real_mx]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    assert mxw.nd.zeros_like(mxw.nd.array(x).tostype("row_sparse")).stype == "row_sparse"


@pytest.mark.parametrize("op,states,kwargs", [
    ("sgd_update", 0, {"lr": 0.1, "wd": 0.05}),
    ("sgd_mom_update", 1, {"lr": 0.1, "wd": 0.05, "momentum": 0.9}),
    ("adam_update", 2, {"lr": 0.1, "wd": 0.05}),
])
@pytest.mark.parametrize("lazy", [True, False])
@pytest.mark.parametrize("w_stype", ["row_sparse", "default"])
def test_sparse_updates_match_mxnet(mxw, real_mx, op, states, kwargs, lazy, w_stype):
    w = np.random.RandomState(5).uniform(size=(5, 3)).astype(np.float32)
    g = _dense((5, 3), 0.5, 6)
    results = []
    for m in (mxw, real_mx):
        weight = m.nd.array(w)
        if w_stype != "default":
            weight = weight.tostype(w_stype)
        grad = m.nd.array(g).tostype("row_sparse")
        # States as the optimizers make them: the weight's storage type for lazy updates.
        st = [m.nd.zeros((5, 3), stype=w_stype if lazy else "default") for _ in range(states)]
        getattr(m.nd, op)(weight, grad, *st, out=weight, lazy_update=lazy, **kwargs)
        getattr(m.nd, op)(weight, grad, *st, out=weight, lazy_update=lazy, **kwargs)
        results.append([weight.asnumpy()] + [s.asnumpy() for s in st] + [weight.stype])
    for got, want in zip(*results):
        if isinstance(got, str):
            assert got == want
        else:
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_fallback_update_of_csr_weights(mxw, real_mx):
    w = _dense((4, 5), 0.7, 7) + 0.0
    g = _dense((4, 5), 0.5, 8)
    results = []
    for m in (mxw, real_mx):
        weight = m.nd.array(w).tostype("csr")
        m.nd.sgd_update(weight, m.nd.array(g).tostype("csr"), out=weight, lr=0.5)
        results.append((weight.stype, weight.asnumpy()))
    assert results[0][0] == results[1][0] == "csr"
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)


def test_kvstore_sparse_push_pull_and_row_sparse_pull(mxw, real_mx):
    x = _dense((6, 2), 0.6, 9)
    got = {}
    for m in (mxw, real_mx):
        kv = m.kv.create("local")
        kv.init("w", m.nd.zeros((6, 2), stype="row_sparse"))
        kv.push("w", [m.nd.array(x).tostype("row_sparse")] * 2)
        dense = m.nd.zeros((6, 2))
        kv.pull("w", out=dense)
        rows = m.nd.zeros((6, 2), stype="row_sparse")
        kv.row_sparse_pull("w", out=rows, row_ids=m.nd.array([5, 1, 1], dtype=np.int64))
        ignored = m.nd.ones((6, 2)).tostype("row_sparse")
        kv.pull("w", out=ignored)  # ignore_sparse: left as it is
        got[m] = [dense.asnumpy(), rows.asnumpy(), ignored.asnumpy()]
        with pytest.raises(m.base.MXNetError):
            kv.row_sparse_pull("w", out=m.nd.zeros((6, 2)), row_ids=m.nd.array([1]))
    for g, w in zip(got[mxw], got[real_mx]):
        np.testing.assert_allclose(g, w, rtol=1e-6)


def _rows_grad(m, shape, rows, seed):
    """A row_sparse gradient storing exactly `rows` (nonzero values)."""
    g = np.zeros(shape, np.float32)
    g[rows] = np.random.RandomState(seed).uniform(0.5, 1.5, size=(len(rows),) + shape[1:])
    return m.nd.array(g).tostype("row_sparse")


@pytest.mark.parametrize("name,kwargs", [
    ("sgd", dict(learning_rate=0.5, wd=0.1)),
    ("sgd", dict(learning_rate=0.5, momentum=0.9, wd=0.1, clip_gradient=1.2)),
    ("sgd", dict(learning_rate=0.5, momentum=0.9, wd=0.1, lazy_update=False)),
    ("adam", dict(learning_rate=0.1, wd=0.01)),
    ("adam", dict(learning_rate=0.1, wd=0.01, lazy_update=False)),
    ("adagrad", dict(learning_rate=0.1)),
    ("nag", dict(learning_rate=0.1, momentum=0.9, wd=0.1)),
    ("rmsprop", dict(learning_rate=0.1, wd=0.1)),
])
@pytest.mark.parametrize("kv_type", ["local", "dist_sync"])
def test_kvstore_row_sparse_updates_match_mxnet(mxw, real_mx, monkeypatch, name, kwargs,
                                                kv_type):
    """Row-sparse gradients pushed to a store with an optimizer (the worker's, or the
    shards', which receive only the rows: here split over both shards, a row across the
    split): only their rows change where MXNet's lazy updates say so (sgd, adam, adagrad);
    the other optimizers and lazy_update=False update every row (MXNet's standard update /
    storage fallback). MXNet's reference is its local store (one worker)."""
    monkeypatch.setenv("MXGRID_JOB", "rsp-%s-%s-%s" % (kv_type, name, "-".join(
        "%s=%s" % kv for kv in sorted(kwargs.items()))))
    monkeypatch.setenv("MXGRID_NUM_WORKERS", "1")
    monkeypatch.setenv("MXNET_KVSTORE_BIGARRAY_BOUND", "10")  # 18 elements: split at 9
    shape = (6, 3)
    w0 = np.random.RandomState(3).uniform(-1, 1, size=shape).astype(np.float32)
    got = {}
    for m in (mxw, real_mx):
        kv = m.kv.create(kv_type if m is mxw else "local")
        kv.set_optimizer(m.optimizer.create(name, **kwargs))
        # MXNet's row_sparse_pull needs a row_sparse stored value; but its NAG (a storage
        # fallback) computes otherwise on a row_sparse weight than on the dense one mxgrid
        # keeps, so its NAG reference keeps the weight dense and its rows come from it.
        sparse_ref = m is mxw or name != "nag"
        w = m.nd.array(w0)
        kv.init("w", w.tostype("row_sparse") if sparse_ref else w)
        kv.push("w", [_rows_grad(m, shape, [1, 4], 1), _rows_grad(m, shape, [4, 5], 2)])
        kv.push("w", _rows_grad(m, shape, [0, 4], 3))
        dense = m.nd.zeros(shape)
        kv.pull("w", out=dense)
        if sparse_ref:
            rows = m.nd.zeros(shape, stype="row_sparse")
            kv.row_sparse_pull("w", out=rows, row_ids=m.nd.array([5, 2, 5], dtype=np.int64))
        else:
            rows = m.nd.sparse.retain(dense.tostype("row_sparse"),
                                      m.nd.array([2, 5], dtype=np.int64))
        got[m] = [dense.asnumpy(), rows.indices.asnumpy(), rows.data.asnumpy()]
    for g, w in zip(got[mxw], got[real_mx]):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    if name in ("sgd", "adam", "adagrad") and kwargs.get("lazy_update", True):
        np.testing.assert_array_equal(got[mxw][0][[2, 3]], w0[[2, 3]])  # never pushed


@pytest.mark.parametrize("kv_type", ["local", "dist_sync"])
def test_kvstore_row_sparse_push_without_optimizer_overwrites(mxw, real_mx, monkeypatch,
                                                               kv_type):
    monkeypatch.setenv("MXGRID_JOB", "rsp-overwrite-" + kv_type)
    monkeypatch.setenv("MXGRID_NUM_WORKERS", "1")
    monkeypatch.setenv("MXNET_KVSTORE_BIGARRAY_BOUND", "4")
    got = {}
    for m in (mxw, real_mx):
        kv = m.kv.create(kv_type if m is mxw else "local")
        kv.init(3, m.nd.ones((5, 2)))
        kv.push(3, [_rows_grad(m, (5, 2), [0, 2], 4), _rows_grad(m, (5, 2), [2], 5)])
        out = m.nd.zeros((5, 2))
        kv.pull(3, out=out)
        got[m] = out.asnumpy()
    np.testing.assert_allclose(got[mxw], got[real_mx], rtol=1e-6)


def test_params_files_both_ways(mxw, real_mx, tmp_path):
    x = _dense((5, 3), 0.5, 10)
    ours = tmp_path / "ours.params"
    theirs = tmp_path / "theirs.params"
    mxw.nd.save(str(ours), {"r": mxw.nd.array(x).tostype("row_sparse"),
                            "c": mxw.nd.array(x).tostype("csr"), "d": mxw.nd.array(x)})
    real_mx.nd.save(str(theirs), {"r": real_mx.nd.array(x).tostype("row_sparse"),
                                  "c": real_mx.nd.array(x).tostype("csr"),
                                  "d": real_mx.nd.array(x)})
    assert ours.read_bytes() == theirs.read_bytes()
    for m, path in ((mxw, theirs), (real_mx, ours)):
        loaded = m.nd.load(str(path))
        assert loaded["r"].stype == "row_sparse" and loaded["c"].stype == "csr"
        for k in "rcd":
            np.testing.assert_array_equal(loaded[k].asnumpy(), x)


def test_pickle_keeps_storage(mxw):
    x = _dense((4, 3), 0.5, 11)
    for stype in ("row_sparse", "csr"):
        back = pickle.loads(pickle.dumps(mxw.nd.array(x).tostype(stype)))
        assert back.stype == stype
        np.testing.assert_array_equal(back.asnumpy(), x)


def test_malformed_parts_and_dense_calls_are_refused(mxw):
    with pytest.raises(mxw.base.MXNetError, match="INVALID_ARGUMENT.*strictly increasing"):
        mxw.nd.sparse._make("row_sparse", (4, 2), np.ones((2, 2)), [np.array([3, 1])],
                            None, np.float32)
    with pytest.raises(mxw.base.MXNetError, match="INVALID_ARGUMENT.*indices\\[1\\] is 9"):
        mxw.nd.sparse._make("row_sparse", (4, 2), np.ones((2, 2)), [np.array([1, 9])],
                            None, np.float32)
    with pytest.raises(mxw.base.MXNetError, match="INVALID_ARGUMENT.*end at nnz"):
        mxw.nd.sparse._make("csr", (2, 3), np.ones(2), [np.array([0, 1, 3]),
                                                      np.array([0, 1])], None, np.float32)
    rsp = mxw.nd.ones((3, 2)).tostype("row_sparse")
    conn = rsp._conn
    with pytest.raises(mxw.base.MXNetError, match="INVALID_ARGUMENT.*row_sparse"):
        conn.call(conn.require_worker().Download, mxw._proto.pb.worker.DownloadRequest(
            session=conn.session, handle=rsp.handle))
    with pytest.raises(mxw.base.MXNetError, match="INVALID_ARGUMENT.*autograd"):
        with mxw.autograd.record():
            mxw.nd.exp(rsp)
    # The worker keeps serving.
    np.testing.assert_array_equal(rsp.asnumpy(), np.ones((3, 2)))


def test_ndarray_iter_over_csr_matches_mxnet(mxw, real_mx):
    x = _dense((10, 6), 0.4, 12)
    got = {}
    for m in (mxw, real_mx):
        it = m.io.NDArrayIter(data=m.nd.array(x).tostype("csr"), label=m.nd.ones((10, 1)),
                              batch_size=4, last_batch_handle="discard")
        got[m] = [(b.data[0].stype, b.data[0].asnumpy(), b.label[0].asnumpy()) for b in it]
    assert len(got[mxw]) == len(got[real_mx]) == 2
    for (s1, d1, l1), (s2, d2, l2) in zip(got[mxw], got[real_mx]):
        assert s1 == s2  # MXNet 1.9.1 batches csr data densely (storage fallback)
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(l1, l2)

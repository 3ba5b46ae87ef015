"""mx.io.CSVIter, mx.io.MNISTIter and mx.io.PrefetchingIter against real MXNet 1.9.1: the same
batches (values, dtypes, pad, index, provide_data/provide_label) over small generated files,
over two epochs (round_batch wrap-around, shuffle order, part slicing)."""
import gzip
import struct

import numpy as np
import pytest


def _write_idx(path, arr, gz=False):
    arr = np.asarray(arr, dtype=np.uint8)
    raw = struct.pack(">I", 0x800 + arr.ndim) + struct.pack(">%dI" % arr.ndim, *arr.shape)
    with (gzip.open if gz else open)(str(path), "wb") as f:
        f.write(raw + arr.tobytes())


def _epochs(it, count=2):
    """[(data, label, pad, index)] of ``count`` epochs, reset between them (not after the
    last: MXNet's prefetch thread would read on, and a CSVIter that then runs out of rows
    aborts the process when it is destroyed)."""
    out = []
    for epoch in range(count):
        if epoch:
            it.reset()
        for batch in it:
            index = None if batch.index is None else np.asarray(batch.index).tolist()
            out.append((batch.data[0].asnumpy(), batch.label[0].asnumpy(), batch.pad, index))
    return out


def _descs(descs):
    return [(d.name, tuple(d.shape), np.dtype(d.dtype)) for d in descs]


def _assert_same_iter(got, want, epochs=2):
    assert _descs(got.provide_data) == _descs(want.provide_data)
    assert _descs(got.provide_label) == _descs(want.provide_label)
    assert got.batch_size == want.batch_size
    g, w = _epochs(got, epochs), _epochs(want, epochs)
    assert len(g) == len(w)
    for (gd, gl, gp, gi), (wd, wl, wp, wi) in zip(g, w):
        assert gd.dtype == wd.dtype and gl.dtype == wl.dtype
        np.testing.assert_array_equal(gd, wd)
        np.testing.assert_array_equal(gl, wl)
        assert (gp, gi) == (wp, wi)


@pytest.fixture
def csv_files(tmp_path):
    np.savetxt(tmp_path / "d.csv", np.arange(20).reshape(5, 4) * 0.5, delimiter=",", fmt="%g")
    np.savetxt(tmp_path / "l.csv", np.arange(10).reshape(5, 2) + 100, delimiter=",", fmt="%g")
    np.savetxt(tmp_path / "l1.csv", np.arange(5) + 100, delimiter=",", fmt="%g")
    return tmp_path


@pytest.mark.parametrize("kwargs", [
    dict(data_shape=(4,), batch_size=3),                                  # wrap, no label
    dict(data_shape=(2, 2), batch_size=3, round_batch=False, label="l1"),  # stale filler
    dict(data_shape=(4,), batch_size=2, label="l", label_shape=(2,), dtype="int32"),
    dict(data_shape=(4,), batch_size=2, label="l", label_shape=(1, 2)),   # label view quirk
    dict(data_shape=(4,), batch_size=7, epochs=2),                        # batch > rows
    dict(data_shape=(4,), batch_size=5, label="l1", dtype="int64"),       # exact epochs
])
def test_csv_iter_matches_mxnet(mxw, real_mx, csv_files, kwargs):
    kwargs = dict(kwargs, data_csv=str(csv_files / "d.csv"))
    epochs = kwargs.pop("epochs", 3)
    if "label" in kwargs:
        kwargs["label_csv"] = str(csv_files / (kwargs.pop("label") + ".csv"))
    _assert_same_iter(mxw.io.CSVIter(**kwargs), real_mx.io.CSVIter(**kwargs), epochs)


def test_csv_iter_reads_a_directory_and_names(mxw, real_mx, tmp_path):
    (tmp_path / "dir").mkdir()
    np.savetxt(tmp_path / "dir" / "a.csv", np.arange(6).reshape(3, 2), delimiter=",")
    np.savetxt(tmp_path / "dir" / "b.csv", np.arange(6, 10).reshape(2, 2), delimiter=",")
    kw = dict(data_csv=str(tmp_path / "dir"), data_shape=(2,), batch_size=2,
              data_name="x", label_name="y")
    got = mxw.io.CSVIter(**kw)
    assert [d.name for d in got.provide_data + got.provide_label] == ["x", "y"]
    _assert_same_iter(got, real_mx.io.CSVIter(**kw))


def test_csv_iter_errors(mxw, csv_files):
    d = str(csv_files / "d.csv")
    with pytest.raises(mxw.MXNetError, match="row-length=4"):
        mxw.io.CSVIter(data_csv=d, data_shape=(3,), batch_size=2)
    with pytest.raises(mxw.MXNetError, match="not supported"):
        mxw.io.CSVIter(data_csv=d, data_shape=(4,), batch_size=2, dtype="float16")
    with pytest.raises(mxw.MXNetError, match="bigger than batch size"):
        mxw.io.CSVIter(data_csv=d, data_shape=(4,), batch_size=11)
    # Two epochs of 7 from 5 rows borrow 6; the third would need 6 more rows (so does MXNet).
    it = mxw.io.CSVIter(data_csv=d, data_shape=(4,), batch_size=7)
    _epochs(it, 2)
    it.reset()
    with pytest.raises(mxw.MXNetError, match="bigger than batch size"):
        next(it)
    with pytest.raises(mxw.MXNetError, match="no such file"):
        mxw.io.CSVIter(data_csv=d + ".missing", data_shape=(4,), batch_size=2)


@pytest.fixture
def mnist_files(tmp_path):
    rs = np.random.RandomState(0)
    images = rs.randint(0, 256, size=(23, 4, 3))
    images[0, 0, 0] = 255
    _write_idx(tmp_path / "img", images)
    _write_idx(tmp_path / "lab", np.arange(23) % 10)
    return tmp_path


@pytest.mark.parametrize("kwargs", [
    dict(batch_size=5, shuffle=False),
    dict(batch_size=5, shuffle=True, seed=3, flat=True),
    dict(batch_size=4),                                    # MXNet's default: shuffle, seed 0
    dict(batch_size=2, num_parts=3, part_index=1, shuffle=True),
    dict(batch_size=3, num_parts=2, part_index=1, shuffle=False, flat=True),
])
def test_mnist_iter_matches_mxnet(mxw, real_mx, mnist_files, kwargs):
    kwargs = dict(kwargs, image=str(mnist_files / "img"), label=str(mnist_files / "lab"),
                  silent=True)
    _assert_same_iter(mxw.io.MNISTIter(**kwargs), real_mx.io.MNISTIter(**kwargs))


def test_mnist_iter_scales_by_256_and_reads_gzip(mxw, mnist_files):
    plain = dict(image=str(mnist_files / "img"), label=str(mnist_files / "lab"),
                 batch_size=23, shuffle=False, silent=True)
    batch = next(iter(mxw.io.MNISTIter(**plain)))
    assert batch.data[0].asnumpy()[0, 0, 0, 0] == np.float32(255 / 256)
    raw = np.frombuffer(open(plain["image"], "rb").read()[16:], np.uint8).reshape(23, 1, 4, 3)
    np.testing.assert_array_equal(batch.data[0].asnumpy() * 256, raw)
    _write_idx(mnist_files / "img.gz", raw.reshape(23, 4, 3), gz=True)
    _write_idx(mnist_files / "lab.gz", np.arange(23) % 10, gz=True)
    zipped = next(iter(mxw.io.MNISTIter(**dict(plain, image=plain["image"] + ".gz",
                                                 label=plain["label"] + ".gz"))))
    np.testing.assert_array_equal(zipped.data[0].asnumpy(), batch.data[0].asnumpy())
    np.testing.assert_array_equal(zipped.label[0].asnumpy(), np.arange(23) % 10)


def test_mnist_shuffle_order_over_a_long_stream(mxw, real_mx, tmp_path):
    # 5000 examples: more than one block of the generator's buffered draws.
    _write_idx(tmp_path / "img", np.zeros((5000, 1, 1)))
    _write_idx(tmp_path / "lab", np.arange(5000) % 256)
    kw = dict(image=str(tmp_path / "img"), label=str(tmp_path / "lab"), batch_size=5000,
              seed=11, silent=True)
    got = next(iter(mxw.io.MNISTIter(**kw))).label[0].asnumpy()
    want = next(iter(real_mx.io.MNISTIter(**kw))).label[0].asnumpy()
    np.testing.assert_array_equal(got, want)


def test_mnist_iter_errors(mxw, mnist_files, tmp_path):
    img, lab = str(mnist_files / "img"), str(mnist_files / "lab")
    with pytest.raises(mxw.MXNetError, match="less than one batch"):
        mxw.io.MNISTIter(image=img, label=lab, batch_size=24, silent=True)
    with pytest.raises(mxw.MXNetError, match="part_index"):
        mxw.io.MNISTIter(image=img, label=lab, num_parts=2, part_index=2, silent=True)
    with pytest.raises(mxw.MXNetError, match="float32"):
        mxw.io.MNISTIter(image=img, label=lab, dtype="float16", silent=True)
    (tmp_path / "short").write_bytes(open(img, "rb").read()[:40])
    with pytest.raises(mxw.MXNetError, match="invalid mnist format"):
        mxw.io.MNISTIter(image=str(tmp_path / "short"), label=lab, silent=True)


def _prefetch_pair(m, shuffle_seed):
    x = np.arange(70, dtype=np.float32).reshape(35, 2)
    y = np.arange(35, dtype=np.float32)
    np.random.seed(shuffle_seed)
    a = m.io.NDArrayIter(x, y, batch_size=4, shuffle=False)
    b = m.io.NDArrayIter({"data": x * 10}, {"softmax_label": y + 1}, batch_size=4)
    return m.io.PrefetchingIter([a, b], rename_data=[{"data": "a"}, {"data": "b"}],
                                rename_label=[{"softmax_label": "la"},
                                              {"softmax_label": "lb"}])


def test_prefetching_iter_matches_mxnet(mxw, real_mx):
    got, want = _prefetch_pair(mxw, 0), _prefetch_pair(real_mx, 0)
    assert _descs(got.provide_data) == _descs(want.provide_data) == \
        [("a", (4, 2), np.dtype(np.float32)), ("b", (4, 2), np.dtype(np.float32))]
    assert _descs(got.provide_label) == _descs(want.provide_label)
    assert got.batch_size == want.batch_size == 4
    for _ in range(2):
        gb, wb = list(got), list(want)
        assert len(gb) == len(wb) == 9
        for g, w in zip(gb, wb):
            assert g.pad == w.pad
            assert [d.name for d in g.provide_data] == ["a", "b"]
            for ga, wa in zip(g.data + g.label, w.data + w.label):
                np.testing.assert_array_equal(ga.asnumpy(), wa.asnumpy())
        got.reset()
        want.reset()
    got.close()


def test_prefetching_iter_keeps_host_arrays_and_trains(mxw):
    x = np.random.RandomState(1).rand(40, 3).astype(np.float32)
    y = (x.sum(axis=1) > 1.5).astype(np.float32)
    it = mxw.io.PrefetchingIter(mxw.io.NDArrayIter(x, y, batch_size=8))
    first = next(it)
    assert isinstance(first.host_data[0], np.ndarray)  # no upload needed to train on it
    np.testing.assert_array_equal(first.host_data[0], x[:8])
    it.reset()
    net = mxw.sym.SoftmaxOutput(mxw.sym.FullyConnected(mxw.sym.Variable("data"),
                                                        num_hidden=2, name="fc"),
                                name="softmax")
    mod = mxw.mod.Module(net)
    mod.fit(it, num_epoch=2, optimizer_params={"learning_rate": 0.1})
    assert mod.score(it, "acc")[0][0] == "accuracy"
    it.close()


def test_prefetching_iter_raises_the_wrapped_iterators_error(mxw):
    class Broken(mxw.io.NDArrayIter):
        def next(self):
            raise ValueError("broken source")

    it = mxw.io.PrefetchingIter(Broken(np.zeros((4, 2)), batch_size=2))
    with pytest.raises(ValueError, match="broken source"):
        next(it)
    it.close()
    with pytest.raises(RuntimeError, match="closed"):
        next(it)

"""mx.io.ImageRecordIter against real MXNet 1.9.1's on small .rec files that MXNet writes
(MXIndexedRecordIO + recordio.pack of PNG/JPEG bytes made with Pillow): the same batches,
labels and pads with shuffle off (centre crop, resize, padding, mirror, mean/std/scale, a
mean image, uint8/int8, grey and RGBA), round_batch's wrap-around across epochs, num_parts
with and without an index file; random options checked for shapes, validity and
reproducibility for a seed."""
import io
import os

import numpy as np
import pytest
from PIL import Image

import mxgrid

SIZES = [(37, 53), (60, 41), (24, 24), (80, 100), (30, 70), (45, 45), (26, 90)]


def _image(i, h, w, channels):
    rng = np.random.RandomState(i)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * (5 + c) + yy * (2 + i) + 40 * c) % 256 for c in range(channels)], 2)
    img = img.astype(np.uint8) ^ rng.randint(0, 16, img.shape).astype(np.uint8)
    return img[:, :, 0] if channels == 1 else img


def _encode(img, fmt):
    out = io.BytesIO()
    Image.fromarray(img).save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def _write(real_mx, directory, name, fmt="PNG", channels=3, label_width=1):
    rec, idx = os.path.join(directory, name + ".rec"), os.path.join(directory, name + ".idx")
    w = real_mx.recordio.MXIndexedRecordIO(idx, rec, "w")
    images = []
    for i, (h, wd) in enumerate(SIZES):
        img = _image(i, h, wd, channels)
        images.append(img)
        label = float(i) if label_width == 1 else [float(i + 10 * k) for k in range(label_width)]
        w.write_idx(i, real_mx.recordio.pack(real_mx.recordio.IRHeader(0, label, 100 + i, 0),
                                             _encode(img, fmt)))
    w.close()
    return rec, idx, images


@pytest.fixture(scope="module")
def recs(real_mx, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("imgrec"))
    return {"png": _write(real_mx, d, "png"), "jpg": _write(real_mx, d, "jpg", "JPEG"),
            "grey": _write(real_mx, d, "grey", channels=1),
            "rgba": _write(real_mx, d, "rgba", channels=4),
            "wide": _write(real_mx, d, "wide", label_width=2), "dir": d}


def _epochs(mod, n_epochs=1, **kw):
    """[(data, label, pad)] of ``n_epochs`` epochs (reset between them)."""
    kw.setdefault("preprocess_threads", 1)
    it = mod.io.ImageRecordIter(**kw)
    out = []
    for _ in range(n_epochs):
        for b in it:
            if mod is mxgrid:
                out.append((b.host_data[0], b.host_label[0], b.pad))
            else:
                out.append((b.data[0].asnumpy(), b.label[0].asnumpy(), b.pad))
        it.reset()
    return it, out


def _assert_same(real_mx, atol=0.0, mean_atol=0.0, **kw):
    ours_it, ours = _epochs(mxgrid, **kw)
    theirs_it, theirs = _epochs(real_mx, **kw)
    assert [(d.name, d.shape, np.dtype(d.dtype)) for d in ours_it.provide_data] == \
        [(d.name, d.shape, np.dtype(d.dtype)) for d in theirs_it.provide_data]
    assert [(d.name, d.shape) for d in ours_it.provide_label] == \
        [(d.name, d.shape) for d in theirs_it.provide_label]
    assert len(ours) == len(theirs)
    for (d, l, p), (d2, l2, p2) in zip(ours, theirs):
        assert p == p2 and d.dtype == d2.dtype and d.shape == d2.shape
        np.testing.assert_array_equal(l, l2)
        diff = np.abs(d.astype(np.float64) - d2.astype(np.float64))
        assert diff.max() <= atol and diff.mean() <= mean_atol, (diff.max(), diff.mean())
    return ours


@pytest.mark.parametrize("kw", [
    dict(data_shape=(3, 24, 24)),
    dict(data_shape=(3, 20, 16), mean_r=123.68, mean_g=116.78, mean_b=103.94, std_r=58.4,
         std_g=57.1, std_b=57.4, scale=0.5),
    dict(data_shape=(3, 24, 24), resize=30),
    dict(data_shape=(3, 24, 24), resize=70, mirror=True),
    dict(data_shape=(3, 50, 50)),  # smaller images are scaled up before the crop
    dict(data_shape=(3, 30, 30), pad=4, fill_value=7),
    dict(data_shape=(3, 24, 24), dtype="uint8"),
    dict(data_shape=(3, 24, 24), dtype="int8", mean_r=100.4, mean_g=3, mean_b=200),
    dict(data_shape=(3, 24, 24), resize=30, inter_method=0),
    dict(data_shape=(1, 24, 24), mean_r=5),  # colour PNGs read as grey
], ids=lambda kw: ",".join("%s=%s" % kv for kv in kw.items()))
def test_png_batches_equal_mxnet(real_mx, recs, kw):
    _assert_same(real_mx, path_imgrec=recs["png"][0], batch_size=3, **kw)


@pytest.mark.parametrize("name,shape", [("grey", (1, 24, 24)), ("grey", (3, 24, 24)),
                                        ("rgba", (4, 24, 24)), ("jpg", (1, 24, 24))])
def test_channels_equal_mxnet(real_mx, recs, name, shape):
    _assert_same(real_mx, path_imgrec=recs[name][0], batch_size=4, data_shape=shape,
                 mean_a=3, resize=32)


def test_jpeg_close_to_mxnet(real_mx, recs):
    # libjpeg builds may differ in their IDCT, so allow a few grey levels.
    _assert_same(real_mx, atol=8, mean_atol=0.5, path_imgrec=recs["jpg"][0], batch_size=4,
                 data_shape=(3, 24, 24), resize=28, mean_r=128, std_r=64)


def test_values_are_the_centre_crop(recs):
    """Independent of MXNet: no resize, so a batch is the decoded image's centre window."""
    _, out = _epochs(mxgrid, path_imgrec=recs["png"][0], batch_size=7,
                     data_shape=(3, 24, 20), mean_g=10, std_g=2)
    data = out[0][0]
    for i, img in enumerate(recs["png"][2]):
        h, w = img.shape[:2]
        if h < 24 or w < 20:
            continue
        y, x = (h - 24) // 2, (w - 20) // 2
        want = img[y:y + 24, x:x + 20].transpose(2, 0, 1).astype(np.float32)
        want[1] = (want[1] - 10) / 2
        np.testing.assert_array_equal(data[i], want)


def test_round_batch_wraps_and_next_epoch_carries_on(real_mx, recs):
    kw = dict(path_imgrec=recs["png"][0], data_shape=(3, 8, 8), batch_size=3)
    _, ours = _epochs(mxgrid, n_epochs=4, **kw)
    _, theirs = _epochs(real_mx, n_epochs=4, **kw)
    labels = [l.tolist() for _, l, _ in ours]
    assert labels == [l.tolist() for _, l, _ in theirs]
    # 7 records: [0 1 2] [3 4 5] [6 0 1] | [2 3 4] [5 6 0] | [1 2 3] [4 5 6] | [0 1 2] ...
    assert labels[:7] == [[0, 1, 2], [3, 4, 5], [6, 0, 1], [2, 3, 4], [5, 6, 0], [1, 2, 3],
                          [4, 5, 6]]
    assert [p for _, _, p in ours][:7] == [0, 0, 2, 0, 1, 0, 0]
    # MXNet's first-epoch pads are right; later ones come from recycled batch objects.
    assert [p for _, _, p in theirs][:3] == [0, 0, 2]


def test_round_batch_off_pads_with_zeros(real_mx, recs):
    kw = dict(path_imgrec=recs["png"][0], data_shape=(3, 8, 8), batch_size=3,
              round_batch=False)
    _, ours = _epochs(mxgrid, n_epochs=2, **kw)
    _, theirs = _epochs(real_mx, n_epochs=2, **kw)
    assert len(ours) == len(theirs) == 6
    for (d, l, p), (d2, l2, _) in zip(ours, theirs):
        n = 3 - p
        np.testing.assert_array_equal(l[:n], l2[:n])
        np.testing.assert_array_equal(d[:n], d2[:n])
    # MXNet 1.9.1 reports pad 0 here and leaves stale values; mxgrid counts and zeroes them.
    assert [p for _, _, p in ours] == [0, 0, 2] * 2
    assert not ours[2][0][1:].any() and not ours[2][1][1:].any()


@pytest.mark.parametrize("indexed", [False, True])
def test_num_parts_as_mxnet(real_mx, recs, indexed):
    rec, idx, _ = recs["png"]
    seen = []
    for part in range(3):
        kw = dict(path_imgrec=rec, data_shape=(3, 8, 8), batch_size=2, num_parts=3,
                  part_index=part, **({"path_imgidx": idx} if indexed else {}))
        _, ours = _epochs(mxgrid, **kw)
        _, theirs = _epochs(real_mx, **kw)
        assert [(l.tolist(), p) for _, l, p in ours] == \
            [(l.tolist(), p) for _, l, p in theirs]
        seen += [x for _, l, p in ours for x in l[:2 - p].tolist()]
    assert sorted(seen) == list(range(len(SIZES)))


def test_label_width_and_errors(real_mx, recs):
    ours = _assert_same(real_mx, path_imgrec=recs["wide"][0], data_shape=(3, 8, 8),
                        batch_size=4, label_width=2)
    np.testing.assert_array_equal(ours[0][1], [[0, 10], [1, 11], [2, 12], [3, 13]])
    with pytest.raises(mxgrid.MXNetError, match="label_width"):
        mxgrid.io.ImageRecordIter(path_imgrec=recs["wide"][0], data_shape=(3, 8, 8),
                                  batch_size=2).next()
    with pytest.raises(mxgrid.MXNetError, match="label_width"):
        mxgrid.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape=(3, 8, 8),
                                  batch_size=2, label_width=3).next()
    with pytest.raises(ValueError, match="does not implement max_rotate_angle"):
        mxgrid.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape=(3, 8, 8),
                                  batch_size=2, max_rotate_angle=10)
    with pytest.raises(ValueError, match="unknown parameter"):
        mxgrid.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape=(3, 8, 8),
                                  batch_size=2, no_such_thing=1)
    with pytest.raises(mxgrid.MXNetError, match="4 channels"):
        mxgrid.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape=(4, 8, 8),
                                  batch_size=2).next()
    # Defaults and ignored pipeline knobs are accepted.
    mxgrid.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape="(3, 8, 8)",
                              batch_size=2, max_rotate_angle=0, verbose=False, ctx="cpu")


def test_mean_image_file(real_mx, recs, tmp_path):
    theirs_file, ours_file = str(tmp_path / "theirs.nd"), str(tmp_path / "ours.nd")
    common = dict(path_imgrec=recs["png"][0], data_shape=(3, 16, 16), batch_size=4,
                  scale=0.5)
    # MXNet computes the mean image and saves it; ours loads that file and agrees.
    real_mx.io.ImageRecordIter(mean_img=theirs_file, **common)
    assert os.path.exists(theirs_file)
    _assert_same(real_mx, mean_img=theirs_file, **common)
    # Ours computes its own file from the records: the same mean.
    mxgrid.io.ImageRecordIter(mean_img=ours_file, **common)
    theirs = real_mx.nd.load(theirs_file)
    ours = real_mx.nd.load(ours_file)
    assert list(ours) == list(theirs) == ["mean_img"]
    np.testing.assert_allclose(ours["mean_img"].asnumpy(), theirs["mean_img"].asnumpy(),
                               rtol=1e-6, atol=1e-5)


def _random_run(recs, seed, threads, **extra):
    kw = dict(path_imgrec=recs["png"][0], data_shape=(3, 20, 20), batch_size=3, shuffle=True,
              rand_crop=True, rand_mirror=True, seed=seed, preprocess_threads=threads,
              **extra)
    return _epochs(mxgrid, n_epochs=2, **kw)[1]


def test_random_options_reproducible_and_valid(recs):
    a = _random_run(recs, seed=5, threads=1)
    b = _random_run(recs, seed=5, threads=3)
    c = _random_run(recs, seed=6, threads=3)
    assert len(a) == len(b)
    for (d, l, p), (d2, l2, p2) in zip(a, b):
        assert d.shape == (3, 3, 20, 20) and l.shape == (3,) and p == p2
        np.testing.assert_array_equal(d, d2)
        np.testing.assert_array_equal(l, l2)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))
    # Each epoch's first 7 labels are a permutation, not the file order.
    first = [x for _, l, _ in a for x in l.tolist()][:7]
    assert sorted(first) == list(range(7)) and first != list(range(7))
    # Every image is a (possibly mirrored) 20x20 window of its decoded image.
    images = recs["png"][2]
    mirrored = set()
    for d, l, _ in a:
        for img_chw, label in zip(d, l):
            img = images[int(label)]
            if img.shape[0] < 20 or img.shape[1] < 20:
                continue
            crop = img_chw.transpose(1, 2, 0).astype(np.uint8)
            hits = [(flip, y, x) for flip in (False, True)
                    for y in range(img.shape[0] - 19) for x in range(img.shape[1] - 19)
                    if np.array_equal(crop[:, ::-1] if flip else crop,
                                      img[y:y + 20, x:x + 20])]
            assert hits, "label %d: not a window of its image" % label
            mirrored.update(h[0] for h in hits)
    assert mirrored == {False, True}


def test_seed_aug_repeats_per_slot(recs):
    kw = dict(path_imgrec=recs["png"][0], data_shape=(3, 20, 20), batch_size=7,
              rand_crop=True, seed_aug=3)
    _, out = _epochs(mxgrid, n_epochs=2, **kw)
    np.testing.assert_array_equal(out[0][0], out[1][0])


def test_batches_upload_as_ndarrays(mxw, recs):
    it = mxw.io.ImageRecordIter(path_imgrec=recs["png"][0], data_shape=(3, 12, 12),
                                batch_size=4, mean_r=1, preprocess_threads=2)
    batch = it.next()
    assert isinstance(batch.data[0], mxw.nd.NDArray)
    np.testing.assert_array_equal(batch.data[0].asnumpy(), batch.host_data[0])
    np.testing.assert_array_equal(batch.label[0].asnumpy(), [0, 1, 2, 3])
    np.testing.assert_array_equal(it.getdata().asnumpy(), batch.host_data[0])
    np.testing.assert_array_equal(it.getindex(), [100, 101, 102, 103])
    assert it.getpad() == 0
    it.close()

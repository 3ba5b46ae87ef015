"""mx.recordio against real MXNet 1.9.1: files written by either are byte-identical and read
back by the other (records that hold the magic number included), pack/unpack of scalar and
vector labels, Pillow-based pack_img/unpack_img in OpenCV's BGR convention, pickling and the
one-process rule. Client-side only: no cluster needed."""
import io
import os
import pickle
import struct

import numpy as np
import pytest
from PIL import Image

import mxgrid

MAGIC = struct.pack("<I", 0xCED7230A)
RECORDS = [b"", b"a", b"abcd", b"abcde", MAGIC, b"xy" + MAGIC, b"abcd" + MAGIC + MAGIC + b"12",
           MAGIC * 3 + b"z", b"12" + MAGIC + b"34" + MAGIC, os.urandom(1001),
           bytes(range(256)) * 5]


def _write(mod, directory, name, records, indexed=True):
    rec, idx = os.path.join(directory, name + ".rec"), os.path.join(directory, name + ".idx")
    w = mod.recordio.MXIndexedRecordIO(idx, rec, "w") if indexed else \
        mod.recordio.MXRecordIO(rec, "w")
    tells = []
    for i, r in enumerate(records):
        if indexed:
            tells.append(w.tell())
            w.write_idx(i, r)
        else:
            w.write(r)
    w.close()
    return rec, idx, tells


def _read_all(reader):
    out = []
    while True:
        r = reader.read()
        if r is None:
            return out
        out.append(r)


@pytest.mark.parametrize("indexed", [False, True])
def test_files_byte_identical_and_cross_readable(real_mx, tmp_path, indexed):
    ours = _write(mxgrid, str(tmp_path), "ours", RECORDS, indexed)
    theirs = _write(real_mx, str(tmp_path), "theirs", RECORDS, indexed)
    assert open(ours[0], "rb").read() == open(theirs[0], "rb").read()
    if indexed:
        assert open(ours[1]).read() == open(theirs[1]).read()
        assert ours[2] == theirs[2]
    assert _read_all(mxgrid.recordio.MXRecordIO(theirs[0], "r")) == RECORDS
    assert _read_all(real_mx.recordio.MXRecordIO(ours[0], "r")) == RECORDS


def test_magic_is_split_into_parts(tmp_path):
    rec, _, _ = _write(mxgrid, str(tmp_path), "m", [b"ab" + MAGIC + b"cd", b"abcd" + MAGIC],
                       indexed=False)
    raw = open(rec, "rb").read()
    # First record: unaligned magic, one whole part of 8 bytes.
    assert raw[:8] == MAGIC + struct.pack("<I", 8) and raw[8:16] == b"ab" + MAGIC + b"cd"
    # Second: aligned magic at offset 4 -> part 1 (flag 1, 4 bytes), then part 3 (empty).
    assert raw[16:24] == MAGIC + struct.pack("<I", (1 << 29) | 4) and raw[24:28] == b"abcd"
    assert raw[28:] == MAGIC + struct.pack("<I", 3 << 29)


def test_indexed_random_access_keys_and_reset(real_mx, tmp_path):
    rec, idx, _ = _write(real_mx, str(tmp_path), "t", RECORDS)
    r = mxgrid.recordio.MXIndexedRecordIO(idx, rec, "r")
    assert r.keys == list(range(len(RECORDS)))
    for i in (5, 0, 9, 5, len(RECORDS) - 1):
        assert r.read_idx(i) == RECORDS[i]
    assert r.read() is None  # the last record was just read
    r.reset()
    assert r.read() == RECORDS[0]
    r.close()
    r.close()  # closing twice is harmless

    path = str(tmp_path / "s")
    w = mxgrid.recordio.MXIndexedRecordIO(path + ".idx", path + ".rec", "w", key_type=str)
    w.write_idx("cat", b"meow")
    w.write_idx("dog", b"woof!")
    w.close()
    theirs = real_mx.recordio.MXIndexedRecordIO(path + ".idx", path + ".rec", "r",
                                                key_type=str)
    assert theirs.keys == ["cat", "dog"] and theirs.read_idx("dog") == b"woof!"
    assert theirs.idx == mxgrid.recordio.MXIndexedRecordIO(
        path + ".idx", path + ".rec", "r", key_type=str).idx


def test_pickling_as_mxnet(tmp_path):
    rec, idx, _ = _write(mxgrid, str(tmp_path), "p", RECORDS)
    r = mxgrid.recordio.MXIndexedRecordIO(idx, rec, "r")
    assert r.read() == RECORDS[0] and r.read() == RECORDS[1]
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.is_open and r2.read() == RECORDS[0]  # reopened from the start
    assert r2.read_idx(6) == RECORDS[6]
    assert not r.is_open  # pickling closed the original, as MXNet's __getstate__ does
    r.close()
    closed = pickle.loads(pickle.dumps(r))
    assert not closed.is_open


def test_other_process_is_refused_or_reset(tmp_path):
    rec, idx, _ = _write(mxgrid, str(tmp_path), "q", RECORDS)
    r = mxgrid.recordio.MXIndexedRecordIO(idx, rec, "r")
    r.pid = -1  # as if forked
    with pytest.raises(RuntimeError, match="multiple processes"):
        r.read()
    assert r.read_idx(3) == RECORDS[3]  # seek reopens in the new process
    w = mxgrid.recordio.MXRecordIO(str(tmp_path / "w.rec"), "w")
    w.pid = -1
    with pytest.raises(RuntimeError, match="multiple processes"):
        w.write(b"x")


def test_errors(tmp_path):
    with pytest.raises(ValueError, match="Invalid flag"):
        mxgrid.recordio.MXRecordIO(str(tmp_path / "x.rec"), "a")
    with pytest.raises(mxgrid.MXNetError, match="cannot open"):
        mxgrid.recordio.MXRecordIO(str(tmp_path / "missing.rec"), "r")
    bad = tmp_path / "bad.rec"
    bad.write_bytes(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    with pytest.raises(mxgrid.MXNetError, match="bad magic"):
        mxgrid.recordio.MXRecordIO(str(bad), "r").read()
    rec, _, _ = _write(mxgrid, str(tmp_path), "trunc", [b"0123456789"], indexed=False)
    with open(rec, "r+b") as f:
        f.truncate(12)
    with pytest.raises(mxgrid.MXNetError, match="truncated"):
        mxgrid.recordio.MXRecordIO(rec, "r").read()
    w = mxgrid.recordio.MXRecordIO(str(tmp_path / "s.rec"), "w")
    with pytest.raises(TypeError):
        w.write("a str")


@pytest.mark.parametrize("label", [3.5, 0, [1.0, -2.0, 7.25], np.arange(4, dtype=np.float64)])
def test_pack_unpack_as_mxnet(real_mx, label):
    header = (7, label, 12345678901, 9)
    ours = mxgrid.recordio.pack(mxgrid.recordio.IRHeader(*header), b"payload")
    assert ours == real_mx.recordio.pack(real_mx.recordio.IRHeader(*header), b"payload")
    h, s = mxgrid.recordio.unpack(ours)
    h2, s2 = real_mx.recordio.unpack(ours)
    assert s == s2 == b"payload"
    assert (h.flag, h.id, h.id2) == (h2.flag, h2.id, h2.id2)
    np.testing.assert_array_equal(h.label, h2.label)
    if isinstance(label, (int, float)):
        assert h.flag == 0 and h.label == np.float32(label)
    else:
        assert h.flag == len(label) and h.label.dtype == np.float32
    assert mxgrid.recordio.IRHeader._fields == real_mx.recordio.IRHeader._fields


def _encode(rgb, fmt, **kw):
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format=fmt, **kw)
    return out.getvalue()


def test_pack_img_unpack_img_png_bgr(real_mx):
    rng = np.random.RandomState(0)
    bgr = rng.randint(0, 256, (9, 11, 3), dtype=np.uint8)
    header = mxgrid.recordio.IRHeader(0, 2.0, 5, 0)
    packed = mxgrid.recordio.pack_img(header, bgr, quality=3, img_fmt=".png")
    h, s = real_mx.recordio.unpack(packed)  # MXNet reads our header ...
    assert (h.label, h.id) == (2.0, 5)
    # ... and the PNG holds RGB, as OpenCV writes a BGR array.
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(s))), bgr[:, :, ::-1])
    _, img = mxgrid.recordio.unpack_img(packed)
    np.testing.assert_array_equal(img, bgr)
    _, grey = mxgrid.recordio.unpack_img(packed, iscolor=0)
    rgb = bgr[:, :, ::-1].astype(np.float64)
    want = rgb @ np.array([0.299, 0.587, 0.114])
    assert grey.shape == (9, 11) and np.abs(grey - want).max() <= 1.0

    bgra = rng.randint(0, 256, (4, 5, 4), dtype=np.uint8)
    _, back = mxgrid.recordio.unpack_img(mxgrid.recordio.pack_img(header, bgra, img_fmt=".png"))
    np.testing.assert_array_equal(back, bgra)
    _, colour = mxgrid.recordio.unpack_img(
        mxgrid.recordio.pack_img(header, bgra, img_fmt=".png"), iscolor=1)
    np.testing.assert_array_equal(colour, bgra[:, :, :3])
    g = rng.randint(0, 256, (6, 3), dtype=np.uint8)
    _, back = mxgrid.recordio.unpack_img(mxgrid.recordio.pack_img(header, g, img_fmt=".png"))
    np.testing.assert_array_equal(back, g)


def test_pack_img_jpeg_and_mxnet_packed_images(real_mx):
    yy, xx = np.mgrid[0:32, 0:40]
    bgr = np.stack([xx * 6, yy * 7, (xx + yy) * 3], axis=2).astype(np.uint8)
    packed = mxgrid.recordio.pack_img(mxgrid.recordio.IRHeader(0, [1, 2], 3, 0), bgr,
                                      quality=95, img_fmt=".jpg")
    header, img = mxgrid.recordio.unpack_img(packed)
    np.testing.assert_array_equal(header.label, [1, 2])
    assert img.shape == bgr.shape
    assert np.abs(img.astype(int) - bgr).mean() < 2.0
    # An image record that MXNet packed (from JPEG bytes) decodes the same as with Pillow.
    jpeg = _encode(bgr[:, :, ::-1], "JPEG", quality=90)
    theirs = real_mx.recordio.pack(real_mx.recordio.IRHeader(0, 4.0, 1, 0), jpeg)
    header, img = mxgrid.recordio.unpack_img(theirs, iscolor=1)
    assert header.label == 4.0
    np.testing.assert_array_equal(img[:, :, ::-1], np.asarray(Image.open(io.BytesIO(jpeg))))
    with pytest.raises(ValueError, match="unknown image format"):
        mxgrid.recordio.pack_img(header, bgr, img_fmt=".nope")


def test_lazy_module_attribute():
    assert mxgrid.recordio.MXRecordIO is mxgrid.recordio.MXRecordIO
    assert "recordio" in mxgrid._LAZY

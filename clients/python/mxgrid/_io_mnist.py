"""mx.io.MNISTIter: batches of an MNIST idx image file and its label file, as MXNet 1.9.1's
MNISTIter (src/io/iter_mnist.cc).

Pixels are scaled by 1/256 (MXNet's factor: 255 becomes 0.99609375) to float32 batches of
shape (batch, 1, rows, cols), or (batch, rows*cols) with ``flat``; labels are float32 of shape
(batch,). An epoch is the whole batches only (the remainder is never returned, ``pad`` is 0,
``index`` is zeros as MXNet leaves it). ``num_parts``/``part_index`` read the
[count*i/n, count*(i+1)/n) slice of both files. ``shuffle`` (MXNet's default) reorders the
examples once, when the iterator is made, in exactly MXNet's order for the same ``seed``:
libstdc++'s std::shuffle driven by std::mt19937(seed), whose raw stream is numpy's legacy
RandomState (the same Mersenne Twister, seeded the same way). gzip-compressed files are read
too (MXNet reads only raw ones).

    it = mx.io.MNISTIter(image="train-images-idx3-ubyte", label="train-labels-idx1-ubyte",
                         batch_size=100, shuffle=True, flat=True)

Thread-safety: not thread-safe (as MXNet's iterators).
"""
import gzip
import logging
import struct

import numpy as np

from ._io_native import BatchSource, NativeIter, as_bool
from .base import MXNetError

__all__ = ["MNISTIter"]


def _read_idx(path, what):
    """(header ints after the magic, payload bytes) of an idx file, gunzipped if needed."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise MXNetError("MNISTIter: cannot read %s file %s: %s" % (what, path, e)) from None
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def _header(raw, count, path):
    if len(raw) < 4 * count:
        raise MXNetError("MNISTIter: invalid mnist format (%s is too short)" % path)
    return struct.unpack(">%di" % count, raw[:4 * count])


def _part(count, num_parts, part_index):
    """MXNet's [start, end) of part ``part_index`` of ``count`` examples (double arithmetic)."""
    if num_parts <= 0 or not 0 <= part_index < num_parts:
        raise MXNetError("MNISTIter: need 0 <= part_index < num_parts, got part_index=%d, "
                         "num_parts=%d" % (part_index, num_parts))
    return (int(float(count) / num_parts * part_index),
            int(float(count) / num_parts * (part_index + 1)))


class _MT19937:
    """The raw 32-bit stream of std::mt19937(seed), drawn from numpy in blocks."""

    def __init__(self, seed):
        self._state = np.random.RandomState(seed & 0xFFFFFFFF)
        self._block = []

    def __call__(self):
        if not self._block:
            self._block = self._state.randint(0, 2 ** 32, size=4096, dtype=np.uint64).tolist()
            self._block.reverse()
        return self._block.pop()


def _uniform_int(gen, upper):
    """libstdc++'s uniform_int_distribution(0, upper) on a 32-bit generator (upper < 2**32-1):
    rejection of the top partial bucket, then division."""
    buckets = upper + 1
    scaling = 0xFFFFFFFF // buckets
    past = buckets * scaling
    while True:
        value = gen()
        if value < past:
            return value // scaling


def std_shuffle_order(count, seed):
    """The permutation std::shuffle(v.begin(), v.end(), std::mt19937(seed)) makes of
    v = [0, count), as the libstdc++ MXNet 1.9.1 was built with (one draw per swap)."""
    gen = _MT19937(seed)
    order = list(range(count))
    for i in range(1, count):
        j = _uniform_int(gen, i)
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


class _MNISTSource(BatchSource):
    def __init__(self, images, labels, batch_size, flat):
        self._images, self._labels = images, labels
        self._batch_size = batch_size
        self._flat = flat
        self._loc = 0

    def before_first(self):
        self._loc = 0

    def next(self):
        if self._loc + self._batch_size > len(self._images):
            return None
        rows = slice(self._loc, self._loc + self._batch_size)
        self._loc += self._batch_size
        data = self._images[rows]
        data = data.reshape(self._batch_size, -1) if self._flat else data[:, None]
        return (data.copy(), self._labels[rows].reshape(-1, 1).copy(), 0,
                np.zeros(self._batch_size, np.uint64))


def MNISTIter(image="./train-images-idx3-ubyte", label="./train-labels-idx1-ubyte",
              batch_size=128, shuffle=True, flat=False, seed=0, silent=False, num_parts=1,
              part_index=0, data_name="data", label_name="softmax_label", dtype=None,
              **_ignored):
    """Batches of the MNIST idx files ``image`` and ``label``; see the module. MXNet's
    prefetch_buffer and ctx are accepted and ignored; ``dtype`` can only be float32 (MXNet's
    prefetcher fails on any other type for this iterator)."""
    if dtype is not None and np.dtype(dtype) != np.float32:
        raise MXNetError("MNISTIter: batches are float32, dtype=%s is not supported" % dtype)
    batch_size, num_parts, part_index = int(batch_size), int(num_parts), int(part_index)
    if batch_size < 1:
        raise MXNetError("MNISTIter: batch_size must be at least 1, got %d" % batch_size)
    raw = _read_idx(image, "image")
    _magic, count, rows, cols = _header(raw, 4, image)
    start, end = _part(count, num_parts, part_index)
    if count < 0 or rows <= 0 or cols <= 0 or len(raw) < 16 + count * rows * cols:
        raise MXNetError("MNISTIter: invalid mnist format (%s: %d images of %dx%d in %d "
                         "bytes)" % (image, count, rows, cols, len(raw)))
    pixels = np.frombuffer(raw, np.uint8, count=(end - start) * rows * cols,
                           offset=16 + start * rows * cols)
    images = pixels.reshape(end - start, rows, cols).astype(np.float32) * np.float32(1 / 256)

    raw = _read_idx(label, "label")
    _magic, label_count = _header(raw, 2, label)
    lstart, lend = _part(label_count, num_parts, part_index)
    if lend - lstart != end - start or len(raw) < 8 + lend:
        raise MXNetError("MNISTIter: %s holds %d labels for the %d images of %s (part %d of %d)"
                         % (label, lend - lstart, end - start, image, part_index, num_parts))
    labels = np.frombuffer(raw, np.uint8, count=lend - lstart, offset=8 + lstart)
    labels = labels.astype(np.float32)

    shuffle = as_bool(shuffle)
    if shuffle:
        order = std_shuffle_order(len(images), int(seed))
        images, labels = images[order], labels[order]
    flat = as_bool(flat)
    if not as_bool(silent):
        shape = (batch_size, rows * cols) if flat else (batch_size, 1, rows, cols)
        logging.info("MNISTIter: load %d images, shuffle=%d, shape=(%s)", len(images),
                     shuffle, ",".join(str(d) for d in shape))
    return NativeIter(_MNISTSource(images, labels, batch_size, flat),
                      data_name, label_name, "MNISTIter")

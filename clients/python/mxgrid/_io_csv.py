"""mx.io.CSVIter: batches of the rows of a CSV file (or of every file in a directory), as
MXNet 1.9.1's CSVIter (src/io/iter_csv.cc behind its BatchLoader).

Each row is one example, reshaped to ``data_shape``; labels come from ``label_csv`` row by
row (shape ``label_shape``), or are all 0 without one. The last batch of an epoch is filled:
with ``round_batch`` (the default) by wrapping around to the first rows, and the next epoch
then starts after the rows it borrowed (``reset`` after such a batch does not rewind); without
it, the unfilled rows keep the previous batch's values. ``pad`` counts the filler rows, and
``index`` holds each row's number (counted from the start of the file, as MXNet does).

The files are read whole when the iterator is made (MXNet streams them). ``prefetch_buffer``,
``ctx`` and other MXNet knobs are accepted and ignored: batches are made on demand.

    it = mx.io.CSVIter(data_csv="x.csv", data_shape=(3,), label_csv="y.csv", batch_size=2)

Thread-safety: not thread-safe (as MXNet's iterators).
"""
import os

import numpy as np

from ._io_native import BatchSource, NativeIter, as_bool, as_shape
from .base import MXNetError

__all__ = ["CSVIter"]

_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64}


def _csv_files(path):
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))
        return [os.path.join(path, n) for n in names]
    if not os.path.isfile(path):
        raise MXNetError("CSVIter: no such file or directory: %s" % path)
    return [path]


def _parse_field(text, dtype):
    text = text.strip()
    if dtype is np.float32:
        return float(text)
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def _read_rows(path, shape, dtype, what):
    """The rows of the CSV file(s) at ``path`` as one array (rows,) + shape; blank lines are
    skipped, every other row must hold exactly prod(shape) values."""
    size = int(np.prod(shape))
    rows = []
    for fname in _csv_files(path):
        with open(fname) as f:
            for line_no, line in enumerate(f, 1):
                if not line.strip():
                    continue
                fields = line.rstrip("\r\n").split(",")
                if len(fields) != size:
                    raise MXNetError(
                        "CSVIter: the data size in CSV do not match size of shape: specified "
                        "%s=%s, the csv row-length=%d (%s line %d)"
                        % (what, shape, len(fields), fname, line_no))
                try:
                    rows.append([_parse_field(v, dtype) for v in fields])
                except ValueError:
                    raise MXNetError("CSVIter: %s line %d is not a row of numbers: %r"
                                     % (fname, line_no, line.strip())) from None
    return np.array(rows, dtype=dtype).reshape((len(rows),) + shape)


class _BatchLoader(BatchSource):
    """MXNet's BatchLoader over in-memory rows: fills one persistent buffer per batch, so rows
    a batch without round_batch leaves unfilled keep their previous values."""

    def __init__(self, data, label, batch_size, round_batch):
        self._data, self._label = data, label
        self._batch_size = batch_size
        self._round_batch = round_batch
        self._pos = 0          # next row of the file
        self._overflow = 0     # rows borrowed from the next epoch by the last batch
        self._buf_data = np.zeros((batch_size,) + data.shape[1:], data.dtype)
        self._buf_label = np.zeros((batch_size,) + label.shape[1:], label.dtype)
        self._buf_index = np.zeros(batch_size, np.uint64)

    def before_first(self):
        if not self._round_batch or self._overflow == 0:
            self._pos = 0
        else:
            self._overflow = 0  # the borrowed rows were this epoch's first: go on after them

    def _fill(self, top):
        """Copies rows from the cursor into the buffer from ``top``; returns the new top."""
        count = min(self._batch_size - top, len(self._data) - self._pos)
        rows = slice(self._pos, self._pos + count)
        self._buf_data[top:top + count] = self._data[rows]
        self._buf_label[top:top + count] = self._label[rows]
        self._buf_index[top:top + count] = np.arange(rows.start, rows.stop, dtype=np.uint64)
        self._pos += count
        return top + count

    def next(self):
        if self._overflow:
            return None
        top = self._fill(0)
        if top == 0:
            return None
        pad = 0
        if top < self._batch_size:
            if self._round_batch:
                self._pos = 0
                if self._fill(top) < self._batch_size:
                    raise MXNetError("CSVIter: number of input must be bigger than batch size "
                                     "(%d rows, batch_size %d)"
                                     % (len(self._data), self._batch_size))
                self._overflow = pad = self._batch_size - top
            else:
                pad = self._batch_size - top
        return (self._buf_data.copy(), self._buf_label.copy(), pad, self._buf_index.copy())


def CSVIter(data_csv, data_shape, batch_size, label_csv="NULL", label_shape=(1,),
            round_batch=True, dtype=None, data_name="data", label_name="softmax_label",
            **_ignored):
    """Batches of ``batch_size`` rows of ``data_csv`` (a file, or a directory whose files are
    read in name order), each reshaped to ``data_shape``; see the module. ``dtype``: 'float32'
    (default), 'int32' or 'int64'."""
    if batch_size is None or int(batch_size) <= 0:
        raise MXNetError("CSVIter: batch_size must be positive, got %r" % (batch_size,))
    name = "float32" if dtype is None else (dtype if isinstance(dtype, str)
                                            else np.dtype(dtype).name)
    if name not in _DTYPES:
        raise MXNetError("CSVIter: %s is not supported for CSVIter (use float32, int32 or "
                         "int64)" % name)
    np_type = _DTYPES[name]
    data_shape = as_shape(data_shape, "data_shape")
    label_shape = as_shape(label_shape, "label_shape")
    data = _read_rows(data_csv, data_shape, np_type, "data_shape")
    if label_csv in (None, "NULL"):
        label = np.zeros((len(data), 1), np_type)
    else:
        label = _read_rows(label_csv, label_shape, np_type, "label_shape")
        if len(label) < len(data):
            raise MXNetError("CSVIter: label_csv has %d rows, fewer than the %d of data_csv"
                             % (len(label), len(data)))
        label = label[:len(data)]
    loader = _BatchLoader(data, label, int(batch_size), as_bool(round_batch))
    return NativeIter(loader, data_name, label_name, "CSVIter")

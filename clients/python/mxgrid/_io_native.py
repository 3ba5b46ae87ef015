"""The Python face of MXNet's C++ data iterators (MXNet's MXDataIter), for the iterators
mxgrid implements on the client: CSVIter (_io_csv.py) and MNISTIter (_io_mnist.py).

A source yields whole batches as numpy arrays; NativeIter wraps them in DataBatches the way
MXNet's wrapper does: the first batch is read at construction (provide_data/provide_label and
batch_size come from it, named 'data' and 'softmax_label' unless data_name/label_name say
otherwise), a label of shape (batch, 1, ...) is handed out as (batch,) (MXNet's C API
reshapes it to its first ``batch`` values), and ``index`` is a uint64 array.

Batches hold numpy arrays (uploaded to the worker when ``data``/``label`` is first read;
``host_data``/``host_label`` give them without a round trip), each batch its own copy.

Thread-safety: not thread-safe (as MXNet's iterators).
"""
import numpy as np

from .base import MXNetError
from .io import DataBatch, DataDesc, DataIter


class BatchSource:
    """What NativeIter reads: ``next()`` returns (data, label, pad, index) numpy arrays that
    the caller may keep, or None at the end of an epoch; ``before_first()`` starts the next
    epoch."""

    def next(self):
        raise NotImplementedError

    def before_first(self):
        raise NotImplementedError


def _label_view(label):
    """MXNet's C API hands a (batch, 1, ...) label out as its first ``batch`` values."""
    if label.ndim > 1 and label.shape[1] == 1:
        return label.reshape(-1)[:label.shape[0]]
    return label


class NativeIter(DataIter):
    """A DataIter over a BatchSource with MXNet's MXDataIter behaviour (see the module)."""

    def __init__(self, source, data_name="data", label_name="softmax_label", what="iterator"):
        super().__init__()
        self._source = source
        self._first = None
        self._current = None
        first = self._read()
        if first is None:
            raise MXNetError("%s: the data holds less than one batch" % what)
        self._first = first
        data, label = first.host_data[0], first.host_label[0]
        self.provide_data = [DataDesc(data_name, data.shape, data.dtype.type)]
        self.provide_label = [DataDesc(label_name, label.shape, label.dtype.type)]
        self.batch_size = data.shape[0]

    def _read(self):
        got = self._source.next()
        if got is None:
            return None
        data, label, pad, index = got
        return DataBatch(data=[data], label=[_label_view(label)], pad=pad, index=index)

    def reset(self):
        self._first = None
        self._current = None
        self._source.before_first()

    def next(self):
        if self._first is not None:
            batch, self._first = self._first, None
            return batch
        batch = self._read()
        if batch is None:
            raise StopIteration
        return batch

    def iter_next(self):
        try:
            self._current = self.next()
        except StopIteration:
            self._current = None
            return False
        return True

    def getdata(self):
        return self._current.data[0]

    def getlabel(self):
        return self._current.label[0]

    def getindex(self):
        return self._current.index

    def getpad(self):
        return self._current.pad


def as_shape(value, what):
    """A shape parameter (tuple, list or int) as a tuple of positive ints."""
    shape = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not shape or any(int(d) <= 0 for d in shape):
        raise MXNetError("%s must be a shape of positive dimensions, got %r" % (what, value))
    return tuple(int(d) for d in shape)


def as_bool(value):
    """A flag as MXNet parses its str(): bools, ints, and 'true'/'false'/'1'/'0' strings."""
    if isinstance(value, str):
        if value.strip().lower() not in ("true", "false", "1", "0"):
            raise MXNetError("expected a boolean, got %r" % value)
        return value.strip().lower() in ("true", "1")
    return bool(value)

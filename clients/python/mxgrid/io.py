"""mx.io: data iterators, as MXNet 1.9.1's DataBatch, DataDesc, DataIter and NDArrayIter.

NDArrayIter keeps its data on the client as NumPy (float32, as MXNet converts it) and also
uploads it whole to the worker on the first batch (again, into the same arrays, after each
shuffle). A full batch carries ``device_data`` / ``device_label``: views of that copy, made
once per batch position and reused every epoch, so a training step moves no batch bytes
(``Module.forward`` passes the views to Forward, which copies them into the executor on the
worker). Measured on the MLP step benchmark when it was written: per-batch uploads
cost 1.6 ms of a 5.1 ms step at batch 128 and 14 ms of 28 ms at batch 1024. Padded and
rolled-over batches are built on the client and uploaded. Labels also stay on the client
for metrics (``host_label``: no download).

    it = mx.io.NDArrayIter(x, y, batch_size=32, shuffle=True)
    for batch in it:
        batch.data[0], batch.label[0], batch.pad

Thread-safety: iterators are not thread-safe (as MXNet's).
"""
from collections import OrderedDict, namedtuple

import numpy as np

from .ndarray import NDArray, array

__all__ = ["DataDesc", "DataBatch", "DataIter", "NDArrayIter", "ResizeIter"]


class DataDesc(namedtuple("DataDesc", ["name", "shape"])):
    """Name, shape, dtype and layout of an input, as MXNet's mx.io.DataDesc."""

    def __new__(cls, name, shape, dtype=np.float32, layout="NCHW"):
        ret = super().__new__(cls, name, tuple(shape))
        ret.dtype = dtype
        ret.layout = layout
        return ret

    def __repr__(self):
        return "DataDesc[%s,%s,%s,%s]" % (self.name, self.shape, self.dtype, self.layout)

    @staticmethod
    def get_batch_axis(layout):
        if layout is None:
            return 0
        return layout.find("N")

    @staticmethod
    def get_list(shapes, types):
        if types is not None:
            type_dict = dict(types)
            return [DataDesc(x[0], x[1], type_dict[x[0]]) for x in shapes]
        return [DataDesc(x[0], x[1]) for x in shapes]


def _as_descs(shapes):
    """[(name, shape) or DataDesc] -> [DataDesc]."""
    if shapes is None:
        return None
    return [s if isinstance(s, DataDesc) else DataDesc(*s) for s in shapes]


def _to_nd(values):
    if values is None:
        return None
    return [v if isinstance(v, NDArray) else array(v, dtype=v.dtype) for v in values]


class DataBatch:
    """One batch: ``data`` and ``label`` (lists of NDArrays), ``pad``, ``index``.

    The lists may be given as NumPy arrays: they are uploaded on first access of ``data`` /
    ``label``; ``host_data`` / ``host_label`` give them without a round trip (None for a list
    that holds NDArrays).
    """

    def __init__(self, data, label=None, pad=None, index=None, bucket_key=None,
                 provide_data=None, provide_label=None):
        if data is not None:
            assert isinstance(data, (list, tuple)), "Data must be list of NDArrays"
        if label is not None:
            assert isinstance(label, (list, tuple)), "Label must be list of NDArrays"
        self.data = data
        self.label = label
        self.device_data = None   # set by NDArrayIter: views of its worker-side copy
        self.device_label = None
        self.pad = pad
        self.index = index
        self.bucket_key = bucket_key
        self.provide_data = provide_data
        self.provide_label = provide_label

    @staticmethod
    def _host(values):
        if values is None or not all(isinstance(v, np.ndarray) for v in values):
            return None
        return list(values)

    @property
    def data(self):
        if self._data_nd is None and self._data is not None:
            self._data_nd = self.device_data or _to_nd(self._data)
        return self._data_nd

    @data.setter
    def data(self, values):
        self._data = values
        self._data_nd = None if self._host(values) is not None else values

    @property
    def label(self):
        if self._label_nd is None and self._label is not None:
            self._label_nd = self.device_label or _to_nd(self._label)
        return self._label_nd

    @label.setter
    def label(self, values):
        self._label = values
        self._label_nd = None if self._host(values) is not None else values

    @property
    def host_data(self):
        return self._host(self._data)

    @property
    def host_label(self):
        return self._host(self._label)

    def __str__(self):
        data_shapes = [d.shape for d in self._data]
        label_shapes = [l.shape for l in self._label] if self._label else None
        return "{}: data shapes: {} label shapes: {}".format(
            self.__class__.__name__, data_shapes, label_shapes)


class DataIter:
    """Base class of the iterators: ``next()`` returns a DataBatch, StopIteration at the end
    of an epoch, ``reset()`` starts the next."""

    def __init__(self, batch_size=0):
        self.batch_size = batch_size

    def __iter__(self):
        return self

    def reset(self):
        pass

    def next(self):
        if self.iter_next():
            return DataBatch(data=self.getdata(), label=self.getlabel(), pad=self.getpad(),
                             index=self.getindex())
        raise StopIteration

    def __next__(self):
        return self.next()

    def iter_next(self):
        pass

    def getdata(self):
        pass

    def getlabel(self):
        pass

    def getindex(self):
        return None

    def getpad(self):
        pass


def _init_data(data, allow_empty, default_name):
    """data as a sorted [(name, numpy array)], as MXNet's io.utils._init_data (numpy input
    becomes float32, an NDArray keeps its dtype)."""
    assert data is not None or allow_empty
    if data is None:
        data = []
    if isinstance(data, (np.ndarray, NDArray)):
        data = [data]
    if isinstance(data, (list, tuple)):
        if not allow_empty:
            assert len(data) > 0
        if len(data) == 1:
            data = OrderedDict([(default_name, data[0])])
        else:
            data = OrderedDict([("_%d_%s" % (i, default_name), d) for i, d in enumerate(data)])
    if not isinstance(data, dict):
        raise TypeError("Input must be NDArray, numpy.ndarray, a list of them or dict with "
                        "them as values")
    out = {}
    for k, v in data.items():
        if isinstance(v, NDArray):
            out[k] = v.asnumpy()
        else:
            try:
                out[k] = np.asarray(v, dtype=np.float32)
            except (TypeError, ValueError):
                raise TypeError("Invalid type '%s' for %s, should be NDArray or "
                                "numpy.ndarray" % (type(v), k)) from None
        if out[k].ndim == 0:
            out[k] = out[k].reshape(1)
    return list(sorted(out.items()))


class NDArrayIter(DataIter):
    """Batches over in-memory arrays (numpy, NDArray, or lists/dicts of them), as MXNet's
    NDArrayIter: ``last_batch_handle`` 'pad' (wrap around to fill the last batch), 'discard'
    or 'roll_over' (carry the remainder into the next epoch). Names default to 'data' and
    'softmax_label' ('_0_data', '_1_data', ... for lists). ``shuffle`` reorders the data at
    every reset with numpy's global RNG, exactly as MXNet does (same seed, same batches)."""

    def __init__(self, data, label=None, batch_size=1, shuffle=False, last_batch_handle="pad",
                 data_name="data", label_name="softmax_label", layout="NCHW"):
        super().__init__(batch_size)
        if last_batch_handle not in ("pad", "discard", "roll_over"):
            raise ValueError("last_batch_handle must be 'pad', 'discard' or 'roll_over'")
        self.data = _init_data(data, allow_empty=False, default_name=data_name)
        self.label = _init_data(label, allow_empty=True, default_name=label_name)
        if layout.find("N") != 0:
            raise ValueError("mxgrid's NDArrayIter batches along the first axis (layout "
                             "starting with N), got %s" % layout)
        self.idx = np.arange(self.data[0][1].shape[0])
        self.shuffle = shuffle
        self.last_batch_handle = last_batch_handle
        self.batch_size = batch_size
        self.cursor = -self.batch_size
        self.num_data = self.idx.shape[0]
        self._cache_data = None
        self._cache_label = None
        self._device = None       # {name: NDArray}: the whole (shuffled) data on the worker
        self._device_stale = True
        self._views = {}          # (name, start) -> view of a full batch, reused every epoch
        self.reset()
        self.data_list = [x[1] for x in self.data] + [x[1] for x in self.label]
        self.num_source = len(self.data_list)
        self.layout = layout

    def _descs(self, source):
        return [DataDesc(k, (self.batch_size,) + tuple(v.shape[1:]), v.dtype,
                         layout=self.layout) for k, v in source]

    @property
    def provide_data(self):
        return self._descs(self.data)

    @property
    def provide_label(self):
        return self._descs(self.label)

    def num_batches(self):
        """Batches in the coming epoch (the progress bar's total)."""
        if self.last_batch_handle == "pad":
            return -(-self.num_data // self.batch_size)
        start = self.cursor + self.batch_size if self.cursor < 0 else 0
        return max(0, (self.num_data - start) // self.batch_size)

    def hard_reset(self):
        if self.shuffle:
            self._shuffle_data()
        self.cursor = -self.batch_size
        self._cache_data = None
        self._cache_label = None

    def reset(self):
        if self.shuffle:
            self._shuffle_data()
        if self.last_batch_handle == "roll_over" and \
                self.num_data - self.batch_size < self.cursor < self.num_data:
            self.cursor = self.cursor - self.num_data - self.batch_size
        else:
            self.cursor = -self.batch_size

    def iter_next(self):
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self):
        if not self.iter_next():
            raise StopIteration
        data = self.getdata()
        label = self.getlabel()
        if data[0].shape[0] != self.batch_size:
            # only when last_batch_handle is 'roll_over' or 'discard'
            self._cache_data = data
            self._cache_label = label
            raise StopIteration
        batch = DataBatch(data=data, label=label, pad=self.getpad(), index=None)
        if 0 <= self.cursor and self.cursor + self.batch_size <= self.num_data:
            # A plain slice: a view of the worker-side copy, so no bytes move per batch.
            batch.device_data = self._device_views(self.data)
            batch.device_label = self._device_views(self.label) if self.label else None
        return batch

    def _device_views(self, source):
        """Views [cursor, cursor + batch_size) of each array's worker-side copy; the copy is
        uploaded once (again after each shuffle, into the same arrays, so views stay valid)."""
        if self._device is None or self._device_stale:
            if self._device is None:
                self._device = {k: array(v, dtype=v.dtype) for k, v in self.data + self.label}
            else:
                for k, v in self.data + self.label:
                    self._device[k][:] = v
            self._device_stale = False
        views = []
        for name, _ in source:
            key = (name, self.cursor)
            view = self._views.get(key)
            if view is None:
                view = self._views[key] = self._device[name][self.cursor:
                                                             self.cursor + self.batch_size]
            views.append(view)
        return views

    @staticmethod
    def _getdata(data_source, start=None, end=None):
        start = start if start is not None else 0
        if end is None:
            end = data_source[0][1].shape[0] if data_source else 0
        return [x[1][start:end] for x in data_source]

    @staticmethod
    def _concat(first, second):
        if not first or not second:
            return first if first else second
        return [np.concatenate([a, b], axis=0) for a, b in zip(first, second)]

    @staticmethod
    def _tile(data, repeats):
        return [np.tile(d, [repeats] + [1] * (d.ndim - 1)) for d in data]

    def _batchify(self, data_source):
        assert self.cursor < self.num_data, "DataIter needs reset."
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            assert self._cache_data is not None or self._cache_label is not None, \
                "next epoch should have cached data"
            cache = self._cache_data if self._cache_data is not None else self._cache_label
            second = self._getdata(data_source, end=self.cursor + self.batch_size)
            if self._cache_data is not None:
                self._cache_data = None
            else:
                self._cache_label = None
            return self._concat(cache, second)
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            pad = self.batch_size - self.num_data + self.cursor
            first = self._getdata(data_source, start=self.cursor)
            if pad > self.num_data:
                second = self._tile(self._getdata(data_source, end=self.num_data),
                                    pad // self.num_data)
                if pad % self.num_data != 0:
                    second = self._concat(second, self._getdata(
                        data_source, end=pad % self.num_data))
            else:
                second = self._getdata(data_source, end=pad)
            return self._concat(first, second)
        end = min(self.cursor + self.batch_size, self.num_data)
        return self._getdata(data_source, self.cursor, end)

    def getdata(self):
        return self._batchify(self.data)

    def getlabel(self):
        return self._batchify(self.label)

    def getpad(self):
        if self.last_batch_handle == "pad" and self.cursor + self.batch_size > self.num_data:
            return self.cursor + self.batch_size - self.num_data
        if self.last_batch_handle == "roll_over" and -self.batch_size < self.cursor < 0:
            return -self.cursor
        return 0

    def _shuffle_data(self):
        # As MXNet: shuffle the index, then reorder the (already reordered) data by it.
        np.random.shuffle(self.idx)
        self.data = [(k, v[self.idx]) for k, v in self.data]
        self.label = [(k, v[self.idx]) for k, v in self.label]
        self._device_stale = True


class ResizeIter(DataIter):
    """Makes ``data_iter`` yield exactly ``size`` batches per epoch (resetting it as needed)."""

    def __init__(self, data_iter, size, reset_internal=True):
        super().__init__(data_iter.batch_size)
        self.data_iter = data_iter
        self.size = size
        self.reset_internal = reset_internal
        self.cur = 0
        self.current_batch = None
        self.provide_data = data_iter.provide_data
        self.provide_label = data_iter.provide_label
        if hasattr(data_iter, "default_bucket_key"):
            self.default_bucket_key = data_iter.default_bucket_key

    def num_batches(self):
        return self.size

    def reset(self):
        self.cur = 0
        if self.reset_internal:
            self.data_iter.reset()

    def iter_next(self):
        if self.cur == self.size:
            return False
        try:
            self.current_batch = self.data_iter.next()
        except StopIteration:
            self.data_iter.reset()
            self.current_batch = self.data_iter.next()
        self.cur += 1
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration


# The iterators MXNet implements in C++, here on the client (each in its own file).
from ._io_csv import CSVIter  # noqa: E402 (they subclass the classes above)
from ._io_mnist import MNISTIter  # noqa: E402
from ._io_prefetch import PrefetchingIter  # noqa: E402
__all__ += ["CSVIter", "MNISTIter", "PrefetchingIter"]
from ._io_image import ImageRecordIter  # noqa: E402  (after DataBatch/DataIter: it uses them)
__all__ += ["ImageRecordIter"]

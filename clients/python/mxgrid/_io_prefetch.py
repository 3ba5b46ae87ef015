"""mx.io.PrefetchingIter: reads the next batch of one or more iterators on background threads
while the current one is used, as MXNet 1.9.1's PrefetchingIter.

One thread per wrapped iterator keeps exactly one batch ready. A batch joins the wrapped
iterators' data lists (then their label lists) in order, takes ``pad`` and ``index`` from the
first (all must agree on ``pad``), and carries provide_data/provide_label, renamed by
``rename_data``/``rename_label`` (one {old name: new name} dict per iterator). Batches whose
parts are all on the client (``host_data``) stay there, so Module's no-upload path is kept.

Unlike MXNet's, an exception other than StopIteration raised by a wrapped iterator is raised
from ``next()`` (MXNet's thread dies and ``next()`` waits forever), and ``close()`` (also run
when the iterator is collected) stops and joins the threads.

    it = mx.io.PrefetchingIter([it_a, it_b], rename_data=[{"data": "a"}, {"data": "b"}])

Thread-safety: the PrefetchingIter itself is for one consumer thread; each wrapped iterator is
only used by its own thread between ``next()`` calls (and by ``reset()`` while that thread
waits).
"""
import threading

from .io import DataBatch, DataDesc, DataIter

__all__ = ["PrefetchingIter"]


class _Fetcher:
    """One wrapped iterator and the thread that reads it ahead. ``taken`` asks the thread for
    the next batch; it answers with ``batch`` (None at the end) or ``error`` and sets
    ``ready``. The thread holds only this object, so the PrefetchingIter can be collected."""

    def __init__(self, it):
        self.it = it
        self.ready = threading.Event()
        self.taken = threading.Event()
        self.taken.set()
        self.stopping = False
        self.batch = None
        self.error = None
        self.thread = threading.Thread(target=self._run, name="PrefetchingIter", daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            self.taken.wait()
            if self.stopping:
                return
            batch, error = None, None
            try:
                batch = self.it.next()
            except StopIteration:
                pass
            except BaseException as e:  # handed to the consumer, raised by next()
                error = e
            self.batch, self.error = batch, error
            self.taken.clear()
            self.ready.set()

    def stop(self):
        self.stopping = True
        self.taken.set()
        if self.thread is not threading.current_thread():
            self.thread.join()


def _renamed(descs, renames):
    if renames is None:
        return list(descs)
    return [DataDesc(renames[d.name], d.shape, d.dtype) if isinstance(d, DataDesc)
            else DataDesc(*d) for d in descs]


def _joined(batches, host, device, nd):
    """(arrays, worker views) of one kind (data or label) of all ``batches``, in order: the
    client-side arrays when every part has them (else NDArrays), and the worker-side views
    when every part has them (else None)."""
    hosts = [getattr(b, host, None) for b in batches]
    views = [getattr(b, device, None) for b in batches]
    if all(h is not None for h in hosts):
        arrays = sum(hosts, [])
    else:
        arrays = sum([getattr(b, nd) or [] for b in batches], [])
    return arrays, (sum(views, []) if all(v is not None for v in views) else None)


class PrefetchingIter(DataIter):
    """Prefetches ``iters`` (a DataIter or a list of them) on background threads; see the
    module."""

    def __init__(self, iters, rename_data=None, rename_label=None):
        super().__init__()
        if not isinstance(iters, list):
            iters = [iters]
        if not iters:
            raise ValueError("PrefetchingIter needs at least one iterator")
        self.iters = iters
        self.n_iter = len(iters)
        self.rename_data = rename_data
        self.rename_label = rename_label
        self.batch_size = self.provide_data[0][1][0]
        self.current_batch = None
        self._fetchers = [_Fetcher(it) for it in iters]

    def __del__(self):
        self.close()

    def close(self):
        """Stops and joins the prefetching threads; the iterator is unusable afterwards."""
        for fetcher in getattr(self, "_fetchers", []):
            fetcher.stop()
        self._fetchers = []

    @property
    def provide_data(self):
        renames = self.rename_data or [None] * self.n_iter
        return sum([_renamed(it.provide_data, r) for it, r in zip(self.iters, renames)], [])

    @property
    def provide_label(self):
        renames = self.rename_label or [None] * self.n_iter
        return sum([_renamed(it.provide_label, r) for it, r in zip(self.iters, renames)], [])

    def _wait(self):
        if not self._fetchers:
            raise RuntimeError("PrefetchingIter is closed")
        for fetcher in self._fetchers:
            fetcher.ready.wait()

    def reset(self):
        self._wait()
        for it in self.iters:
            it.reset()
        for fetcher in self._fetchers:
            fetcher.ready.clear()
        for fetcher in self._fetchers:
            fetcher.taken.set()

    def iter_next(self):
        self._wait()
        for fetcher in self._fetchers:
            if fetcher.error is not None:
                raise fetcher.error
        batches = [f.batch for f in self._fetchers]
        if batches[0] is None:
            assert all(b is None for b in batches), \
                "Number of entry mismatches between iterators"
            return False
        assert all(b is not None and b.pad == batches[0].pad for b in batches), \
            "Number of entry mismatches between iterators"
        data, data_views = _joined(batches, "host_data", "device_data", "data")
        label, label_views = _joined(batches, "host_label", "device_label", "label")
        self.current_batch = DataBatch(data, label, batches[0].pad, batches[0].index,
                                       provide_data=self.provide_data,
                                       provide_label=self.provide_label)
        self.current_batch.device_data = data_views
        self.current_batch.device_label = label_views
        for fetcher in self._fetchers:
            fetcher.ready.clear()
        for fetcher in self._fetchers:
            fetcher.taken.set()
        return True

    def next(self):
        if self.iter_next():
            return self.current_batch
        raise StopIteration

    def getdata(self):
        return self.current_batch.data

    def getlabel(self):
        return self.current_batch.label

    def getindex(self):
        return self.current_batch.index

    def getpad(self):
        return self.current_batch.pad

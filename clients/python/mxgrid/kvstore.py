"""mx.kv: key-value stores, as MXNet's KVStore.

- ``local`` / ``device``: hosted by the worker (KVCreate, KVInit, KVPush, KVPull,
  KVSetOptimizer); values never leave it.
- ``dist_sync`` / ``dist_async``: the mxgrid-kvstore shards (kvstore.proto) addressed by this
  client directly: values are downloaded from the worker, pushed to the shard that owns the key
  (crc32 of the key text mod the number of shards), and pulled values are uploaded into the
  out arrays. Rank and worker count come from MXGRID_RANK / MXGRID_NUM_WORKERS (default 0 / 1,
  or the shards' --num_workers).

Keys are ints or strs (ints travel as decimal text). ``push(key, [v0, v1])`` sums the list;
``pull(key, out=[o0, o1])`` broadcasts into every array.

Thread-safety: not thread-safe (as MXNet's KVStore).
"""
import os
import zlib

import numpy as np

from . import connection
from ._proto import pb
from .base import MXNetError
from .ndarray import NDArray, _upload, dtype_from_pb, dtype_to_pb
from . import optimizer as opt

__all__ = ["KVStore", "create"]


def _key_list(keys, values):
    """Normalizes (keys, values) to a list of (key, [values])."""
    if isinstance(keys, (int, str, np.integer)):
        keys = [keys]
        values = [values]
    else:
        keys = list(keys)
        if isinstance(values, NDArray):
            values = [values]
        values = list(values)
        if len(keys) != len(values):
            raise ValueError("the number of keys (%d) and values (%d) differ"
                             % (len(keys), len(values)))
    out = []
    for k, v in zip(keys, values):
        vals = list(v) if isinstance(v, (list, tuple)) else [v]
        if not all(isinstance(x, NDArray) for x in vals):
            raise TypeError("values must be NDArrays")
        out.append((k, vals))
    return out


def _key_text(key):
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return str(int(key))
    if isinstance(key, str):
        return key
    raise TypeError("kvstore keys must be int or str, got %s" % type(key))


class KVStore:
    """A key-value store; create with mx.kv.create(name)."""

    def __init__(self, kv_type):
        self._type = kv_type
        self._conn = connection.get()
        self._updater = None
        self._optimizer = None

    @property
    def type(self):
        return self._type

    @property
    def rank(self):
        return 0

    @property
    def num_workers(self):
        return 1

    def save_optimizer_states(self, fname, dump_optimizer=False):
        raise MXNetError("optimizer states live on the servers; not saved by the client")

    def load_optimizer_states(self, fname):
        raise MXNetError("optimizer states live on the servers; not loaded by the client")

    def pushpull(self, key, value, out=None, priority=0):
        """push, then pull into ``out`` (when given)."""
        self.push(key, value, priority)
        if out is not None:
            self.pull(key, out, priority)

    def _barrier(self):
        pass


class _WorkerKVStore(KVStore):
    """'local' and 'device' stores, hosted by the worker."""

    def __init__(self, kv_type):
        super().__init__(kv_type)
        conn = self._conn
        resp = conn.call(conn.require_worker().KVCreate,
                         pb.worker.KVCreateRequest(session=conn.session, type=kv_type))
        self._store = resp.store

    def _pairs(self, items):
        return [pb.worker.KVPair(key=_key_text(k), values=[v.handle for v in vals])
                for k, vals in items]

    def init(self, key, value):
        items = [(k, vals[:1]) for k, vals in _key_list(key, value)]
        c = self._conn
        c.call(c.require_worker().KVInit, pb.worker.KVInitRequest(
            session=c.session, store=self._store, pairs=self._pairs(items)))

    def push(self, key, value, priority=0):
        items = _key_list(key, value)
        c = self._conn
        req = pb.worker.KVPushRequest(session=c.session, store=self._store,
                                      pairs=self._pairs(items),
                                      return_merged=self._updater is not None)
        resp = c.call(c.require_worker().KVPush, req)
        if self._updater is not None:
            for (k, _), merged in zip(items, resp.merged):
                m = NDArray._from_info(merged.merged, c)
                stored = NDArray._from_info(merged.stored, c)
                self._updater(k, m, stored)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        if out is None:
            raise ValueError("pull needs out=")
        items = _key_list(key, out)
        c = self._conn
        c.call(c.require_worker().KVPull, pb.worker.KVPullRequest(
            session=c.session, store=self._store, pairs=self._pairs(items)))

    def set_optimizer(self, optimizer):
        optimizer = opt.create(optimizer)
        c = self._conn
        c.call(c.require_worker().KVSetOptimizer, pb.worker.KVSetOptimizerRequest(
            session=c.session, store=self._store, name=optimizer.name,
            params=optimizer.params()))
        self._optimizer = optimizer
        self._updater = None

    def _set_updater(self, updater):
        """Runs ``updater(key, merged, stored)`` in Python at each push (stored in place)."""
        self._updater = updater

    _set_updater.__doc__ = _set_updater.__doc__


class _DistKVStore(KVStore):
    """'dist_sync' / 'dist_async': the mxgrid-kvstore shards, addressed from the client."""

    def __init__(self, kv_type):
        super().__init__(kv_type)
        if not connection.ensure_kvstore(self._conn):
            raise MXNetError("%s needs kvstore shards: mx.connect(kvstore=[...]) or set "
                             "MXGRID_KVSTORE" % kv_type)
        self._rank = int(os.environ.get("MXGRID_RANK", "0"))
        env_workers = os.environ.get("MXGRID_NUM_WORKERS")
        if env_workers:
            self._num_workers = int(env_workers)
        else:
            shard = self._conn.kvstore[0]
            resp = self._conn.call(shard.ListKeys, pb.kvstore.ListKeysRequest(),
                                   address=self._conn.kvstore_addresses[0])
            self._num_workers = resp.num_workers

    @property
    def rank(self):
        return self._rank

    @property
    def num_workers(self):
        return self._num_workers

    def _shard(self, text):
        """(stub, address) of the shard that holds key ``text``."""
        shards = self._conn.kvstore
        i = zlib.crc32(text.encode("utf-8")) % len(shards)
        return shards[i], self._conn.kvstore_addresses[i]

    @staticmethod
    def _tensor(nd):
        arr = np.ascontiguousarray(nd.asnumpy())
        return pb.tensor.Tensor(meta=pb.tensor.TensorMeta(dtype=dtype_to_pb(arr.dtype),
                                                          shape=arr.shape),
                                data=arr.tobytes())

    @staticmethod
    def _chunks(tensor):
        step = connection.CHUNK_BYTES
        data = tensor.data
        for off in range(0, max(len(data), 1), step):
            chunk = pb.tensor.TensorChunk(offset=off, data=data[off:off + step])
            if off == 0:
                chunk.meta.CopyFrom(tensor.meta)
            yield chunk

    def init(self, key, value):
        for k, vals in _key_list(key, value):
            text = _key_text(k)
            shard, address = self._shard(text)
            tensor = self._tensor(vals[0])
            if len(tensor.data) > connection.STREAM_THRESHOLD:
                def reqs(text=text, tensor=tensor):
                    for i, chunk in enumerate(self._chunks(tensor)):
                        yield pb.kvstore.InitStreamRequest(key=text if i == 0 else "",
                                                           chunk=chunk)
                self._conn.wait_upload(shard.InitStream, reqs(), "kv.init", address)
            else:
                self._conn.call(shard.Init, pb.kvstore.InitRequest(key=text, value=tensor),
                                address=address)

    def push(self, key, value, priority=0):
        for k, vals in _key_list(key, value):
            text = _key_text(k)
            shard, address = self._shard(text)
            tensors = [self._tensor(v) for v in vals]
            if sum(len(t.data) for t in tensors) > connection.STREAM_THRESHOLD:
                def reqs(text=text, tensors=tensors):
                    first = True
                    for t in tensors:
                        for chunk in self._chunks(t):
                            if first:
                                yield pb.kvstore.PushStreamRequest(key=text, rank=self._rank,
                                                                   chunk=chunk)
                                first = False
                            else:
                                yield pb.kvstore.PushStreamRequest(chunk=chunk)
                self._conn.wait_upload(shard.PushStream, reqs(), "kv.push", address)
            else:  # never waits for the other ranks
                self._conn.call(shard.Push, pb.kvstore.PushRequest(key=text, rank=self._rank,
                                                                   values=tensors),
                                address=address)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        if out is None:
            raise ValueError("pull needs out=")
        for k, outs in _key_list(key, out):
            text = _key_text(k)
            shard, address = self._shard(text)
            nbytes = outs[0].size * np.dtype(outs[0].dtype).itemsize
            dtype = dtype_to_pb(outs[0].dtype)
            if nbytes > connection.STREAM_THRESHOLD:
                buf = bytearray(nbytes)
                meta = None
                # A pull waits for the other ranks' pushes: watched, no deadline.
                req = pb.kvstore.PullStreamRequest(key=text, rank=self._rank, dtype=dtype,
                                                   chunk_bytes=connection.CHUNK_BYTES)
                for resp in self._conn.wait_stream(shard.PullStream, req, "kv.pull", address):
                    if resp.chunk.HasField("meta"):
                        meta = resp.chunk.meta
                    off = resp.chunk.offset
                    buf[off:off + len(resp.chunk.data)] = resp.chunk.data
                arr = np.frombuffer(bytes(buf), dtype=dtype_from_pb(meta.dtype)).reshape(
                    tuple(meta.shape))
            else:
                resp = self._conn.wait_call(shard.Pull, pb.kvstore.PullRequest(
                    key=text, rank=self._rank, dtype=dtype), "kv.pull", address)
                arr = np.frombuffer(resp.value.data, dtype=dtype_from_pb(
                    resp.value.meta.dtype)).reshape(tuple(resp.value.meta.shape))
            for o in outs:
                _upload(self._conn, arr, o.context, into=o.handle)

    def set_optimizer(self, optimizer):
        optimizer = opt.create(optimizer)
        for shard, address in zip(self._conn.kvstore, self._conn.kvstore_addresses):
            self._conn.call(shard.SetOptimizer, pb.kvstore.SetOptimizerRequest(
                name=optimizer.name, params=optimizer.params()), address=address)
        self._optimizer = optimizer

    def _set_updater(self, updater):
        raise MXNetError("dist kvstores run the updater on the servers: use set_optimizer")


def create(name="local"):
    """A KVStore: 'local', 'device', 'dist_sync', 'dist_async' (also 'dist_device_sync')."""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    if name in ("local", "device") or name.startswith("local_"):
        return _WorkerKVStore("device" if name == "device" else "local")
    if name.startswith("dist"):
        return _DistKVStore(name)
    raise ValueError("unknown kvstore type %s" % name)

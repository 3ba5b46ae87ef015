"""mx.kv: key-value stores, as MXNet's KVStore. Every store lives on the worker (KVCreate);
its values never pass through this client: push, pull and init send array handles only.

- ``local`` / ``device``: the worker holds the values (KVInit, KVPush, KVPull,
  KVSetOptimizer; the optimizer runs on the worker at each push).
- ``dist_sync`` / ``dist_device_sync`` / ``dist`` (sync) and ``dist_async`` (any type
  containing 'dist', as MXNet matches it): the worker is the parameter-server client. It
  joins the job on every mxgrid-kvstore shard and pushes and pulls to them itself; the
  optimizer (``set_optimizer``) and its state live on the shards. MXNet's semantics: every
  rank calls ``init`` and rank 0's value is stored (the worker passes a barrier after it, so
  a pull after init sees it); in sync mode a pull returns once the round of every rank's
  push is applied; ``_set_updater`` is refused (the updater runs on the servers).

Where a dist store finds its job (KVCreate's fields):
    job           MXGRID_JOB (default "default")
    rank          MXGRID_RANK, else DMLC_WORKER_ID (BytePS's name; MXNet itself has no rank
                  variable: ps-lite's scheduler assigns ranks), else 0
    num_workers   MXGRID_NUM_WORKERS, else DMLC_NUM_WORKER, else the shards' --num_workers
    shards        the connection's (MXGRID_KVSTORE, mx.connect(kvstore=...); the embedded
                  cluster starts one on demand), else the worker's own --kvstore flag
    big arrays    MXNET_KVSTORE_BIGARRAY_BOUND (elements; default 1,000,000): larger arrays
                  are split across all shards
    heartbeat     MXGRID_KV_HEARTBEAT_TIMEOUT (seconds; default the shards'): a rank silent
                  this long is dead, and every other rank's calls fail naming it
tools/launch sets all of these. ``kv.rank`` / ``kv.num_workers`` are the values in effect
(KVCreateResponse).

Deadlines: calls that wait for other ranks (init, push, pull, pushpull, _barrier) carry
MXGRID_KV_WAIT_TIMEOUT seconds (default 600); the others the connection's call timeout. A
dead rank ends them sooner, with the shards' ABORTED error naming it.

Keys are ints or strs (ints travel as decimal text; a store holds one kind).
``push(key, [v0, v1])`` sums the list on the worker; ``pull(key, out=[o0, o1])`` broadcasts
into every array.

Thread-safety: not thread-safe (as MXNet's KVStore).
"""
import os

import numpy as np

from . import connection
from ._proto import pb
from .base import MXNetError
from .ndarray import NDArray
from . import ndarray as nd
from . import optimizer as opt

__all__ = ["KVStore", "create"]

DEFAULT_WAIT_TIMEOUT = 600.0


def _env_int(*names):
    """The first of ``names`` set in the environment, as an int (None when none is)."""
    for name in names:
        text = os.environ.get(name, "").strip()
        if text:
            try:
                return int(text)
            except ValueError:
                raise MXNetError("%s must be an integer, got %r" % (name, text)) from None
    return None


def _env_float(name, default):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise MXNetError("%s must be a number of seconds, got %r" % (name, text)) from None


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
    """A key-value store on the worker; create with mx.kv.create(name)."""

    def __init__(self, kv_type, worker_type=None):
        self._type = kv_type  # as given (kv.type), as MXNet's
        self._conn = conn = connection.get()
        self._py_updater = None  # an mx.optimizer.Updater run client-side at each push
        self._optimizer = None
        self._dist = "dist" in kv_type.lower()
        req = pb.worker.KVCreateRequest(session=conn.session, type=worker_type or kv_type)
        if self._dist:
            req.job = os.environ.get("MXGRID_JOB", "").strip() or "default"
            req.rank = _env_int("MXGRID_RANK", "DMLC_WORKER_ID") or 0
            req.num_workers = _env_int("MXGRID_NUM_WORKERS", "DMLC_NUM_WORKER") or 0
            if connection.ensure_kvstore(conn):
                req.shards.extend(conn.kvstore_addresses)
            req.bigarray_bound = _env_int("MXNET_KVSTORE_BIGARRAY_BOUND") or 0
            req.heartbeat_timeout_ms = int(
                _env_float("MXGRID_KV_HEARTBEAT_TIMEOUT", 0.0) * 1000)
        self._wait_timeout = _env_float("MXGRID_KV_WAIT_TIMEOUT", DEFAULT_WAIT_TIMEOUT)
        # Joining waits for every shard: a deadline of its own, not the quick-call default.
        resp = conn.call(conn.require_worker().KVCreate, req,
                         timeout=max(self._wait_timeout, conn.settings.call_timeout)
                         if self._dist else connection._DEFAULT)
        self._store = resp.store
        self._rank = resp.rank
        self._num_workers = max(1, resp.num_workers)
        self.shards = list(resp.shards)  # dist: the shard addresses in use
        self.restored_round = resp.restored_round  # dist: > 0 when resumed from a snapshot

    @property
    def type(self):
        return self._type

    @property
    def rank(self):
        return self._rank

    @property
    def num_workers(self):
        return self._num_workers

    # -- calls ----------------------------------------------------------------------------
    def _call(self, method, request, waits=False):
        """``method`` of the worker; ``waits``: a call that may wait for the other ranks
        (dist stores give it MXGRID_KV_WAIT_TIMEOUT)."""
        c = self._conn
        if waits and self._dist:
            return c.call(method, request, timeout=self._wait_timeout)
        return c.call(method, request)

    def _pairs(self, items):
        return [pb.worker.KVPair(key=_key_text(k), values=[v.handle for v in vals])
                for k, vals in items]

    @staticmethod
    def _dense(items):
        """(key, values) with row_sparse / csr values as dense arrays (converted on the
        worker), for a client-side updater, which gets dense sums."""
        return [(k, [v if v.stype == "default" else v.tostype("default") for v in vals])
                for k, vals in items]

    def init(self, key, value):
        """Initializes keys (a sparse value is stored as its dense array). Dist stores: every
        rank calls it, rank 0's value is stored, and the call returns after a barrier of the
        ranks."""
        items = [(k, vals[:1]) for k, vals in _key_list(key, value)]
        c = self._conn
        self._call(c.require_worker().KVInit, pb.worker.KVInitRequest(
            session=c.session, store=self._store, pairs=self._pairs(items)), waits=True)

    def push(self, key, value, priority=0):
        """Pushes values (a list per key is summed on the worker first). row_sparse values
        stay sparse on the worker: the store's optimizer updates only their rows where
        MXNet's does (sgd and adam with lazy_update, adagrad)."""
        items = _key_list(key, value)
        if self._py_updater is not None:
            items = self._dense(items)
        c = self._conn
        req = pb.worker.KVPushRequest(session=c.session, store=self._store,
                                      pairs=self._pairs(items),
                                      return_merged=self._py_updater is not None)
        resp = self._call(c.require_worker().KVPush, req, waits=True)
        if self._py_updater is not None:
            for (k, _), merged in zip(items, resp.merged):
                m = NDArray._from_info(merged.merged, c)
                stored = NDArray._from_info(merged.stored, c)
                self._py_updater(k, m, stored)

    def pull(self, key, out=None, priority=0, ignore_sparse=True):
        """Copies the stored value into every array of ``out`` (dist sync: once the rounds
        this rank pushed to are applied)."""
        if out is None:
            raise ValueError("pull needs out=")
        items = _key_list(key, out)
        dense = [(k, [o for o in outs if o.stype == "default"]) for k, outs in items]
        sparse = [(k, [o for o in outs if o.stype != "default"]) for k, outs in items]
        # Sparse outs: skipped with ignore_sparse (MXNet's default), else the value in
        # their storage type.
        converted = []  # (sparse out, dense temporary)
        if not ignore_sparse:
            for k, outs in sparse:
                for o in outs:
                    tmp = nd.empty(o.shape, o.context, dtype=o.dtype)
                    dense.append((k, [tmp]))
                    converted.append((o, tmp))
        self._pull_dense([(k, outs) for k, outs in dense if outs])
        for o, tmp in converted:
            tmp.copyto(o)

    def _pull_dense(self, items):
        if not items:
            return
        c = self._conn
        self._call(c.require_worker().KVPull, pb.worker.KVPullRequest(
            session=c.session, store=self._store, pairs=self._pairs(items)), waits=True)

    def row_sparse_pull(self, key, out=None, priority=0, row_ids=None):
        """Pulls only the rows ``row_ids`` (an NDArray of row ids per out) of each key into
        row_sparse arrays ``out``: the worker copies just those rows of the stored value."""
        if out is None or row_ids is None:
            raise ValueError("row_sparse_pull needs out= and row_ids=")
        items = _key_list(key, out)
        if isinstance(row_ids, NDArray):
            row_ids = [row_ids]
        flat_ids = []
        for ids in row_ids:
            flat_ids.extend(ids if isinstance(ids, (list, tuple)) else [ids])
        outs = [o for _, vals in items for o in vals]
        if len(flat_ids) == 1 and len(outs) > 1:
            flat_ids = flat_ids * len(outs)
        if len(flat_ids) != len(outs):
            raise MXNetError("row_sparse_pull: %d row_ids for %d outs" % (len(flat_ids),
                                                                          len(outs)))
        for o in outs:
            if o.stype != "row_sparse":
                raise MXNetError("row_sparse_pull writes row_sparse arrays; out has stype %r"
                                 % o.stype)
        pairs, i = [], 0
        for k, vals in items:
            ids = flat_ids[i:i + len(vals)]
            i += len(vals)
            pairs.append(pb.worker.KVPair(key=_key_text(k), values=[o.handle for o in vals],
                                          row_ids=[r.handle for r in ids]))
        c = self._conn
        self._call(c.require_worker().KVPull, pb.worker.KVPullRequest(
            session=c.session, store=self._store, pairs=pairs), waits=True)

    def pushpull(self, key, value, out=None, priority=0):
        """push, then pull into ``out`` (default: into ``value``, as MXNet)."""
        self.push(key, value, priority)
        self.pull(key, value if out is None else out, priority)

    def broadcast(self, key, value, out, priority=0):
        """init, then pull into ``out`` (MXNet 1.9's broadcast)."""
        self.init(key, value)
        self.pull(key, out=out, priority=priority)

    def _barrier(self):
        """Returns when every active rank has called it (at once for local stores)."""
        c = self._conn
        self._call(c.require_worker().KVBarrier, pb.worker.KVBarrierRequest(
            session=c.session, store=self._store), waits=True)

    def set_optimizer(self, optimizer):
        """Installs the optimizer: on the worker's store, or (dist) on the shards, where it
        and its state then live, with its per-key lr_mult / wd_mult (as MXNet's workers
        send the pickled optimizer to the servers). A local store given an optimizer the
        servers do not run (another class, an lr_scheduler) applies it client-side through
        mx.optimizer.Updater at each push, as MXNet's local store does; a dist store
        refuses it (MXNetError)."""
        optimizer = opt.create(optimizer)
        form = optimizer._server_form()
        if form is None:
            if self._dist:
                raise opt.optimizer._refuse_on_server(optimizer)
            self._set_updater(opt.get_updater(optimizer))
            self._optimizer = optimizer
            return
        lr_mult, wd_mult = optimizer._key_mults()
        c = self._conn
        self._call(c.require_worker().KVSetOptimizer, pb.worker.KVSetOptimizerRequest(
            session=c.session, store=self._store, name=form[0], params=form[1],
            lr_mult=lr_mult, wd_mult=wd_mult))
        self._optimizer = optimizer
        self._py_updater = None

    def _set_updater(self, updater):
        """Runs ``updater(key, merged, stored)`` in Python at each push (stored in place);
        refused by dist stores, whose updates run on the servers."""
        if self._dist:
            raise MXNetError("%s runs the optimizer on the kvstore servers: a Python updater "
                             "cannot be set; use kv.set_optimizer(optimizer)" % self._type)
        self._py_updater = updater

    @property
    def _updater(self):
        """MXNet's local store keeps its optimizer as an Updater in ``_updater``: the
        client-side Updater where there is one, else (an optimizer running in the store) a
        view whose ``states`` downloads the store's state as {key: state}; None without an
        optimizer."""
        if self._py_updater is not None or self._optimizer is None:
            return self._py_updater
        return _StoreStates(self)

    def _state_arrays(self):
        """{key: (update count, [NDArray, ...])} of the store's optimizer (unsplit keys)."""
        c = self._conn
        resp = self._call(c.require_worker().KVGetOptimizerStates,
                          pb.worker.KVGetOptimizerStatesRequest(session=c.session,
                                                                store=self._store),
                          waits=True)
        return group_store_states(resp.names, [NDArray._from_info(i, c) for i in resp.arrays])

    # -- optimizer state ------------------------------------------------------------------
    def save_optimizer_states(self, fname, dump_optimizer=False):
        """Writes the store's optimizer state to ``fname`` (mx.nd.save format: arrays named
        "<key>/<part>/<i>" and "<key>/<part>/count"). Dist stores fetch it from the
        shards; the arrays pass through the client once. ``dump_optimizer`` is not
        supported (the file holds arrays only; set the optimizer with set_optimizer). A
        client-side optimizer (an mx.optimizer.Updater, see set_optimizer) writes its
        pickled states as MXNet's local store does, the optimizer too with dump_optimizer."""
        if isinstance(self._updater, opt.Updater):
            with open(fname, "wb") as fout:
                fout.write(self._updater.get_states(dump_optimizer))
            return
        if dump_optimizer:
            raise MXNetError("save_optimizer_states(dump_optimizer=True) is not supported: "
                             "the file holds the state arrays; install the optimizer with "
                             "kv.set_optimizer before load_optimizer_states")
        c = self._conn
        resp = self._call(c.require_worker().KVGetOptimizerStates,
                          pb.worker.KVGetOptimizerStatesRequest(session=c.session,
                                                                store=self._store),
                          waits=True)
        arrays = [NDArray._from_info(info, c) for info in resp.arrays]
        nd.save(fname, dict(zip(resp.names, arrays)))

    def load_optimizer_states(self, fname):
        """Replaces the store's optimizer state with the one ``fname`` holds (as written by
        save_optimizer_states); the optimizer must be set and the keys initialized."""
        if isinstance(self._updater, opt.Updater):
            with open(fname, "rb") as fin:
                self._updater.set_states(fin.read())
            return
        states = nd.load(fname)
        if not isinstance(states, dict):
            raise MXNetError("%s holds no named arrays: not an optimizer-state file written "
                             "by save_optimizer_states" % fname)
        names = sorted(states)
        c = self._conn
        self._call(c.require_worker().KVSetOptimizerStates,
                   pb.worker.KVSetOptimizerStatesRequest(
                       session=c.session, store=self._store, names=names,
                       arrays=[states[n].handle for n in names]), waits=True)


def group_store_states(names, arrays):
    """{key: (update count, [state arrays in order])} from a store's state names
    ("<key>/<part>/<i>", "<key>/<part>/count"). MXNetError for a key split into parts
    (a big array of a dist store), whose state has no one-array form."""
    grouped = {}
    for name, array in zip(names, arrays):
        key, part, slot = name.rsplit("/", 2)
        if part != "0":
            raise MXNetError("the optimizer state of key %s is split over the kvstore shards "
                             "(part %s): it has no single-array form" % (key, part))
        count, slots = grouped.setdefault(key, [0, {}])
        if slot == "count":
            grouped[key][0] = int(array.asnumpy().reshape(-1)[0])
        else:
            slots[int(slot)] = array
    return {key: (count, [slots[i] for i in sorted(slots)])
            for key, (count, slots) in grouped.items()}


def state_value(optimizer, arrays):
    """An index's state as MXNet's optimizer holds it: None (no arrays), one NDArray, or a
    tuple (Adam, RMSProp)."""
    if not arrays:
        return None
    if optimizer._server_form()[0] in ("adam", "rmsprop"):
        return tuple(arrays)
    return arrays[0]


class _StoreStates:
    """``kv._updater`` of a store whose optimizer runs in the store: its ``states``."""

    def __init__(self, store):
        self._store = store
        self.optimizer = store._optimizer

    @property
    def states(self):
        """{key: state} (copies); keys as the store's (str, or int for int keys)."""
        out = {}
        for key, (_, arrays) in self._store._state_arrays().items():
            out[int(key) if key.lstrip("-").isdigit() else key] = \
                state_value(self.optimizer, arrays)
        return out


def create(name="local"):
    """A KVStore: 'local', 'device', or a dist type ('dist_sync', 'dist_async',
    'dist_device_sync', 'dist'), as MXNet's mx.kv.create."""
    if not isinstance(name, str):
        raise TypeError("name must be a string")
    lower = name.lower()
    if "dist" in lower:  # matched lower-cased, as MXNet; kv.type is the name as given
        return KVStore(name)
    # MXNet's local variants: reduction on the CPU ('local', 'local_update_cpu',
    # 'local_allreduce_cpu') or on the devices ('device', 'local_allreduce_device').
    if lower in ("local", "local_update_cpu", "local_allreduce_cpu"):
        return KVStore(name, "local")
    if lower in ("device", "local_allreduce_device"):
        return KVStore(name, "device")
    raise ValueError("unknown kvstore type %s (local, local_update_cpu, local_allreduce_cpu, "
                     "device, local_allreduce_device, dist_sync, dist_async, "
                     "dist_device_sync)" % name)

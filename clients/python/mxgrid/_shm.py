"""Same-host transfers through POSIX shared memory (worker.proto RegisterShm, UploadShm,
DownloadShm), as Triton's system shared-memory extension.

When the worker runs on this host (the embedded cluster, a co-located pod), array bytes move
through shared-memory objects this process creates and registers with its session instead of
gRPC messages:

- upload (``mx.nd.array(x)``, ``a[:] = x``, NDArrayIter batches): numpy is copied once into
  a pooled slot; a new CPU array *adopts* the slot as its storage (the slot returns to the
  pool once the worker has freed the array), otherwise the worker copies it into the array
  and the slot goes back to the pool at once;
- download (``a.asnumpy()``): the worker writes the array into a slot and the numpy array
  returned *views* the slot (no further copy); the slot goes back to the pool when that
  numpy array (and every view of it) is garbage-collected. A temporary that adopted its
  slot (``mx.nd.array(x).asnumpy()``) is instead *handed over*: the worker frees it and the
  numpy array views its bytes, so the round trip copies once.

Values start ``DATA_OFFSET`` bytes into a slot: glibc's memcpy and numpy's copies run at a
third of their speed on some CPUs (AMD EPYC here) when the destination lies a few bytes
past the source modulo 4 KiB, and NumPy's own large arrays start 16 bytes past a page
boundary. Half a page away from both page starts and NumPy's arrays, the client's copy in,
the worker's copy out and the user's copies of a result all run at full speed.

A slot is one object of a size class (>= 256 KiB, a power of two plus eighths), created
with O_EXCL under ``/dev/shm``, touched once (no page faults when reused), registered, then
unlinked at once: nothing is left behind if the process dies. The first transfer of a connection probes:
when the worker cannot open the object (another host: FAILED_PRECONDITION) or does not
know the RPCs, the connection keeps the gRPC streams for good, silently. ``MXGRID_SHM=0``
disables shared memory; arrays under ``MIN_BYTES`` always go by message.

Thread-safety: thread-safe (one lock per pool); slots return from any thread (GC).
"""
import itertools
import mmap
import os
import threading
import weakref

import grpc
import numpy as np

from ._proto import pb
from .base import MXNetError

__all__ = ["transport", "pool_of", "MIN_BYTES"]

# Arrays smaller than this go by message (a unary call is as fast).
MIN_BYTES = 256 << 10
# Where a value starts in its slot (see the module comment; a multiple of 64 for adoption).
DATA_OFFSET = 2048
# The smallest slot, and the free slots kept for reuse at most (bytes).
_MIN_SLOT = 256 << 10
_POOL_LIMIT = int(os.environ.get("MXGRID_SHM_POOL_MB", "1024")) << 20
# Bytes of slots that downloaded numpy arrays may hold at once; past it asnumpy copies out of
# the slot (so that a program keeping many results does not grow the pool without bound).
_LENT_LIMIT = int(os.environ.get("MXGRID_SHM_LENT_MB", "2048")) << 20
_SHM_DIR = "/dev/shm"
# What RegisterShm answers when this host's objects are not the worker's (or it predates
# shared memory): fall back to messages for the connection.
_FALLBACK_CODES = (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNIMPLEMENTED,
                   grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)
_names = itertools.count()


def _size_class(nbytes):
    """The slot size for ``nbytes``: at least _MIN_SLOT, rounded up to 2^k * (1 + j/8), so
    that a slot (which an adopting upload keeps while its array lives) wastes under 1/8."""
    nbytes = max(int(nbytes), _MIN_SLOT)
    step = 1 << max((nbytes - 1).bit_length() - 4, 0)  # an eighth of the power of two below
    return -(-nbytes // step) * step


def enabled():
    return os.environ.get("MXGRID_SHM", "1") != "0" and os.path.isdir(_SHM_DIR)


class _Slot:
    """One registered object: ``size`` bytes (a value at DATA_OFFSET) then one page whose
    first 8 bytes are the release word of an adopting upload (worker.proto
    UploadShmRequest.adopt: nonzero while the worker uses the value as an array's storage);
    its mapping, views and region."""
    __slots__ = ("pool", "size", "region", "mm", "u8", "word", "address")

    def __init__(self, pool, size, region, mm):
        self.pool, self.size, self.region, self.mm = pool, size, region, mm
        self.u8 = np.frombuffer(mm, dtype=np.uint8, count=size)
        self.word = np.frombuffer(mm, dtype=np.uint64, count=1, offset=size)
        self.address = self.u8.ctypes.data

    def view(self, dtype, shape, count):
        """The value at DATA_OFFSET as numpy."""
        end = DATA_OFFSET + count * dtype.itemsize
        return self.u8[DATA_OFFSET:end].view(dtype).reshape(shape)

    def close(self):
        self.u8 = self.word = None
        try:
            self.mm.close()
        except BufferError:  # a view is still alive somewhere; the GC unmaps it later
            pass


class _Lease:
    """The base object of a numpy array that views a slot: gives the slot back when the
    last view of it goes."""
    __slots__ = ("_slot", "__array_interface__", "__weakref__")

    def __init__(self, slot, dtype, shape):
        self._slot = slot
        self.__array_interface__ = {"data": (slot.address + DATA_OFFSET, False),
                                    "shape": tuple(shape),
                                    "typestr": dtype.str, "version": 3}

    def __del__(self):
        slot, self._slot = self._slot, None
        if slot is not None:
            slot.pool.give_back(slot, lent=True)


class _Pool:
    """The slots of one (connection, session)."""

    def __init__(self, conn, session):
        self._conn = conn
        self._session = session
        self._lock = threading.Lock()
        self._free = {}       # size -> [slot]  (guarded by _lock)
        self._free_bytes = 0  # guarded by _lock
        self._lent_bytes = 0  # guarded by _lock
        self._dropped = []    # slots to unregister at the next take(); guarded by _lock
        self._adopted = []    # slots the worker uses as array storage; guarded by _lock
        self.usable = True
        # Transfers that went through shared memory (tests, benchmarks).
        self.uploads = 0
        self.downloads = 0
        self.handovers = 0  # downloads of temporaries that handed their slot over

    def stats(self):
        """{'free_bytes', 'lent_bytes', 'adopted_bytes'}: slots pooled, held by numpy
        arrays, and used by the worker as arrays' storage (not yet seen released)."""
        with self._lock:
            self._reclaim()
            return {"free_bytes": self._free_bytes, "lent_bytes": self._lent_bytes,
                    "adopted_bytes": sum(s.size for s in self._adopted)}

    def _create(self, size, what):
        """A new registered slot of ``size`` bytes, or None when the worker cannot map it
        (then the pool is disabled). ``what`` names the transfer in errors."""
        # Unguessable, and unlinked as soon as the worker has it open.
        name = "/mxgrid-%d-%d-%s" % (os.getpid(), next(_names), os.urandom(8).hex())
        path = _SHM_DIR + name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        total = size + mmap.PAGESIZE  # data, then the release word's page
        try:
            try:
                os.posix_fallocate(fd, 0, total)  # ENOSPC here, not SIGBUS at first touch
            except OSError:
                return None  # /dev/shm is full: this transfer goes by message
            mm = mmap.mmap(fd, total)
            # Touch every page once now, so that the copies never fault later.
            np.frombuffer(mm, dtype=np.uint8)[::mmap.PAGESIZE] = 0
            try:
                # Watched like the transfer itself (a stopped worker is UNAVAILABLE after
                # the liveness timeout, not a short deadline).
                resp = self._conn.wait_call(self._conn.require_worker().RegisterShm,
                                            pb.worker.RegisterShmRequest(
                                                session=self._session, name=name,
                                                byte_size=total), what)
            except MXNetError as err:
                mm.close()
                if err.code in _FALLBACK_CODES:
                    self.usable = False  # another host, or an older worker: use messages
                    return None
                if err.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    return None  # the session's regions are at their limit: this one by message
                raise
        finally:
            os.close(fd)
            os.unlink(path)  # the worker holds it open; nothing outlives us
        return _Slot(self, size, resp.region, mm)

    def take(self, nbytes, what):
        """A free slot for a value of ``nbytes`` bytes (created if need be), or None."""
        size = _size_class(nbytes + DATA_OFFSET)
        with self._lock:
            self._reclaim()
            dropped, self._dropped = self._dropped, []
            free = self._free.get(size)
            slot = free.pop() if free else None
            if slot is not None:
                self._free_bytes -= size
        for old in dropped:
            self._unregister(old)
        if slot is not None:
            return slot
        return self._create(size, what) if self.usable else None

    def _reclaim(self):
        """Moves the slots the worker has released (word 0) back to the pool. REQUIRES:
        _lock held."""
        if not self._adopted:
            return
        still = []
        for slot in self._adopted:
            if slot.word[0] != 0:
                still.append(slot)
            elif self._free_bytes + slot.size <= _POOL_LIMIT:
                self._free.setdefault(slot.size, []).append(slot)
                self._free_bytes += slot.size
            else:
                self._dropped.append(slot)
        self._adopted = still

    def give_back(self, slot, lent=False):
        """Returns ``slot`` to the pool (any thread, GC included: no RPC here)."""
        with self._lock:
            if lent:
                self._lent_bytes -= slot.size
            same_session = self._conn.session == self._session
            if same_session and slot.word[0] != 0:
                # Handed over by the worker, which has yet to store its release (take_over):
                # _reclaim() pools it once it has.
                self._adopted.append(slot)
                return
            if same_session and self.usable and self._free_bytes + slot.size <= _POOL_LIMIT:
                self._free.setdefault(slot.size, []).append(slot)
                self._free_bytes += slot.size
                return
            if same_session:
                self._dropped.append(slot)  # unregistered at the next take()
                return
        slot.close()  # the worker unmapped it with the old session

    def lend(self, slot):
        """Whether ``slot`` may stay with a numpy array (see _LENT_LIMIT)."""
        with self._lock:
            if self._lent_bytes + slot.size > _LENT_LIMIT:
                return False
            self._lent_bytes += slot.size
            return True

    def _unregister(self, slot):
        if self._conn.session == self._session:
            try:
                self._conn.call(self._conn.require_worker().UnregisterShm,
                                pb.worker.UnregisterShmRequest(session=self._session,
                                                               region=slot.region))
            except Exception:  # pylint: disable=broad-except
                pass  # unmapped anyway when the session ends
        slot.close()

    # -- transfers ------------------------------------------------------------------------
    def upload(self, arr, meta, ctx_pb, into):
        """UploadShm of numpy ``arr``: (the ArrayInfo, the adopted slot or None), or None to
        use messages instead.

        A new CPU array adopts the slot (the worker copies nothing): the slot stays with
        the worker until it stores 0 in the slot's release word, which take() watches."""
        slot = self.take(arr.nbytes, "an upload")
        if slot is None:
            return None
        adopt = not into and ctx_pb.type in (pb.worker.DEVICE_TYPE_UNSPECIFIED,
                                             pb.worker.CPU, pb.worker.CPU_PINNED)
        free = []
        try:
            np.copyto(slot.view(arr.dtype, arr.shape, arr.size), arr, casting="no")
            slot.word[0] = 1 if adopt else 0
            # Arrays dropped meanwhile are freed first, so the worker reuses their memory
            # (or releases their slots) instead of faulting in fresh pages.
            free = self._conn.take_pending_frees() if self._conn.pipeline is None else []
            info = self._conn.wait_call(self._conn.require_worker().UploadShm,
                                        pb.worker.UploadShmRequest(
                                            session=self._session, region=slot.region,
                                            offset=DATA_OFFSET, meta=meta, into=into,
                                            context=ctx_pb,
                                            free=free, adopt=adopt, release_offset=slot.size),
                                        "an upload")
        except BaseException:
            self._conn.requeue_frees(free)  # maybe not reached; freeing twice is harmless
            if adopt:  # the worker may hold it (or not): never reuse it
                with self._lock:
                    self._dropped.append(slot)
            else:
                self.give_back(slot)
            raise
        self.uploads += 1
        if adopt:
            with self._lock:
                self._adopted.append(slot)
            return info, slot
        self.give_back(slot)
        return info, None

    def download(self, handle, dtype, shape, count):
        """The values of array ``handle`` as numpy (viewing a slot), or None."""
        slot = self.take(count * dtype.itemsize, "asnumpy")
        if slot is None:
            return None
        try:
            self._conn.wait_call(self._conn.require_worker().DownloadShm,
                                 pb.worker.DownloadShmRequest(
                                     session=self._session, handle=handle,
                                     region=slot.region, offset=DATA_OFFSET), "asnumpy")
        except BaseException:
            self.give_back(slot)
            raise
        self.downloads += 1
        return self._result(slot, dtype, shape, count)

    def take_over(self, handle, slot, dtype, shape, count):
        """DownloadShm with take of a temporary whose storage is ``slot`` (it adopted it):
        the values viewing the slot with no copy, the worker's handle freed; or None (the
        worker still uses the storage otherwise, or the slot is not this pool's any more)."""
        with self._lock:
            if slot not in self._adopted:
                return None
            self._adopted.remove(slot)  # not reclaimed into the pool while the call runs
        taken = False
        try:
            resp = self._conn.wait_call(self._conn.require_worker().DownloadShm,
                                        pb.worker.DownloadShmRequest(
                                            session=self._session, handle=handle,
                                            region=slot.region, offset=DATA_OFFSET,
                                            take=True), "asnumpy")
            taken = resp.taken  # the worker released the storage before answering
        finally:
            if not taken:
                with self._lock:
                    self._adopted.append(slot)
        if not taken:
            return None
        self.downloads += 1
        self.handovers += 1
        return self._result(slot, dtype, shape, count)

    def _result(self, slot, dtype, shape, count):
        """numpy viewing ``slot``'s value (a copy past the lent limit)."""
        if not self.lend(slot):
            out = slot.view(dtype, shape, count).copy()
            self.give_back(slot)
            return out
        return np.asarray(_Lease(slot, dtype, shape))


_pools = weakref.WeakKeyDictionary()  # conn -> _Pool of its current session
_pools_lock = threading.Lock()


def pool_of(conn):
    """The pool of ``conn``'s current session, or None before its first transfer."""
    with _pools_lock:
        pool = _pools.get(conn)
    return pool if pool is not None and pool._session == conn.session else None


def transport(conn, nbytes):
    """The shared-memory pool of ``conn`` for a transfer of ``nbytes``, or None when the
    transfer goes by message (disabled, small, another host)."""
    if nbytes < MIN_BYTES or not enabled():
        return None
    session = conn.session
    with _pools_lock:
        pool = _pools.get(conn)
        if pool is None or pool._session != session:
            pool = _Pool(conn, session)
            _pools[conn] = pool
    return pool if pool.usable else None

"""Device contexts, as MXNet's ``mx.cpu()`` / ``mx.gpu()``.

A Context names a device of the connected worker: ``cpu(i)`` (every id is the worker's host
memory), ``gpu(i)``, ``cpu_pinned(i)`` and ``Context('cpu_shared', i)`` (host memory too). ``with ctx:`` makes it the default for array
creation in the current thread, like MXNet.
"""
import threading

__all__ = ["Context", "cpu", "gpu", "cpu_pinned", "current_context", "num_gpus"]


class Context:
    """A device: type ('cpu', 'gpu', 'cpu_pinned', 'cpu_shared') and ordinal."""

    devtype2str = {1: "cpu", 2: "gpu", 3: "cpu_pinned", 5: "cpu_shared"}
    devstr2type = {"cpu": 1, "gpu": 2, "cpu_pinned": 3, "cpu_shared": 5}
    _default = threading.local()

    def __init__(self, device_type, device_id=0):
        if isinstance(device_type, Context):
            self.device_typeid = device_type.device_typeid
            self.device_id = device_type.device_id
        else:
            if isinstance(device_type, int):
                device_type = self.devtype2str[device_type]
            if device_type not in self.devstr2type:
                raise ValueError("unknown device type %r" % (device_type,))
            self.device_typeid = self.devstr2type[device_type]
            self.device_id = int(device_id)
        self._old = []

    @property
    def device_type(self):
        return self.devtype2str[self.device_typeid]

    def __hash__(self):
        return hash((self.device_typeid, self.device_id))

    def __eq__(self, other):
        return (isinstance(other, Context) and self.device_typeid == other.device_typeid
                and self.device_id == other.device_id)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __str__(self):
        return "%s(%d)" % (self.device_type, self.device_id)

    __repr__ = __str__

    def __enter__(self):
        self._old.append(getattr(Context._default, "value", None))
        Context._default.value = self
        return self

    def __exit__(self, *exc):
        Context._default.value = self._old.pop()

    def to_proto(self, pb_worker):
        """This context as a mxgrid.v1.Context message."""
        return pb_worker.Context(type=self.device_typeid, id=self.device_id)

    @staticmethod
    def from_proto(msg):
        return Context(msg.type or 1, msg.id)


def cpu(device_id=0):
    """The worker's CPU (host memory); every id maps to the same memory."""
    return Context("cpu", device_id)


def cpu_pinned(device_id=0):
    """Page-locked host memory of the worker."""
    return Context("cpu_pinned", device_id)


def gpu(device_id=0):
    """GPU ``device_id`` of the worker."""
    return Context("gpu", device_id)


def current_context():
    """The context of the innermost ``with ctx:``, else cpu(0)."""
    ctx = getattr(Context._default, "value", None)
    return ctx if ctx is not None else cpu(0)


def num_gpus():
    """How many GPUs the connected worker has (ListDevices)."""
    from . import connection
    conn = connection.get()
    return sum(1 for d in conn.list_devices() if d.context.type == 2)

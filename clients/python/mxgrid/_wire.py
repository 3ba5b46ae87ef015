"""UploadStream / DownloadStream with the chunks' bytes encoded and decoded by hand.

Through the generated stubs every chunk is copied three times on each side: numpy ->
``bytes`` (``tobytes``), ``bytes`` -> the protobuf message, message -> wire (and on the way
back wire -> message -> ``bytes`` -> the result buffer). Here the messages are built and read
as wire bytes: an upload chunk is one ``b"".join`` of a small protobuf header and a
memoryview of the array, a download chunk is copied once from the received bytes into the
result, as a bare gRPC stream of raw bytes does. The wire format is worker.proto's
(UploadRequest.chunk / TensorChunk), so the worker sees no difference.

Used by ndarray.py for arrays above STREAM_THRESHOLD that do not go through shared memory
(_shm.py).

Thread-safety: stateless; as thread-safe as the connection.
"""
import numpy as np

from ._proto import pb

__all__ = ["upload", "download", "UPLOAD_CHUNK_BYTES"]

_UPLOAD = "/mxgrid.v1.Worker/UploadStream"
_DOWNLOAD = "/mxgrid.v1.Worker/DownloadStream"
# Bytes per upload chunk: below the worker's message limit (64 MiB) with room to spare, and
# large enough that the per-message cost of Python gRPC is small.
UPLOAD_CHUNK_BYTES = 8 << 20
DOWNLOAD_CHUNK_BYTES = 8 << 20


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number, length):
    """The tag and length of a length-delimited field (the bytes follow)."""
    return _varint(number << 3 | 2) + _varint(length)


def _read_varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _parse_chunk(raw):
    """TensorChunk wire bytes -> (TensorMeta or None, offset, memoryview of data)."""
    view = memoryview(raw)
    pos, end = 0, len(raw)
    meta, offset, data = None, 0, view[0:0]
    while pos < end:
        key, pos = _read_varint(raw, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(raw, pos)
            if number == 2:
                offset = value
        elif wire_type == 2:
            length, pos = _read_varint(raw, pos)
            if number == 1:
                meta = pb.tensor.TensorMeta.FromString(view[pos:pos + length].tobytes())
            elif number == 3:
                data = view[pos:pos + length]
            pos += length
        elif wire_type == 1:
            pos += 8
        elif wire_type == 5:
            pos += 4
        else:
            raise ValueError("malformed TensorChunk from the worker")
    return meta, offset, data


def _channel(conn):
    """The worker's current channel (a dead one is replaced by the connection's watchdog)."""
    conn.require_worker()
    return conn._channels[conn.worker_address]  # pylint: disable=protected-access


def upload(conn, arr, meta, ctx_pb, into):
    """UploadStream of C-contiguous numpy ``arr``: the ArrayInfo."""
    channel = _channel(conn)
    method = channel.stream_unary(_UPLOAD, request_serializer=None,
                                  response_deserializer=pb.worker.ArrayInfo.FromString)
    data = memoryview(arr.reshape(-1)).cast("B")
    head = pb.worker.UploadRequest(session=conn.session, into=into,
                                   context=ctx_pb).SerializeToString()
    first_chunk = pb.tensor.TensorChunk(meta=meta).SerializeToString()

    def requests():
        for off in range(0, max(len(data), 1), UPLOAD_CHUNK_BYTES):
            piece = data[off:off + UPLOAD_CHUNK_BYTES]
            prefix = first_chunk if off == 0 else b""
            if off:
                prefix += _varint(2 << 3) + _varint(off)  # offset (0 is the default)
            body_len = len(prefix) + len(_len_field(3, len(piece))) + len(piece)
            yield b"".join((head if off == 0 else b"", _len_field(6, body_len), prefix,
                            _len_field(3, len(piece)), piece))
    return conn.wait_upload(method, requests(), "an upload")


def download(conn, handle, nbytes, dtype, shape):
    """DownloadStream of array ``handle`` into a new numpy array."""
    channel = _channel(conn)
    method = channel.unary_stream(_DOWNLOAD,
                                  request_serializer=pb.worker.DownloadRequest.SerializeToString,
                                  response_deserializer=None)
    req = pb.worker.DownloadRequest(session=conn.session, handle=handle,
                                    chunk_bytes=DOWNLOAD_CHUNK_BYTES)
    out = np.empty(nbytes, dtype=np.uint8)
    for raw in conn.wait_stream(method, req, "asnumpy"):
        chunk_meta, offset, data = _parse_chunk(raw)
        if chunk_meta is not None:
            dtype = np.dtype(_np_dtype(chunk_meta.dtype))
            shape = tuple(chunk_meta.shape)
        if offset + len(data) > nbytes:
            raise ValueError("the worker sent more bytes than the array holds")
        out[offset:offset + len(data)] = np.frombuffer(data, dtype=np.uint8)
    return out.view(dtype).reshape(shape)


def _np_dtype(code):
    from .ndarray import dtype_from_pb  # noqa: PLC0415  (ndarray imports this module)
    return dtype_from_pb(code)

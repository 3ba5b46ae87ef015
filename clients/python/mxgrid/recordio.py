"""mx.recordio: MXNet 1.9.1's RecordIO files, read and written on the client in pure Python.

The format is dmlc-core's, byte for byte. A file is a sequence of parts, each
``u32 magic 0xced7230a, u32 lrecord, payload, zero padding to a multiple of 4 bytes``
(little-endian). ``lrecord`` keeps the payload length in its low 29 bits and a continuation
flag in its upper 3: 0 a whole record, 1 the first part, 2 a middle part, 3 the last part.
A record whose bytes hold the magic number at a 4-byte aligned offset is split there: the
writer drops those 4 bytes and starts a new part, the reader puts them back. A record is at
most 2**29 - 1 bytes.

On top of that, ``pack``/``unpack`` prefix a record with an image header (``IRHeader``:
``u32 flag, f32 label, u64 id, u64 id2``; a vector label is stored as ``flag`` float32 values
right after it, with the scalar label 0), and ``pack_img``/``unpack_img`` encode and decode
the image with Pillow (MXNet uses OpenCV), keeping OpenCV's channel order: colour arrays
are BGR (BGRA with alpha), as ``cv2.imread`` gives them.

    rec = mx.recordio.MXIndexedRecordIO("data.idx", "data.rec", "w")
    rec.write_idx(0, mx.recordio.pack(mx.recordio.IRHeader(0, 3.0, 0, 0), jpeg_bytes))
    rec.close()
    header, payload = mx.recordio.unpack(
        mx.recordio.MXIndexedRecordIO("data.idx", "data.rec", "r").read_idx(0))

Thread-safety: one reader or writer must not be used from two threads at once. As in
MXNet, a reader or writer refuses to be used in a process other than the one that opened
it (pickle it and open a new one there; ``read_idx`` reopens by itself).
"""
import io
import numbers
import os
import struct
from collections import namedtuple
from multiprocessing import current_process

import numpy as np

from .base import MXNetError

__all__ = ["MXRecordIO", "MXIndexedRecordIO", "IRHeader", "pack", "unpack", "pack_img",
           "unpack_img"]

_MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", _MAGIC)
_LENGTH_BITS = 29
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
_WHOLE, _FIRST, _MIDDLE, _LAST = 0, 1, 2, 3


def _part_header(cflag, length):
    return _MAGIC_BYTES + struct.pack("<I", (cflag << _LENGTH_BITS) | length)


def encode_record(buf):
    """The bytes that one record ``buf`` takes in a RecordIO file (headers, parts, padding)."""
    data = bytes(buf)
    if len(data) > _LENGTH_MASK:
        raise MXNetError("RecordIO only accepts records of less than 2^29 bytes, got %d"
                         % len(data))
    parts = []
    start = 0
    pos = data.find(_MAGIC_BYTES)
    limit = len(data) & ~3  # aligned 4-byte words that lie wholly inside the record
    while 0 <= pos and pos + 4 <= limit:
        if pos % 4 == 0:
            parts.append(_part_header(_FIRST if start == 0 else _MIDDLE, pos - start))
            parts.append(data[start:pos])
            start = pos + 4
            pos = data.find(_MAGIC_BYTES, start)
        else:
            pos = data.find(_MAGIC_BYTES, pos + 1)
    parts.append(_part_header(_LAST if start else _WHOLE, len(data) - start))
    parts.append(data[start:])
    parts.append(b"\0" * (-len(data) % 4))
    return b"".join(parts)


def read_record(f, uri=""):
    """Reads the record at ``f``'s position (a binary file); None at the end of the file.
    Raises MXNetError on a corrupt or truncated file."""
    chunks = []
    while True:
        head = f.read(8)
        if not head and not chunks:
            return None
        if len(head) != 8:
            raise MXNetError("Invalid RecordIO file %s: truncated part header" % uri)
        magic, lrec = struct.unpack("<II", head)
        if magic != _MAGIC:
            raise MXNetError("Invalid RecordIO file %s: bad magic 0x%08x at offset %d"
                             % (uri, magic, f.tell() - 8))
        cflag, length = lrec >> _LENGTH_BITS, lrec & _LENGTH_MASK
        padded = (length + 3) & ~3
        body = f.read(padded)
        if len(body) != padded:
            raise MXNetError("Invalid RecordIO file %s: truncated record" % uri)
        chunks.append(body[:length])
        if cflag in (_WHOLE, _LAST):
            return b"".join(chunks)
        chunks.append(_MAGIC_BYTES)


def skip_record(f, uri=""):
    """Moves ``f`` past the record at its position without reading the payload; returns
    False at the end of the file."""
    first = True
    while True:
        head = f.read(8)
        if not head and first:
            return False
        if len(head) != 8:
            raise MXNetError("Invalid RecordIO file %s: truncated part header" % uri)
        magic, lrec = struct.unpack("<II", head)
        if magic != _MAGIC:
            raise MXNetError("Invalid RecordIO file %s: bad magic 0x%08x at offset %d"
                             % (uri, magic, f.tell() - 8))
        f.seek(((lrec & _LENGTH_MASK) + 3) & ~3, os.SEEK_CUR)
        first = False
        if lrec >> _LENGTH_BITS in (_WHOLE, _LAST):
            return True


class MXRecordIO:
    """Sequential reader (``flag='r'``) or writer (``flag='w'``, truncates) of a RecordIO
    file, as MXNet's. ``read()`` returns bytes, None at the end; ``write(buf)`` takes
    bytes-like data. Pickling closes the file and records whether it was open; unpickling
    reopens it (from the start; a writer truncates again), as MXNet does."""

    def __init__(self, uri, flag):
        self.uri = os.fspath(uri)
        self.flag = flag
        self.pid = None
        self.is_open = False
        self._file = None
        self.open()

    def open(self):
        """Opens the file: for reading from the start, or for writing (truncating it)."""
        if self.flag == "w":
            mode, self.writable = "wb", True
        elif self.flag == "r":
            mode, self.writable = "rb", False
        else:
            raise ValueError("Invalid flag %s" % self.flag)
        try:
            self._file = open(self.uri, mode)
        except OSError as e:
            raise MXNetError("cannot open RecordIO file %s: %s" % (self.uri, e)) from None
        self.pid = current_process().pid
        self.is_open = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn down modules
            pass

    def __getstate__(self):
        was_open = self.is_open
        self.close()
        state = dict(self.__dict__)
        state["is_open"] = was_open
        state["_file"] = None
        return state

    def __setstate__(self, state):
        self.__dict__ = state
        was_open = state["is_open"]
        self.is_open = False
        self._file = None
        if was_open:
            self.open()

    def _check_pid(self, allow_reset=False):
        if self.pid != current_process().pid:
            if allow_reset:
                self.reset()
            else:
                raise RuntimeError("Forbidden operation in multiple processes")

    def close(self):
        """Closes the file (flushing a writer); a no-op when closed."""
        if not self.is_open:
            return
        self._file.close()
        self._file = None
        self.is_open = False
        self.pid = None

    def reset(self):
        """Back to the first record; a writer truncates the file."""
        self.close()
        self.open()

    def write(self, buf):
        """Appends one record (bytes-like)."""
        assert self.writable
        self._check_pid(allow_reset=False)
        if isinstance(buf, str):
            raise TypeError("MXRecordIO.write takes bytes, not str")
        self._file.write(encode_record(buf))

    def read(self):
        """The next record as bytes, or None after the last one."""
        assert not self.writable
        self._check_pid(allow_reset=False)
        return read_record(self._file, self.uri)


class MXIndexedRecordIO(MXRecordIO):
    """A RecordIO file with an index file of ``key<TAB>byte offset`` lines, for random
    access: ``write_idx(key, buf)`` / ``read_idx(key)``; ``keys`` lists the keys in file
    order and ``idx`` maps each to its offset. ``key_type`` converts the keys read back."""

    def __init__(self, idx_path, uri, flag, key_type=int):
        self.idx_path = idx_path
        self.idx = {}
        self.keys = []
        self.key_type = key_type
        self.fidx = None
        super().__init__(uri, flag)

    def open(self):
        super().open()
        self.idx = {}
        self.keys = []
        self.fidx = open(self.idx_path, self.flag)
        if not self.writable:
            for line in iter(self.fidx.readline, ""):
                fields = line.strip().split("\t")
                key = self.key_type(fields[0])
                self.idx[key] = int(fields[1])
                self.keys.append(key)

    def close(self):
        if not self.is_open:
            return
        super().close()
        self.fidx.close()

    def __getstate__(self):
        state = super().__getstate__()
        state["fidx"] = None
        return state

    def seek(self, idx):
        """Moves the reader to the record of key ``idx`` (reopening in a new process)."""
        assert not self.writable
        self._check_pid(allow_reset=True)
        self._file.seek(self.idx[idx])

    def tell(self):
        """The writer's position: the byte offset the next record starts at."""
        assert self.writable
        return self._file.tell()

    def read_idx(self, idx):
        """The record of key ``idx``."""
        self.seek(idx)
        return self.read()

    def write_idx(self, idx, buf):
        """Appends record ``buf`` under key ``idx`` and indexes it."""
        key = self.key_type(idx)
        pos = self.tell()
        self.write(buf)
        self.fidx.write("%s\t%d\n" % (str(key), pos))
        self.idx[key] = pos
        self.keys.append(key)


IRHeader = namedtuple("HEADER", ["flag", "label", "id", "id2"])
IRHeader.__doc__ = """Header of an image record: ``flag`` (the number of float32 labels that
follow the header, 0 for a scalar ``label``), ``label`` (a number, or an array of them for
``pack``), ``id`` (the record's id, usually unique) and ``id2`` (its upper bits, usually 0)."""

_IR_FORMAT = "<IfQQ"
_IR_SIZE = struct.calcsize(_IR_FORMAT)


def pack(header, s):
    """An image record: ``header`` (an IRHeader; an array label is stored after it and sets
    ``flag`` to its size) followed by the bytes ``s``."""
    header = IRHeader(*header)
    if isinstance(header.label, numbers.Number):
        header = header._replace(flag=0)
    else:
        label = np.asarray(header.label, dtype=np.float32)
        header = header._replace(flag=label.size, label=0)
        s = label.tobytes() + bytes(s)
    return struct.pack(_IR_FORMAT, *header) + bytes(s)


def unpack(s):
    """Splits an image record into (IRHeader, payload bytes); a header with ``flag`` > 0
    gets its ``flag`` float32 labels as a numpy array."""
    header = IRHeader(*struct.unpack(_IR_FORMAT, s[:_IR_SIZE]))
    s = s[_IR_SIZE:]
    if header.flag > 0:
        header = header._replace(label=np.frombuffer(s, np.float32, header.flag))
        s = s[header.flag * 4:]
    return header, s


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("mx.recordio's image functions need Pillow "
                          "(pip install -r tools/requirements.txt)") from None
    return Image


def _grey(rgb, fmt):
    """OpenCV's colour-to-grey conversion on decoding: libpng's (truncating, 15-bit weights)
    for PNG files, cvtColor's (rounding, 14-bit weights) for the others."""
    r, g, b = (rgb[:, :, c].astype(np.uint32) for c in range(3))
    if fmt == "PNG":
        return ((r * 9797 + g * 19234 + b * 3737) >> 15).astype(np.uint8)
    return ((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14).astype(np.uint8)


def decode_image(buf, iscolor=-1):
    """Decodes encoded image bytes to a uint8 numpy array in OpenCV's conventions:
    ``iscolor`` < 0 keeps the file's channels (HxW grey, uint16 for 16-bit grey, HxWx3 BGR,
    HxWx4 BGRA), 0 gives HxW grey, > 0 gives HxWx3 BGR."""
    image = _pil().open(io.BytesIO(bytes(buf)))
    if iscolor == 0:
        if image.format == "JPEG":
            image.draft("L", image.size)  # the decoder's own luma, as libjpeg gives it
        if image.mode in ("L", "LA", "1") or image.mode.startswith("I"):
            return np.asarray(image.convert("L"))
        return _grey(np.asarray(image.convert("RGB")), image.format)
    if iscolor > 0:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
    if image.mode.startswith("I;16"):
        return np.asarray(image)  # 16-bit grey stays 16-bit, as with IMREAD_UNCHANGED
    if image.mode in ("L", "1"):
        return np.asarray(image.convert("L"))
    if has_alpha:
        return np.ascontiguousarray(np.asarray(image.convert("RGBA"))[:, :, [2, 1, 0, 3]])
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def unpack_img(s, iscolor=-1):
    """Splits an image record into (IRHeader, decoded image); see ``decode_image`` for
    ``iscolor`` and the channel order (BGR, as MXNet's OpenCV-based unpack_img)."""
    header, s = unpack(s)
    return header, decode_image(s, iscolor)


def pack_img(header, img, quality=95, img_fmt=".jpg"):
    """Encodes ``img`` (uint8 HxW grey, HxWx3 BGR or HxWx4 BGRA, as OpenCV holds images)
    as ``img_fmt`` and packs it with ``header``. ``quality`` is the JPEG quality (1-100)
    or the PNG compression level (clamped to 0-9, as OpenCV does)."""
    image_mod = _pil()
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError("pack_img encodes uint8 images, got %s" % img.dtype)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        image = image_mod.fromarray(img, "L")
    elif img.ndim == 3 and img.shape[2] == 3:
        image = image_mod.fromarray(np.ascontiguousarray(img[:, :, ::-1]), "RGB")
    elif img.ndim == 3 and img.shape[2] == 4:
        image = image_mod.fromarray(np.ascontiguousarray(img[:, :, [2, 1, 0, 3]]), "RGBA")
    else:
        raise ValueError("pack_img takes HxW, HxWx3 or HxWx4 images, got shape %s"
                         % (img.shape,))
    ext = img_fmt.lower() if img_fmt.startswith(".") else "." + img_fmt.lower()
    fmt = image_mod.registered_extensions().get(ext)
    if fmt is None:
        raise ValueError("pack_img: unknown image format %s" % img_fmt)
    options = {}
    if fmt == "JPEG":
        options["quality"] = int(quality)
        image = image.convert("RGB") if image.mode == "RGBA" else image  # JPEG has no alpha
    elif fmt == "PNG":
        options["compress_level"] = min(max(int(quality), 0), 9)
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return pack(header, out.getvalue())

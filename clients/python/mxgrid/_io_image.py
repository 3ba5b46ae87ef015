"""mx.io.ImageRecordIter: batches of images from a RecordIO file as written by MXNet's im2rec
(each record an ``IRHeader`` and a JPEG/PNG image), as MXNet 1.9.1's iterator.

Records are read on the client, decoded with Pillow and augmented with NumPy in a pool of
``preprocess_threads`` threads; a batch is a DataBatch of NumPy arrays, uploaded with
mx.nd.array when ``batch.data`` / ``batch.label`` is first read (``host_data`` /
``host_label`` give them without a round trip).

    it = mx.io.ImageRecordIter(path_imgrec="train.rec", data_shape=(3, 224, 224),
                               batch_size=32, resize=256, rand_crop=True, rand_mirror=True,
                               mean_r=123.68, mean_g=116.78, mean_b=103.94)
    for batch in it:
        batch.data[0], batch.label[0], batch.pad

As MXNet: the image is resized (shorter edge to ``resize``), padded (``pad``), cropped to
``data_shape`` (centred, or random with ``rand_crop``; a smaller image is scaled up first),
mirrored (``mirror``, or at random with ``rand_mirror``) and normalised as
``(pixel - mean) * scale / std`` per RGB(A) channel, or minus a mean image (``mean_img``,
loaded from the file, or computed over the records and saved there when it does not exist).
``num_parts``/``part_index`` split the file as MXNet does (by bytes, or by records with an
index file). ``round_batch`` fills the last batch from the start of the data and, as MXNet,
the next epoch then starts where that batch stopped.

Differences from MXNet, on purpose: ``shuffle`` permutes the whole partition every epoch
with a NumPy generator seeded by ``seed`` (MXNet's order comes from its C++ generator, and
without an index file it only shuffles within chunks of the file); random augmentation is
reproducible for a ``seed`` whatever ``preprocess_threads`` is, but not MXNet's draws; with
``round_batch=False`` the last batch is filled with zeros and ``pad`` counts them (MXNet
1.9.1 reports pad 0 and leaves stale values); ``batch.index`` holds the records' ``id``.
The affine, crop-size, colour-jitter, HSL and PCA-noise augmenters and ``path_imglist`` are
not implemented: a non-default value raises ValueError.

Thread-safety: an iterator is not thread-safe (as MXNet's); its pool threads only decode.
"""
import ast
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import _image_aug as aug
from . import _ndarray_io
from . import recordio
from .base import MXNetError
from .io import DataBatch, DataDesc, DataIter
from .ndarray import array

__all__ = ["ImageRecordIter"]

# MXNet parameters mxgrid accepts only at their defaults (augmenters it does not implement).
_UNSUPPORTED = {
    "path_imglist": "", "aug_seq": "aug_default", "max_rotate_angle": 0, "max_shear_ratio": 0.0,
    "rotate": -1, "max_random_scale": 1.0, "min_random_scale": 1.0, "max_aspect_ratio": 0.0,
    "min_aspect_ratio": None, "max_img_size": 1e10, "min_img_size": 0.0,
    "random_resized_crop": False, "max_random_area": 1.0, "min_random_area": 1.0,
    "max_crop_size": -1, "min_crop_size": -1, "brightness": 0.0, "contrast": 0.0,
    "saturation": 0.0, "random_h": 0, "random_s": 0, "random_l": 0, "pca_noise": 0.0,
}
# MXNet parameters that only tune its C++ pipeline; accepted and ignored.
_IGNORED = ("verbose", "prefetch_buffer", "ctx", "device_id", "shuffle_chunk_size",
            "shuffle_chunk_seed")
_DTYPES = {None: np.float32, "float32": np.float32, "uint8": np.uint8, "int8": np.int8}


def _partition_offsets(path_imgrec, path_imgidx, num_parts, part_index):
    """Byte offsets (file order) of the records in part ``part_index`` of ``num_parts``: as
    dmlc-core, records split evenly by count with an index file, else by 4-byte aligned byte
    ranges, a record going to the range its first byte lies in."""
    if path_imgidx:
        with open(path_imgidx) as f:
            offsets = sorted({int(line.split("\t")[1]) for line in f if line.strip()})
        step = -(-len(offsets) // num_parts)
        return offsets[step * part_index:step * (part_index + 1)]
    offsets = []
    with open(path_imgrec, "rb") as f:
        while True:
            pos = f.tell()
            if not recordio.skip_record(f, path_imgrec):
                break
            offsets.append(pos)
        total = f.tell()
    step = -(-total // num_parts)
    step = (step + 3) // 4 * 4
    begin, end = min(step * part_index, total), min(step * (part_index + 1), total)
    return [o for o in offsets if begin <= o < end]


class ImageRecordIter(DataIter):
    """Image batches from an im2rec RecordIO file; see the module docstring."""

    def __init__(self, path_imgrec, data_shape, batch_size, path_imgidx="", label_width=1,
                 shuffle=False, seed=0, seed_aug=None, rand_crop=False, rand_mirror=False,
                 mirror=False, resize=-1, inter_method=1, pad=0, fill_value=255,
                 mean_img="", mean_r=0.0, mean_g=0.0, mean_b=0.0, mean_a=0.0, std_r=1.0,
                 std_g=1.0, std_b=1.0, std_a=1.0, scale=1.0, max_random_contrast=0.0,
                 max_random_illumination=0.0, round_batch=True, preprocess_threads=4,
                 num_parts=1, part_index=0, dtype=None, data_name="data",
                 label_name="softmax_label", **kwargs):
        super().__init__(int(batch_size))
        for key, value in kwargs.items():
            if key in _IGNORED:
                continue
            if key not in _UNSUPPORTED:
                raise ValueError("ImageRecordIter: unknown parameter %s" % key)
            if value != _UNSUPPORTED[key]:
                raise ValueError("ImageRecordIter: mxgrid does not implement %s (only its "
                                 "default, %r)" % (key, _UNSUPPORTED[key]))
        if isinstance(data_shape, str):
            data_shape = ast.literal_eval(data_shape)
        self.data_shape = tuple(int(d) for d in data_shape)
        if len(self.data_shape) != 3 or self.data_shape[0] not in (1, 3, 4):
            raise ValueError("data_shape must be (channels, height, width) with 1, 3 or 4 "
                             "channels, got %s" % (data_shape,))
        if dtype not in _DTYPES:
            raise ValueError("ImageRecordIter: dtype must be float32, uint8 or int8, got %s"
                             % dtype)
        if not 0 <= int(part_index) < int(num_parts):
            raise ValueError("part_index %s out of range for num_parts %s"
                             % (part_index, num_parts))
        self.dtype = np.dtype(_DTYPES[dtype])
        self.label_width = int(label_width)
        self.path_imgrec = path_imgrec
        self.shuffle = bool(shuffle)
        self.round_batch = bool(round_batch)
        self.rand_crop, self.rand_mirror, self.mirror = bool(rand_crop), bool(rand_mirror), \
            bool(mirror)
        self.resize, self.inter_method = int(resize), int(inter_method)
        self.pad_width, self.fill_value = int(pad), int(fill_value)
        self.max_random_contrast = float(max_random_contrast)
        self.max_random_illumination = float(max_random_illumination)
        self.scale = np.float32(scale)
        channels = self.data_shape[0]
        self._mean = np.array([mean_r, mean_g, mean_b, mean_a][:channels] if channels > 1
                              else [mean_r], np.float32)
        self._std = np.array([std_r, std_g, std_b, std_a][:channels] if channels > 1
                             else [std_r], np.float32)
        self.data_name, self.label_name = data_name, label_name
        self._seed_aug = seed_aug
        self._rng = np.random.RandomState(int(seed))
        self._threads = max(1, int(preprocess_threads))
        self._pool = None
        self._file = open(path_imgrec, "rb")
        self._offsets = _partition_offsets(path_imgrec, path_imgidx, int(num_parts),
                                           int(part_index))
        self._mean_img = None
        if mean_img and self.dtype != np.uint8:
            self._mean_img = self._load_or_make_mean(mean_img)
        self._order, self._pos = [], 0
        self._wrapped = False  # the last epoch ended with a round_batch wrap
        self._done = False
        self._batch = None
        self.reset()

    @property
    def provide_data(self):
        return [DataDesc(self.data_name, (self.batch_size,) + self.data_shape, self.dtype)]

    @property
    def provide_label(self):
        shape = (self.batch_size,) if self.label_width == 1 else \
            (self.batch_size, self.label_width)
        return [DataDesc(self.label_name, shape, np.float32)]

    # -- epoch and batch order ------------------------------------------------------------

    def _new_order(self):
        self._order = list(self._offsets)
        if self.shuffle:
            self._rng.shuffle(self._order)

    def reset(self):
        if self._wrapped:  # as MXNet: carry on after the records the wrap used
            self._wrapped = False
        else:
            self._new_order()
            self._pos = 0
        self._done = False

    def _next_offsets(self):
        """(record offsets of the next batch, pad), or None at the end of the epoch."""
        if self._done:
            return None
        take = self._order[self._pos:self._pos + self.batch_size]
        self._pos += len(take)
        if not take:
            self._done = True
            return None
        missing = self.batch_size - len(take)
        if missing and self.round_batch:
            self._new_order()
            if missing > len(self._order):
                raise MXNetError("ImageRecordIter: number of input images must be bigger "
                                 "than the batch size")
            take += self._order[:missing]
            self._pos, self._wrapped, self._done = missing, True, True
        elif missing:
            self._done = True
        return take, missing

    # -- decoding and augmentation --------------------------------------------------------

    def _record(self, offset):
        self._file.seek(offset)
        return recordio.read_record(self._file, self.path_imgrec)

    def _decode(self, payload):
        channels = self.data_shape[0]
        if channels == 1:
            return recordio.decode_image(payload, 0)[:, :, None]
        if channels == 3:
            return recordio.decode_image(payload, 1)[:, :, ::-1]  # BGR -> RGB
        img = recordio.decode_image(payload, -1)
        if img.ndim != 3 or img.shape[2] != 4:
            raise MXNetError("ImageRecordIter: data_shape has 4 channels but an image has %d"
                             % (1 if img.ndim == 2 else img.shape[2]))
        return img[:, :, [2, 1, 0, 3]]  # BGRA -> RGBA

    def _label(self, header):
        if header.flag > 0:
            if header.flag != self.label_width:
                raise MXNetError("rec file provides %d-dimensional label but label_width is "
                                 "set to %d" % (header.flag, self.label_width))
            return np.asarray(header.label, np.float32)
        if self.label_width != 1:
            raise MXNetError("label_width must be 1 unless the rec file is packed with "
                             "multi dimensional label")
        return np.array([header.label], np.float32)

    def _augment(self, img, rng):
        """Geometry: resize, pad, crop (uint8 HxWxC in, data_shape's HxWxC out)."""
        if self.resize != -1:
            img = aug.resize_shorter(img, self.resize, self.inter_method, rng)
        if self.pad_width > 0:
            img = aug.pad(img, self.pad_width, self.fill_value)
        return aug.crop(img, self.data_shape[1], self.data_shape[2], self.rand_crop,
                        self.inter_method, rng)

    def _normalize(self, img, rng, mean_img):
        """HxWxC uint8 -> CxHxW in the output dtype."""
        chw = img.transpose(2, 0, 1)
        if self.dtype == np.uint8:
            return np.ascontiguousarray(chw)
        mean = mean_img if mean_img is not None else self._mean[:, None, None]
        if self.dtype == np.int8:
            return np.clip(chw.astype(np.int16) - np.round(mean).astype(np.int16),
                           -128, 127).astype(np.int8)
        contrast = np.float32(1.0 + rng.uniform(-1, 1) * self.max_random_contrast) \
            if self.max_random_contrast > 0 else np.float32(1.0)
        illumination = np.float32(rng.uniform(-1, 1) * self.max_random_illumination) \
            if self.max_random_illumination > 0 else np.float32(0.0)
        mult = (contrast * self.scale) / self._std
        bias = (illumination * self.scale) / self._std
        return (chw.astype(np.float32) - mean) * mult[:, None, None] + bias[:, None, None]

    def _process(self, raw, seed, mean_img):
        """One record -> (CxHxW data, label vector, record id)."""
        rng = np.random.RandomState(seed)
        header, payload = recordio.unpack(raw)
        label = self._label(header)
        img = self._augment(self._decode(payload), rng)
        mirrored = self.mirror or (self.rand_mirror and rng.randint(2) == 1)
        data = self._normalize(img, rng, mean_img)
        if mirrored:
            data = data[:, :, ::-1]
        return data, label, header.id

    def _process_all(self, raws, seeds, mean_img):
        if self._threads == 1 or len(raws) == 1:
            return [self._process(r, s, mean_img) for r, s in zip(raws, seeds)]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._threads,
                                            thread_name_prefix="ImageRecordIter")
        return list(self._pool.map(self._process, raws, seeds, [mean_img] * len(raws)))

    def _seeds(self, count):
        if self._seed_aug is not None:  # as MXNet: the seed follows the slot in the batch
            return [int(self._seed_aug) + i for i in range(count)]
        return [int(s) for s in self._rng.randint(0, 2 ** 31 - 1, size=count)]

    def _load_or_make_mean(self, path):
        shape = (self.data_shape[0],) + self.data_shape[1:]
        if os.path.exists(path):
            with open(path, "rb") as f:
                records, _ = _ndarray_io.loads_list(f.read())
            if len(records) != 1:
                raise MXNetError("Invalid mean image file format: %s" % path)
            mean = np.asarray(records[0][0], np.float32)
            if mean.shape != shape:
                raise MXNetError("mean image %s has shape %s, data_shape is %s"
                                 % (path, mean.shape, shape))
            return mean
        total, count = np.zeros(shape, np.float32), 0
        for start in range(0, len(self._offsets), 256):
            offsets = self._offsets[start:start + 256]
            raws = [self._record(o) for o in offsets]
            for data, _, _ in self._process_all(raws, self._seeds(len(raws)), None):
                total += data
                count += 1
        if count == 0:
            raise MXNetError("cannot make mean image %s: no records" % path)
        mean = total * np.float32(1.0 / count)
        with open(path, "wb") as f:
            f.write(_ndarray_io.dumps_list([mean], ["mean_img"]))
        return mean

    # -- the DataIter interface -----------------------------------------------------------

    def iter_next(self):
        nxt = self._next_offsets()
        if nxt is None:
            self._batch = None
            return False
        offsets, pad = nxt
        raws = [self._record(o) for o in offsets]
        results = self._process_all(raws, self._seeds(len(raws)), self._mean_img)
        data = np.zeros((self.batch_size,) + self.data_shape, self.dtype)
        label = np.zeros((self.batch_size, self.label_width), np.float32)
        index = np.zeros(self.batch_size, np.uint64)
        for i, (d, l, rid) in enumerate(results):
            data[i], label[i], index[i] = d, l, rid
        if self.label_width == 1:
            label = label.reshape(self.batch_size)
        self._batch = DataBatch(data=[data], label=[label], pad=pad, index=index,
                                provide_data=self.provide_data,
                                provide_label=self.provide_label)
        return True

    def next(self):
        if self.iter_next():
            return self._batch
        raise StopIteration

    def getdata(self):
        return array(self._batch.host_data[0], dtype=self.dtype)

    def getlabel(self):
        return array(self._batch.host_label[0], dtype=np.float32)

    def getindex(self):
        return self._batch.index

    def getpad(self):
        return self._batch.pad

    def close(self):
        """Closes the file and joins the decoding threads (also done when collected)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn down modules
            pass

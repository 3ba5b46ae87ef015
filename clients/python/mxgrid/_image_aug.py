"""The image transforms of MXNet 1.9.1's default ImageRecordIter augmenter (``aug_default``)
that mxgrid implements, on uint8 HxWxC numpy arrays (C = 1, 3 or 4).

Geometry follows MXNet's rules exactly: the shorter edge resized to ``resize`` with integer
arithmetic, constant padding, then a centre (or random) crop of ``data_shape`` after scaling
up an image that is smaller than it. Bilinear resizing (``inter_method`` 1, the default) and
nearest-neighbour (0) reproduce OpenCV's ``cv::resize`` arithmetic (half-pixel centres, 11-bit
fixed-point weights, its SIMD rounding, no antialiasing): the tests find them equal to
MXNet's, pixel for pixel. Cubic, area and Lanczos (2, 3, 4, and 9 when it picks 2 or 3) use
Pillow's filters instead, which differ from OpenCV's (by a few grey levels on average, more
at sharp edges).

Functions are pure and thread-safe; random choices come from the ``rng`` (a
numpy.random.RandomState) passed in.
"""
import numpy as np

_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS
_INTER_NEAREST, _INTER_LINEAR, _INTER_CUBIC, _INTER_AREA, _INTER_LANCZOS = 0, 1, 2, 3, 4
_INTER_AUTO, _INTER_RAND = 9, 10


def _linear_taps(src, dst, horizontal):
    """OpenCV's source indices and fixed-point weights of a linear resize along one axis.
    Past the edges OpenCV moves a column's weight onto the edge pixel, but for a row only
    clamps the two source rows (their weights stay as computed)."""
    scale = 1.0 / (float(dst) / src)
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = f - s.astype(np.float32)
    if horizontal:
        f[(s < 0) | (s >= src - 1)] = 0
        s = np.clip(s, 0, src - 1)
    # Each weight rounded on its own, as OpenCV does: they may sum to 2047 or 2049.
    w0 = np.rint((np.float32(1) - f) * np.float32(_COEF_SCALE)).astype(np.int32)
    w1 = np.rint(f * np.float32(_COEF_SCALE)).astype(np.int32)
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), w0, w1


def _resize_linear(img, width, height):
    x0, x1, a0, a1 = _linear_taps(img.shape[1], width, True)
    y0, y1, b0, b1 = _linear_taps(img.shape[0], height, False)
    # int32 throughout: a row value is at most 255 * 2049, a product below 2**27.
    src = img.astype(np.int32)
    rows = (src[:, x0] * a0[None, :, None] + src[:, x1] * a1[None, :, None]) >> 4
    # OpenCV's SIMD vertical pass: 16-bit high products, then round away 2 more bits.
    out = (((rows[y0] * b0[:, None, None]) >> 16) + ((rows[y1] * b1[:, None, None]) >> 16)
           + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


def _resize_nearest(img, width, height):
    xs = np.minimum(np.floor(np.arange(width) * (img.shape[1] / width)).astype(np.int64),
                    img.shape[1] - 1)
    ys = np.minimum(np.floor(np.arange(height) * (img.shape[0] / height)).astype(np.int64),
                    img.shape[0] - 1)
    return img[ys][:, xs]


def _resize_pillow(img, width, height, method):
    from PIL import Image
    resample = {_INTER_CUBIC: Image.BICUBIC, _INTER_AREA: Image.BOX,
                _INTER_LANCZOS: Image.LANCZOS}[method]
    # Channel by channel: Pillow would premultiply an RGBA image's colours by its alpha.
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c]), "L").resize(
        (width, height), resample)) for c in range(img.shape[2])]
    return np.stack(planes, axis=2)


def inter_method_for(method, old_w, old_h, new_w, new_h, rng):
    """MXNet's choice of interpolation: 9 picks cubic to enlarge, area to shrink, else
    linear; 10 picks one of 0-4 at random."""
    if method == _INTER_AUTO:
        if new_w > old_w and new_h > old_h:
            return _INTER_CUBIC
        if new_w < old_w and new_h < old_h:
            return _INTER_AREA
        return _INTER_LINEAR
    if method == _INTER_RAND:
        return int(rng.randint(0, 5))
    return method


def resize(img, width, height, method=_INTER_LINEAR):
    """``img`` (HxWxC uint8) resized to ``width`` x ``height``; ``method`` 0-4 as OpenCV's."""
    if (height, width) == img.shape[:2]:
        return img
    if method == _INTER_LINEAR:
        return _resize_linear(img, width, height)
    if method == _INTER_NEAREST:
        return _resize_nearest(img, width, height)
    return _resize_pillow(img, width, height, method)


def resize_shorter(img, size, method, rng):
    """The shorter edge scaled to ``size``, the other by integer division, as MXNet."""
    rows, cols = img.shape[:2]
    if rows > cols:
        new_h, new_w = size * rows // cols, size
    else:
        new_h, new_w = size, size * cols // rows
    return resize(img, new_w, new_h, inter_method_for(method, cols, rows, new_w, new_h, rng))


def pad(img, width, value):
    """``width`` pixels of ``value`` added on every side."""
    return np.pad(img, ((width, width), (width, width), (0, 0)), constant_values=value)


def crop(img, height, width, random_crop, method, rng):
    """A ``height`` x ``width`` window: centred, or at a uniform random offset when
    ``random_crop``. An image smaller than the window is first scaled up (keeping its aspect
    ratio, sizes in float32 as MXNet computes them) until it covers it."""
    rows, cols = img.shape[:2]
    method = inter_method_for(method, cols, rows, width, height, rng)
    if rows < height:
        new_cols = int(np.float32(height) / np.float32(rows) * np.float32(cols))
        img = resize(img, new_cols, height, method)
        rows, cols = img.shape[:2]
    if cols < width:
        new_rows = int(np.float32(width) / np.float32(cols) * np.float32(rows))
        img = resize(img, width, new_rows, method)
        rows, cols = img.shape[:2]
    if rows < height or cols < width:
        raise ValueError("input image size %dx%d smaller than input shape %dx%d"
                         % (rows, cols, height, width))
    y, x = rows - height, cols - width
    if random_crop:
        y, x = int(rng.randint(0, y + 1)), int(rng.randint(0, x + 1))
    else:
        y, x = y // 2, x // 2
    return img[y:y + height, x:x + width]

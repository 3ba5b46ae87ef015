"""mxnet.test_utils over mxgrid arrays: the helpers MXNet 1.9.1's own unit tests import
(comparisons with per-dtype tolerances, random shapes and arrays, environment settings), written for mxgrid and checked against MXNet's behaviour
(tests/python/client/test_test_utils.py). Arguments may be NDArrays or NumPy arrays.

Thread-safety: the default context is process-wide; the rest keeps no state.
"""
import contextlib
import numbers
import os
import random as _pyrandom
import sys

import numpy as np

from .context import Context, current_context
from . import ndarray_sparse as _sparse
from .ndarray import NDArray, array
from .util import use_np_shape

__all__ = ["default_context", "set_default_context", "default_dtype", "default_rtols",
           "default_atols", "get_rtol", "get_atol", "get_tols", "same", "almost_equal",
           "assert_almost_equal", "assert_allclose", "assert_exception", "rand_shape_2d",
           "rand_shape_3d", "rand_shape_nd", "random_arrays", "random_sample",
           "rand_ndarray", "np_reduce", "same_array", "compare_ndarray_tuple", "compare_optimizer", "environment", "getenv", "setenv", "discard_stderr",
           "use_np", "Context", "array", "current_context", "contextmanager"]
__all__ += ["check_consistency"]
# MXNet's test_utils has no __all__, so `from mxnet.test_utils import *` also hands out the
# modules it imports; MXNet's own tests use these (e.g. test_module.py uses sys unimported).
__all__ += ["np", "os", "sys", "numbers"]

contextmanager = contextlib.contextmanager
_default_ctx = [None]


def default_context():
    """The context tests run on: set_default_context's, else the current one (cpu(0))."""
    return _default_ctx[0] if _default_ctx[0] is not None else current_context()


def set_default_context(ctx):
    _default_ctx[0] = ctx


def default_dtype():
    return np.float32


# Tolerances per dtype, MXNet's: exact for integers and bool, looser for narrower floats.
_RTOL = {np.dtype(np.float16): 1e-2, np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-5}
_ATOL = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3, np.dtype(np.float64): 1e-20}


def default_rtols():
    return dict(_RTOL)


def default_atols():
    return dict(_ATOL)


def get_rtol(rtol=None, dtype=np.dtype(np.float64)):
    return _RTOL.get(np.dtype(dtype), 0) if rtol is None else rtol


def get_atol(atol=None, dtype=np.dtype(np.float64)):
    return _ATOL.get(np.dtype(dtype), 0) if atol is None else atol


def _dtype_of(x):
    if isinstance(x, NDArray):
        return np.dtype(x.dtype)
    if isinstance(x, numbers.Number):
        return np.array(x).dtype
    return np.asarray(x).dtype


def _tolerance(x, tol, table):
    if isinstance(tol, dict):
        return tol.get(_dtype_of(x), table.get(_dtype_of(x), 0))
    return table.get(_dtype_of(x), 0) if tol is None else tol


def get_tols(x, y, rtol, atol):
    """The (rtol, atol) for comparing x and y: the looser of the two sides' defaults."""
    return (max(_tolerance(x, rtol, _RTOL), _tolerance(y, rtol, _RTOL)),
            max(_tolerance(x, atol, _ATOL), _tolerance(y, atol, _ATOL)))


def _numpy(x):
    return x.asnumpy() if isinstance(x, NDArray) else np.asarray(x)


def same(a, b):
    """Equal shapes and elements."""
    return np.array_equal(_numpy(a), _numpy(b))


def almost_equal(a, b, rtol=None, atol=None, equal_nan=False, use_broadcast=True):
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=get_rtol(rtol), atol=get_atol(atol),
                            equal_nan=equal_nan))


def assert_almost_equal(a, b, rtol=None, atol=None, names=("a", "b"), equal_nan=False,
                        use_broadcast=True, mismatches=(10, 10)):
    """AssertionError naming the worst element unless |a - b| <= atol + rtol * |b|
    everywhere (tolerances from the dtypes unless given)."""
    rtol, atol = get_tols(a, b, rtol, atol)
    a, b = _numpy(a), _numpy(b)
    if not use_broadcast and a.shape != b.shape:
        raise AssertionError("shapes differ: %s %s, %s %s" % (names[0], a.shape, names[1],
                                                               b.shape))
    if np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
        return
    fa, fb = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(fa - fb) / (atol + rtol * np.abs(fb))
    err = np.where(np.isnan(err), np.inf, err)
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    bad = int(np.count_nonzero(err > 1))
    raise AssertionError(
        "%s and %s differ beyond rtol=%g, atol=%g at %d of %d elements; worst at %s: %s=%r, "
        "%s=%r\n%s: %s\n%s: %s" % (names[0], names[1], rtol, atol, bad, err.size,
                                   tuple(int(i) for i in worst), names[0],
                                   fa[worst] if err.size else a, names[1],
                                   fb[worst] if err.size else b, names[0],
                                   np.array2string(a, threshold=mismatches[0] * 2), names[1],
                                   np.array2string(b, threshold=mismatches[0] * 2)))


def assert_allclose(a, b, rtol=1e-07, atol=0, equal_nan=True):
    np.testing.assert_allclose(_numpy(a), _numpy(b), rtol=rtol, atol=atol,
                               equal_nan=equal_nan)


def assert_exception(f, exception_type, *args, **kwargs):
    """Asserts that f(*args, **kwargs) raises exception_type."""
    try:
        f(*args, **kwargs)
    except exception_type:
        return
    raise AssertionError("%s did not raise %s" % (getattr(f, "__name__", f),
                                                  exception_type.__name__))


def rand_shape_2d(dim0=10, dim1=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1)


def rand_shape_3d(dim0=10, dim1=10, dim2=10, allow_zero_size=False):
    low = 0 if allow_zero_size else 1
    return (np.random.randint(low, dim0 + 1), np.random.randint(low, dim1 + 1),
            np.random.randint(low, dim2 + 1))


def rand_shape_nd(num_dim, dim=10, allow_zero_size=False):
    """num_dim sizes drawn from [1, dim] ([0, dim] with allow_zero_size)."""
    return tuple(np.random.randint(0 if allow_zero_size else 1, dim + 1, size=num_dim))


def random_arrays(*shapes):
    """Standard-normal float32 NumPy arrays of the shapes (one array for one shape)."""
    out = [np.array(np.random.randn(), dtype=default_dtype()) if len(s) == 0
           else np.random.randn(*s).astype(default_dtype()) for s in shapes]
    return out[0] if len(out) == 1 else out


def random_sample(population, k):
    """k distinct elements of population, in random order."""
    return _pyrandom.sample(list(population), k)


def rand_sparse_ndarray(shape, stype, density=None, dtype=None, distribution=None,
                        data_init=None, rsp_indices=None, modifier_func=None,
                        shuffle_csr_indices=False, ctx=None):
    """A random row_sparse or csr NDArray and its numpy parts, as MXNet's: each row
    (row_sparse) or element (csr) is stored with probability ``density`` (random when
    None), stored values U[0, 1) (``data_init`` replaces them; ``rsp_indices`` picks the
    rows). Returns (array, (data, indices)) or (array, (data, indptr, indices))."""
    density = np.random.rand() if density is None else density
    dtype = default_dtype() if dtype is None else dtype
    ctx = ctx or default_context()
    if stype == "row_sparse":
        if rsp_indices is not None:
            indices = np.unique(np.asarray(rsp_indices, dtype=np.int64))
        else:
            indices = np.argwhere(np.random.uniform(size=(shape[0],)) < density).ravel()
        values = np.random.uniform(size=(len(indices),) + tuple(shape[1:])).astype(dtype)
        if data_init is not None:
            values.fill(data_init)
        if modifier_func is not None:
            values = modifier_func(values).astype(dtype)
        arr = _sparse.row_sparse_array((values, indices), shape=shape, ctx=ctx,
                                            dtype=dtype)
        return arr, (values, indices)
    if stype == "csr":
        import scipy.sparse as spsp  # pylint: disable=import-outside-toplevel
        m = spsp.random(shape[0], shape[1], density=density, format="csr",
                        dtype=np.float64).astype(dtype)
        if data_init is not None:
            m.data.fill(data_init)
        if modifier_func is not None:
            m.data = modifier_func(m.data).astype(dtype)
        m.sort_indices()
        arr = _sparse.csr_matrix((m.data, m.indices, m.indptr), shape=shape, ctx=ctx,
                                      dtype=dtype)
        return arr, (m.data, m.indptr, m.indices)
    raise ValueError("unknown storage type %r" % (stype,))


def rand_ndarray(shape, stype="default", density=None, dtype=None, modifier_func=None,
                 shuffle_csr_indices=False, distribution=None, ctx=None):
    """A random NDArray of ``shape`` on ctx (default_context()): standard normal values
    when dense, rand_sparse_ndarray's for row_sparse and csr."""
    if stype != "default":
        return rand_sparse_ndarray(shape, stype, density=density, dtype=dtype,
                                   modifier_func=modifier_func, ctx=ctx)[0]
    return array(random_arrays(shape), dtype=dtype, ctx=ctx or default_context())


def np_reduce(dat, axis, keepdims, numpy_reduce_func):
    """numpy_reduce_func over each axis of `axis` (an int, a sequence, or None for all)."""
    axes = [axis] if isinstance(axis, int) else (list(axis) if axis is not None
                                                 else list(range(dat.ndim)))
    axes = [a % dat.ndim for a in axes] if dat.ndim else axes
    out = dat
    for a in sorted(axes, reverse=True):
        out = numpy_reduce_func(out, axis=a)
    if keepdims:
        shape = list(dat.shape)
        for a in axes:
            shape[a] = 1
        out = np.reshape(out, shape)
    return out


def same_array(array1, array2):
    """Whether two NDArrays share storage: a write through array1 shows in array2."""
    array1[:] += 1
    shared = same(array1.asnumpy(), array2.asnumpy())
    array1[:] -= 1
    return shared and same(array1.asnumpy(), array2.asnumpy())


def compare_ndarray_tuple(t1, t2, rtol=None, atol=None):
    """assert_almost_equal over matching (nested) tuples of arrays; None matches anything."""
    if t1 is None or t2 is None:
        return
    if isinstance(t1, tuple):
        for s1, s2 in zip(t1, t2):
            compare_ndarray_tuple(s1, s2, rtol, atol)
    else:
        assert_almost_equal(t1, t2, rtol=rtol, atol=atol)


def _uniform(shape, dtype):
    """U[0, 1) values of ``shape`` as an NDArray of ``dtype`` on the default context
    (drawn from NumPy's generator, which with_seed seeds)."""
    values = np.random.uniform(size=shape).astype(np.dtype(dtype))
    return array(values, ctx=default_context(), dtype=values.dtype)


def _optimizer_input(shape, dtype, stype, density=None):
    """(dense copy for the reference optimizer, array of ``stype`` for the tested one)."""
    if stype == "default":
        x = _uniform(shape, dtype)
        return x.copyto(default_context()), x
    x = rand_ndarray(shape, stype, density=density, dtype=dtype)
    return x.copyto(default_context()).tostype("default"), x


def compare_optimizer(opt1, opt2, shape, dtype, w_stype="default", g_stype="default",
                      rtol=1e-4, atol=1e-5, compare_states=True, ntensors=1):
    """One update of ``opt1`` and ``opt2`` from the same random weight and gradient: their
    states (before and after) and the updated weights must agree. ``shape`` a list: opt2
    updates ``ntensors`` arrays in one call (its multi-tensor path), opt1 one by one. With a
    sparse ``w_stype`` / ``g_stype`` opt2 gets the sparse arrays, opt1 their dense copies
    (MXNet's)."""
    if not isinstance(shape, list):
        assert ntensors == 1
        w1, w2 = _optimizer_input(shape, dtype, w_stype, density=1)
        g1, g2 = _optimizer_input(shape, dtype, g_stype)
        state1 = opt1.create_state_multi_precision(0, w1)
        state2 = opt2.create_state_multi_precision(0, w2)
        if compare_states:
            compare_ndarray_tuple(state1, state2)
        opt1.update_multi_precision(0, w1, g1, state1)
        opt2.update_multi_precision(0, w2, g2, state2)
        if compare_states:
            compare_ndarray_tuple(state1, state2, rtol=rtol, atol=atol)
        assert_almost_equal(w1.asnumpy(), w2.asnumpy(), rtol=rtol, atol=atol)
    else:
        w1 = tuple(_uniform(s, dtype) for s in shape)
        g1 = tuple(_uniform(s, dtype) for s in shape)
        w2 = tuple(w.copy() for w in w1)
        g2 = tuple(g.copy() for g in g1)
        state2 = [opt2.create_state_multi_precision(0, w2[i]) for i in range(ntensors)]
        opt2.update_multi_precision(list(range(ntensors)), w2, g2, state2)
        for i in range(ntensors):
            state1 = opt1.create_state_multi_precision(i, w1[i])
            opt1.update_multi_precision(i, w1[i], g1[i], state1)
            if compare_states:
                compare_ndarray_tuple(state1, state2[i], rtol, atol)
            compare_ndarray_tuple(w1[i], w2[i], rtol, atol)


def use_np(func):
    """MXNet's decorator for tests of NumPy semantics: runs func under np_shape(True), which
    mxgrid refuses (see util.py)."""
    return use_np_shape(func)


def getenv(name):
    return os.environ.get(name)


def setenv(name, value):
    """Sets (or, for None, removes) an environment variable."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


@contextlib.contextmanager
def environment(*args):
    """with environment('NAME', 'value') or environment({'A': '1', 'B': None}): sets the
    variables (None removes) for the block and restores them after."""
    if len(args) == 2:
        updates = {args[0]: args[1]}
    elif len(args) == 1 and isinstance(args[0], dict):
        updates = args[0]
    else:
        raise ValueError("environment() takes a name and a value, or a dict")
    saved = {k: os.environ.get(k) for k in updates}
    try:
        for k, v in updates.items():
            setenv(k, v)
        yield
    finally:
        for k, v in saved.items():
            setenv(k, v)


@contextlib.contextmanager
def discard_stderr():
    """Sends this process's file descriptor 2 to /dev/null for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def check_consistency(sym, ctx_list, scale=1.0, grad_req="write", arg_params=None,
                      aux_params=None, tol=None, raise_on_err=True, ground_truth=None,
                      equal_nan=False, use_uniform=False, rand_type=np.float64):
    """Binds each symbol (or one symbol) once per entry of ``ctx_list`` (simple_bind keyword
    dicts: ctx, input shapes, type_dict), feeds all the same random arguments, and checks
    that outputs (inference) and, unless grad_req is 'null', outputs and argument gradients
    (training, the outputs as head gradients) agree with the executor of the widest output
    dtype, within ``tol`` per dtype; as MXNet's check_consistency. Returns the reference
    arrays by name."""
    from .symbol import Symbol
    if tol is None:
        tol = {np.dtype(np.float16): 1e-1, np.dtype(np.float32): 1e-3,
               np.dtype(np.float64): 1e-5, np.dtype(np.uint8): 0, np.dtype(np.int32): 0,
               np.dtype(np.int64): 0}
    elif isinstance(tol, numbers.Number):
        tol = {np.dtype(t): tol for t in (np.float16, np.float32, np.float64, np.uint8,
                                          np.int32, np.int64)}
    assert len(ctx_list) > 1
    if isinstance(sym, Symbol):
        sym = [sym] * len(ctx_list)
    else:
        assert len(sym) == len(ctx_list)
    output_names = sym[0].list_outputs()
    arg_names = sym[0].list_arguments()
    exe_list = []
    for s, ctx in zip(sym, ctx_list):
        assert s.list_arguments() == arg_names
        assert s.list_outputs() == output_names
        exe_list.append(s.simple_bind(grad_req=grad_req, **ctx))
    arg_params = {} if arg_params is None else dict(arg_params)
    aux_params = {} if aux_params is None else dict(aux_params)
    for name, arr in exe_list[0].arg_dict.items():
        if name not in arg_params:
            if use_uniform:
                arg_params[name] = np.random.uniform(-0.9, 0.9, size=arr.shape).astype(rand_type)
            else:
                arg_params[name] = np.random.normal(size=arr.shape,
                                                    scale=scale).astype(rand_type)
    for name in exe_list[0].aux_dict:
        aux_params.setdefault(name, 0)
    for exe in exe_list:
        for name, arr in exe.arg_dict.items():
            arr[:] = arg_params[name]
        for name, arr in exe.aux_dict.items():
            arr[:] = aux_params[name]
        if grad_req == "add":
            for arr in exe.grad_arrays:
                if arr is not None:
                    arr[:] = 0
    dtypes = [np.dtype(exe.outputs[0].dtype) for exe in exe_list]
    max_idx = int(np.argmax(dtypes))
    gt = ground_truth
    if gt is None:
        gt = dict(exe_list[max_idx].output_dict)
        if grad_req != "null":
            gt.update(exe_list[max_idx].grad_dict)

    def compare(i, pairs):
        rtol = atol = tol[dtypes[i]]
        for name, arr in pairs:
            if gt[name] is None:
                assert arr is None, name
                continue
            want = _numpy(gt[name]).astype(dtypes[i])
            try:
                assert_almost_equal(_numpy(arr), want, rtol=rtol, atol=atol,
                                    names=("ctx %d %s" % (i, name), "reference"),
                                    equal_nan=equal_nan)
            except AssertionError:
                if raise_on_err:
                    raise

    for exe in exe_list:
        exe.forward(is_train=False)
    for i, exe in enumerate(exe_list):
        if i != max_idx:
            compare(i, zip(output_names, exe.outputs))
    if grad_req != "null":
        for exe in exe_list:
            exe.forward(is_train=True)
            exe.backward(exe.outputs)
        for i, exe in enumerate(exe_list):
            if i != max_idx:
                compare(i, zip(output_names + arg_names, exe.outputs + exe.grad_arrays))
    return gt

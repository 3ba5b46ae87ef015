"""Executor.reshape (the worker's ReshapeExecutor: new shapes sharing the executor's memory),
Executor.debug_str's planned memory with zero-gradient pruning, and small MXNet names
(kv.type of the local variants, is_np_shape in saved JSON), each against real MXNet 1.9.1."""
import json
import re

import numpy as np
import pytest


def _fc_exec(m):
    x = m.sym.Variable("x")
    y = m.sym.FullyConnected(x, num_hidden=4)
    exe = y.simple_bind(m.cpu(), x=(5, 4), grad_req="null")
    exe.arg_arrays[0][:] = 1
    exe.arg_arrays[1][:] = m.nd.ones((4, 4))
    exe.arg_arrays[2][:] = 0
    return exe


def test_reshape_shares_memory_like_mxnet(mxw, real_mx):
    for m in (mxw, real_mx):
        exe = _fc_exec(m)
        small = exe.reshape(x=(3, 4))
        small.forward(is_train=False)
        np.testing.assert_array_equal(small.outputs[0].asnumpy(), np.full((3, 4), 4.0))
        # The smaller executor's output is a view of the base executor's.
        np.testing.assert_array_equal(exe.outputs[0].asnumpy()[:3], np.full((3, 4), 4.0))
        big = exe.reshape(allow_up_sizing=True, x=(6, 4))
        big.arg_arrays[0][:] = 0  # new memory: the base's input is untouched
        np.testing.assert_array_equal(exe.arg_arrays[0].asnumpy(), np.ones((5, 4)))
        np.testing.assert_array_equal(big.arg_arrays[1].asnumpy(), np.ones((4, 4)))  # shared
        big.arg_arrays[1][:] = 2  # the weight is the same array
        np.testing.assert_array_equal(exe.arg_arrays[1].asnumpy(), np.full((4, 4), 2.0))
        assert big.arg_arrays[0].shape == (6, 4) and big.outputs[0].shape == (6, 4)


def test_reshape_refusals(mxw, real_mx):
    exe = _fc_exec(mxw)
    with pytest.raises(mxw.MXNetError, match="allow_up_sizing"):
        exe.reshape(x=(8, 4))
    with pytest.raises(ValueError, match="not an argument"):
        exe.reshape(z=(8, 4))
    # A changed shape of an argument not named needs partial_shaping, as in MXNet.
    net = mxw.sym.FullyConnected(mxw.sym.Variable("x"), num_hidden=4, name="fc")
    exe = net.simple_bind(mxw.cpu(), x=(5, 4), grad_req="null")
    with pytest.raises(mxw.MXNetError, match="partial_shaping"):
        exe.reshape(allow_up_sizing=True, x=(5, 6))
    wider = exe.reshape(partial_shaping=True, allow_up_sizing=True, x=(5, 6))
    assert dict(zip(net.list_arguments(), [a.shape for a in wider.arg_arrays])) == {
        "x": (5, 6), "fc_weight": (4, 6), "fc_bias": (4,)}
    ref = real_mx.sym.FullyConnected(real_mx.sym.Variable("x"), num_hidden=4, name="fc")
    ref_exe = ref.simple_bind(real_mx.cpu(), x=(5, 4), grad_req="null")
    with pytest.raises(real_mx.MXNetError):
        ref_exe.reshape(allow_up_sizing=True, x=(5, 6))


def _planned_mb(exe):
    return int(re.search(r"Total (\d+) MB allocated", exe.debug_str()).group(1))


def test_stop_gradient_prunes_backward_memory(mxw):
    data = mxw.sym.Variable("data")
    for _ in range(10):
        data = data * data
    big = _planned_mb(data.simple_bind(mxw.cpu(), data=(10, 3, 256, 256)))
    forward_only = _planned_mb(data.simple_bind(mxw.cpu(), data=(10, 3, 256, 256),
                                                grad_req="null"))
    stopped = mxw.sym.stop_gradient(data)
    exe = stopped.simple_bind(mxw.cpu(), data=(10, 3, 256, 256))
    assert big > forward_only
    assert _planned_mb(exe) == forward_only
    exe.arg_dict["data"][:] = 1.5
    exe.forward(is_train=True)
    exe.backward()  # no head gradient needed: nothing flows back through stop_gradient
    np.testing.assert_array_equal(exe.grad_dict["data"].asnumpy(), 0)


@pytest.mark.parametrize("name", ["local", "local_update_cpu", "local_allreduce_cpu", "device",
                                  "local_allreduce_device"])
def test_local_kvstore_types_keep_their_name(mxw, real_mx, name):
    assert mxw.kv.create(name).type == real_mx.kv.create(name).type == name
    kv = mxw.kv.create(name)
    kv.init(3, mxw.nd.zeros((2, 2)))
    kv.push(3, [mxw.nd.ones((2, 2)), mxw.nd.ones((2, 2))])
    out = mxw.nd.empty((2, 2))
    kv.pull(3, out=out)
    np.testing.assert_array_equal(out.asnumpy(), 2.0)


def test_unknown_kvstore_type_is_refused(mxw):
    with pytest.raises(ValueError, match="unknown kvstore type"):
        mxw.kv.create("local_sparse_magic")


def test_np_shape_marks_saved_json(mxw, real_mx):
    for m in (mxw, real_mx):
        net = m.sym.FullyConnected(m.sym.var("data"), m.sym.var("weight", shape=(128, 0)),
                                   num_hidden=128)
        with m.util.np_shape(True):
            marked = json.loads(net.tojson())["attrs"]
        plain = json.loads(net.tojson())["attrs"]
        assert marked.get("is_np_shape") == ["int", 1] and "is_np_shape" not in plain
        # A file written without the mark reads 0 as unknown, under either mode.
        legacy = net.tojson()
        for active in (False, True):
            with m.util.np_shape(active):
                args, _, _ = m.sym.load_json(legacy).infer_shape(data=(10, 784))
            assert args[1] == (128, 784)

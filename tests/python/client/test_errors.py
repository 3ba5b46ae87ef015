"""Server errors surface as MXNetError with the server's message and status code.

Operator calls are pipelined by default: an operator's error is raised at the next read of
its result (as MXNet's engine reports asynchronous errors); with MXGRID_PIPELINE=0 it is
raised at the call."""
import contextlib

import grpc
import numpy as np
import pytest

from mxgrid import connection


@pytest.fixture(scope="module")
def sync_conn(mxw, local_cluster):
    conn = connection.Connection(local_cluster.workers[0], local_cluster.compiler,
                                 pipeline=False)
    yield conn
    conn.close()


@contextlib.contextmanager
def current(conn):
    old, connection._current = connection._current, conn
    try:
        yield
    finally:
        connection._current = old


def test_bad_operator_attribute(mxw):
    mx = mxw
    # The schema says the worker refuses these: raised at the call, as in MXNet.
    for bad in ({"act_type": "nosuchact"}, {"act_type": "relu", "nosuchparam": 1}, {}):
        with pytest.raises(mx.MXNetError) as err:
            mx.nd.Activation(mx.nd.ones((2,)), **bad)
        assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "nosuchparam" in str(err.value) or "act_type" in str(err.value)
    with pytest.raises(mx.MXNetError, match="nosuchact"):
        mx.nd.Activation(mx.nd.ones((2,)), act_type="nosuchact")
    # A value not of the parameter's type (not an integer): raised at the call too.
    with pytest.raises(mx.MXNetError, match="num_hidden"):
        mx.nd.FullyConnected(mx.nd.ones((2, 3)), mx.nd.ones((4, 3)), mx.nd.ones((4,)),
                             num_hidden="many")
    # A value only the worker can check (an integer below 1): raised at the next read.
    out = mx.nd.FullyConnected(mx.nd.ones((2, 3)), mx.nd.ones((4, 3)), mx.nd.ones((4,)),
                               num_hidden=-3)
    with pytest.raises(mx.MXNetError, match="num_hidden") as err:
        out.asnumpy()
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    np.testing.assert_allclose(mx.nd.relu(mx.nd.ones((2,))).asnumpy(), [1.0, 1.0])


def test_bad_operator_attribute_at_the_call_when_synchronous(mxw, sync_conn):
    mx = mxw
    with current(sync_conn):
        with pytest.raises(mx.MXNetError) as err:
            mx.nd.FullyConnected(mx.nd.ones((2, 3)), mx.nd.ones((4, 3)), mx.nd.ones((4,)),
                                 num_hidden="many")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "num_hidden" in str(err.value)


def test_bad_symbol_attribute(mx):
    with pytest.raises(mx.MXNetError) as err:
        mx.sym.FullyConnected(mx.sym.Variable("d"), num_hidden="many")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "num_hidden" in str(err.value)


def test_unknown_operator(mx):
    with pytest.raises(AttributeError):
        mx.nd.NoSuchOperator
    with pytest.raises(AttributeError):
        mx.sym.NoSuchOperator


def test_unknown_handle(mxw):
    mx = mxw
    bogus = mx.nd.NDArray(123456789, (2,), np.float32, mx.cpu(0), mx.connection.get(),
                          owned=False)
    with pytest.raises(mx.MXNetError) as err:
        bogus.asnumpy()
    assert err.value.code == grpc.StatusCode.NOT_FOUND


def test_shape_mismatch(mxw):
    mx = mxw
    bad = mx.nd.elemwise_add(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)))
    with pytest.raises(mx.MXNetError) as err:
        bad.wait_to_read()
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    bad = mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))
    with pytest.raises(mx.MXNetError):
        mx.nd.waitall()
    a = mx.nd.ones((2, 3))
    with pytest.raises(ValueError):  # as MXNet 1.9.1's NDArray.broadcast_to of the value
        a[:] = mx.nd.ones((4, 4))


def test_shape_mismatch_at_the_call_when_synchronous(mxw, sync_conn):
    mx = mxw
    with current(sync_conn):
        with pytest.raises(mx.MXNetError) as err:
            mx.nd.elemwise_add(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_bind_missing_argument(mxw):
    mx = mxw
    c = mx.sym.Variable("A") * mx.sym.Variable("B")
    with pytest.raises(ValueError):
        c.bind(mx.cpu(), args={"A": mx.nd.ones((2,))})

"""Server errors surface as MXNetError with the server's message and status code."""
import grpc
import numpy as np
import pytest


def test_bad_operator_attribute(mxw):
    mx = mxw
    with pytest.raises(mx.MXNetError) as err:
        mx.nd.Activation(mx.nd.ones((2,)), act_type="nosuchact")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "nosuchact" in str(err.value)


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
    with pytest.raises(mx.MXNetError) as err:
        mx.nd.elemwise_add(mx.nd.ones((2, 3)), mx.nd.ones((3, 2)))
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(mx.MXNetError):
        mx.nd.dot(mx.nd.ones((2, 3)), mx.nd.ones((2, 3)))
    a = mx.nd.ones((2, 3))
    with pytest.raises(mx.MXNetError):
        a[:] = mx.nd.ones((4, 4))


def test_bind_missing_argument(mxw):
    mx = mxw
    c = mx.sym.Variable("A") * mx.sym.Variable("B")
    with pytest.raises(ValueError):
        c.bind(mx.cpu(), args={"A": mx.nd.ones((2,))})

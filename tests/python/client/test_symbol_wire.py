"""mxgrid._symbol_wire writes ComposeBurst requests in protobuf's wire format by hand: each
encoding must parse, by the protobuf runtime, into the message the runtime itself builds
from the same fields (long strings whose lengths take several varint bytes, non-ASCII names,
JSON symbols, every transform)."""
import pytest

from mxgrid import _symbol_wire as wire
from mxgrid._proto import pb

REF = "0123456789abcdef" * 2
OTHER = "fedcba9876543210" * 2


def _sym(ref=None, json=None):
    """(the runtime's Symbol, its body as _symbol_wire writes it)."""
    if ref is not None:
        return pb.graph.Symbol(ref=ref), wire.symbol_ref(ref)
    return pb.graph.Symbol(json=json), wire.symbol_json(json)


def _parse_step(body):
    return pb.compiler.BurstStep.FromString(body)


LONG_JSON = '{"nodes": [%s], "heads": [[0, 0, 0]]}' % ", ".join(
    '{"op": "null", "name": "v%d", "inputs": []}' % i for i in range(40))


@pytest.mark.parametrize("fields", [
    dict(op="FullyConnected", attrs={"num_hidden": "800"}, name="fc1"),
    dict(op="Activation", attrs={"act_type": "tanh", "__lr_mult__": "2"}, name="act"),
    dict(op="Concat", attrs={"num_args": "2", "dim": "1"}, name="c" * 300),
    dict(op="_Plus", attrs={}, name="_plus0"),
    dict(variable="weight", attrs={"__shape__": "(3, 4)", "__init__": "x" * 200}),
    dict(variable="données_é"),
])
def test_compose_steps_parse_as_the_runtime_builds_them(fields):
    a, a_body = _sym(ref=OTHER)
    b, b_body = _sym(json=LONG_JSON)
    want = pb.compiler.BurstStep(ref=REF, compose=pb.compiler.ComposeRequest(
        by_ref=True, positional=[a, b], named={"weight": a, "bias": b}, **fields))
    got = _parse_step(wire.compose_step(REF, [a_body, b_body],
                                        {"weight": a_body, "bias": b_body}, **fields))
    assert got == want


@pytest.mark.parametrize("attrs", [{}, {"num_hidden": "800"}, {"act_type": "tanh", "x": "y" * 300}])
def test_op_steps_are_compose_steps(attrs):
    """op_step (the operator functions' path) writes what compose_step writes; twice, so
    that the second comes from the cached head."""
    a, a_body = _sym(ref=OTHER)
    b, b_body = _sym(json=LONG_JSON)
    for _ in range(2):
        got = wire.op_step(REF, "FullyConnected", attrs, "fc1", [a_body], ("bias", "weight"),
                           [b_body, a_body])
        assert got == wire.compose_step(REF, [a_body], {"bias": b_body, "weight": a_body},
                                        op="FullyConnected", attrs=attrs, name="fc1")
        want = pb.compiler.BurstStep(ref=REF, compose=pb.compiler.ComposeRequest(
            by_ref=True, op="FullyConnected", attrs=attrs, name="fc1", positional=[a],
            named={"bias": b, "weight": a}))
        assert _parse_step(got) == want


def test_compose_by_call_and_without_inputs():
    call, call_body = _sym(ref=OTHER)
    want = pb.compiler.BurstStep(ref=REF, compose=pb.compiler.ComposeRequest(
        by_ref=True, call=call, name="net2", named={"data": call}))
    got = _parse_step(wire.compose_step(REF, [], {"data": call_body}, call=call_body,
                                        name="net2"))
    assert got == want
    bare = _parse_step(wire.compose_step(REF, [], {}, op="_zeros", attrs={"shape": "(2,)"},
                                         name="z"))
    assert bare == pb.compiler.BurstStep(ref=REF, compose=pb.compiler.ComposeRequest(
        by_ref=True, op="_zeros", attrs={"shape": "(2,)"}, name="z"))


@pytest.mark.parametrize("op", [
    dict(group=True), dict(internals=True), dict(output_index=0), dict(output_index=3),
    dict(output_index=300), dict(output_name="fc1_output"), dict(output_name="é" * 100),
])
def test_transform_steps_parse_as_the_runtime_builds_them(op):
    a, a_body = _sym(ref=OTHER)
    b, b_body = _sym(json=LONG_JSON)
    want = pb.compiler.BurstStep(ref=REF, transform=pb.compiler.TransformRequest(
        by_ref=True, symbols=[a, b], **op))
    assert _parse_step(wire.transform_step(REF, [a_body, b_body], **op)) == want


def test_a_burst_is_its_steps_in_order():
    a, a_body = _sym(ref=OTHER)
    steps = [wire.compose_step("%032x" % i, [a_body], {}, op="relu", name="r%d" % i)
             for i in range(200)]
    got = pb.compiler.ComposeBurstRequest.FromString(wire.burst(steps))
    assert [s.ref for s in got.steps] == ["%032x" % i for i in range(200)]
    assert got.steps[199].compose == pb.compiler.ComposeRequest(
        by_ref=True, op="relu", name="r199", positional=[a])
    assert wire.burst([]) == b""


@pytest.mark.parametrize("index", [0, 1, 127, 128, 70000])
def test_a_selected_output_parses_as_the_runtime_builds_it(index):
    for ref, json in ((OTHER, None), (None, LONG_JSON)):
        sym, body = _sym(ref=ref, json=json)
        sym.output = index
        assert pb.graph.Symbol.FromString(wire.select_output(body, index)) == sym
        assert pb.graph.Symbol.FromString(wire.select_output(body, index)).HasField("output")

"""ComposeBurst steps in protobuf's wire format, written directly (compiler.proto's
BurstStep, ComposeRequest, TransformRequest and graph.proto's Symbol).

A deferred composition is encoded once, when it is made, from its inputs' handles; a burst
is the concatenation of its steps. Building the same messages through the protobuf runtime
costs several times more per step, and a graph of an unrolled RNN has a thousand of them.
The field numbers below are the protos'; tests/python/client/test_symbol_wire.py checks the
encodings against the protobuf runtime's parse of them.

Thread-safety: pure functions.
"""
import functools

__all__ = ["symbol_ref", "symbol_json", "select_output", "compose_step", "op_step",
           "transform_step", "burst"]

# Lengths below 128 are one byte; most fields here are.
_SHORT = [bytes((n,)) for n in range(128)]


def _varint(n):
    if n < 128:
        return _SHORT[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes_field(tag, data):
    """A length-delimited field: ``tag`` (one byte: field number << 3 | 2), length, data."""
    n = len(data)
    return tag + (_SHORT[n] if n < 128 else _varint(n)) + data


def _text(tag, text):
    return _bytes_field(tag, text.encode())


def symbol_ref(ref):
    """The body of Symbol{ref: ref} (field 2)."""
    return _text(b"\x12", ref)


def symbol_json(text):
    """The body of Symbol{json: text} (field 1)."""
    return _text(b"\x0a", text)


def select_output(body, index):
    """A Symbol body with its output field (3) set to ``index`` >= 0."""
    return body + b"\x18" + _varint(index)


def _attr_entry(key, value):
    """ComposeRequest.attrs' entry (key 1, value 2) as a field."""
    return _bytes_field(b"\x22", _text(b"\x0a", key) + _text(b"\x12", value))


@functools.lru_cache(maxsize=1024)
def _named_key(key):
    """The start of a ComposeRequest.named entry for input ``key``: its key field and the
    value's tag (the value's length and body follow)."""
    return _text(b"\x0a", key) + b"\x12"


# (op, variable, attribute items) -> the start of a ComposeRequest body: its op or variable
# field and its attrs fields. A graph repeats a few dozen of them (an unrolled RNN the same
# operators with the same parameters step after step).
_HEADS = {}
_HEADS_MAX = 4096


def _head(op, variable, attrs):
    key = (op, variable, tuple(attrs.items())) if attrs else (op, variable)
    head = _HEADS.get(key)
    if head is None:
        head = _text(b"\x12", op) if op is not None else _text(b"\x0a", variable)  # op = 2,
        if attrs:                                                   # variable = 1; attrs = 4
            head += b"".join([_attr_entry(k, v) for k, v in attrs.items()])
        if len(_HEADS) >= _HEADS_MAX:
            _HEADS.clear()
        _HEADS[key] = head
    return head


def compose_step(ref, positional, named, variable=None, op=None, call=None, attrs=None,
                 name=""):
    """The body of BurstStep{ref, compose: ComposeRequest{...by_ref: true}}.
    ``positional``: Symbol bodies; ``named``: {input name: Symbol body}; one of ``variable``
    (its name), ``op`` (its name) or ``call`` (a Symbol body)."""
    if call is None:
        parts = [_head(op, variable, attrs)]
    else:
        parts = [_bytes_field(b"\x1a", call)]                       # call = 3
        if attrs:
            parts.extend([_attr_entry(k, v) for k, v in attrs.items()])
    if name:
        parts.append(_text(b"\x2a", name))                          # name = 5
    for body in positional:                                         # positional = 6
        parts.append(_bytes_field(b"\x32", body))
    for key, body in named.items():                                 # named = 7
        parts.append(_bytes_field(b"\x3a", _bytes_field(_named_key(key), body)))
    parts.append(b"\x40\x01")                                       # by_ref = 8
    return _bytes_field(b"\x0a", b"".join(parts)) + _text(b"\x1a", ref)


def op_step(ref, op, attrs, name, positional, names, named):
    """compose_step(ref, positional, dict(zip(names, named)), op=op, attrs=attrs,
    name=name), for an operator node: ``positional`` and ``named`` are Symbol bodies."""
    parts = [_head(op, None, attrs)]
    if name:
        parts.append(_text(b"\x2a", name))
    for body in positional:
        parts.append(_bytes_field(b"\x32", body))
    for key, body in zip(names, named):
        parts.append(_bytes_field(b"\x3a", _bytes_field(_named_key(key), body)))
    parts.append(b"\x40\x01")
    return _bytes_field(b"\x0a", b"".join(parts)) + _text(b"\x1a", ref)


def transform_step(ref, symbols, group=False, internals=False, output_index=None,
                   output_name=None):
    """The body of BurstStep{ref, transform: TransformRequest{...by_ref: true}};
    ``symbols``: Symbol bodies; one of the operations (``output_index`` >= 0)."""
    parts = [_bytes_field(b"\x0a", body) for body in symbols]       # symbols = 1
    if group:
        parts.append(b"\x10\x01")                                   # group = 2
    elif internals:
        parts.append(b"\x18\x01")                                   # internals = 3
    elif output_index is not None:
        parts.append(b"\x20" + _varint(output_index))               # output_index = 4
    else:
        parts.append(_text(b"\x2a", output_name))                   # output_name = 5
    parts.append(b"\x30\x01")                                       # by_ref = 6
    return _bytes_field(b"\x12", b"".join(parts)) + _text(b"\x1a", ref)


def burst(steps):
    """ComposeBurstRequest{steps} from the steps' bodies."""
    return b"".join(_bytes_field(b"\x0a", s) for s in steps)

#!/usr/bin/env python3
"""Writes mlp-symbol.json, the symbol the Go example train_mlp binds: the MLP of
examples/train_digits.py (the MXNet tutorial's perceptron, data -> fc1 128 -> relu -> fc2 64 ->
relu -> fc3 10 -> SoftmaxOutput 'softmax'), as the Python client's Symbol.tojson() writes it.

    MXGRID_WORKER=host:port MXGRID_COMPILER=host:port \
        PYTHONPATH=clients/python .venv/bin/python clients/go/examples/train_mlp/make_symbol.py

With --check it writes nothing and exits 1 when the checked-in file differs (tools/test_go).
Without MXGRID_* the Python client starts its embedded cluster (needs the built binaries).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "examples"))

from train_digits import mlp  # noqa: E402  (the Python example's own network)

PATH = os.path.join(HERE, "mlp-symbol.json")


def main():
    text = mlp().tojson() + "\n"
    if sys.argv[1:] == ["--check"]:
        with open(PATH) as f:
            if f.read() != text:
                print("%s differs from the Python client's tojson(); rerun %s" % (
                    PATH, os.path.relpath(__file__)))
                return 1
        print("mlp-symbol.json matches the Python client's tojson()")
        return 0
    with open(PATH, "w") as f:
        f.write(text)
    print("wrote", PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())

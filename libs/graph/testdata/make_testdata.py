"""Writes the Symbol JSON files json_test.cc compares against, with real MXNet 1.9.1.

    .venv/bin/python libs/graph/testdata/make_testdata.py

legacy_000800-symbol.json is hand-written in MXNet 0.8's form (after MXNet's own
tests/python/unittest/save_000800.json): "param"/"attr" keys, 2-element inputs, hidden keys
without underscores, no mxnet_version, and a BatchNorm without its aux-state inputs.
"""
import os

import mxnet as mx

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, text):
    with open(os.path.join(HERE, name), "w") as f:
        f.write(text)


def main():
    # The MLP of the reference, §2.4.
    data = mx.sym.var("data")
    fc1 = mx.sym.FullyConnected(data, num_hidden=128, name="fc1")
    relu1 = mx.sym.Activation(fc1, act_type="relu", name="relu1")
    fc2 = mx.sym.FullyConnected(relu1, num_hidden=10, name="fc2")
    write("mlp-symbol.json", mx.sym.SoftmaxOutput(fc2, name="softmax").tojson())

    # BatchNorm with output_mean_var: three visible outputs.
    bn = mx.sym.BatchNorm(mx.sym.var("x"), output_mean_var=True, name="bn")
    write("bn_mean_var-symbol.json", bn.tojson())

    # The legacy file as MXNet 1.9.1 upgrades and saves it.
    with open(os.path.join(HERE, "legacy_000800-symbol.json")) as f:
        legacy = mx.sym.load_json(f.read())
    write("legacy_000800-upgraded.json", legacy.tojson())
    print("legacy arguments:", legacy.list_arguments())
    print("legacy aux states:", legacy.list_auxiliary_states())
    print("legacy outputs:", legacy.list_outputs())


if __name__ == "__main__":
    main()

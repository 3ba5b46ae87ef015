#!/usr/bin/env python3
"""Turns one benchmark run's measurements into rows of docs/benchmarks.json and
docs/benchmarks.md.

Usage: bench_report.py RUN_DIR benchmarks.json benchmarks.md

RUN_DIR holds *.jsonl files. A line with "name" is a finished row (mxgrid vs a peer measured
in the same program); a line with "metric" is one raw figure, paired below into rows. Rows of
this run replace earlier rows with the same name and machine; other rows are kept, so the
history of other machines (the GPU machine) survives.
"""
import datetime
import glob
import json
import os
import platform
import sys

# (row name, unit, mxgrid metric, peer name, peer metric, better)
PAIRS = [
    ("elementwise c = a + b, 16M float32, new output (vs memcpy)", "GB/s",
     "add_new_gbps", "memcpy 64 MiB", "memcpy_gbps", "higher"),
    ("elementwise c = a + b, 16M float32, into existing c (vs memcpy)", "GB/s",
     "add_into_gbps", "memcpy 64 MiB", "memcpy_gbps", "higher"),
    ("elementwise c = a + b, 16M float32, new output (vs MXNet)", "GB/s",
     "add_new_gbps", "MXNet 1.9.1 mx.nd a + b", "mxnet_add_new_gbps", "higher"),
    ("elementwise c = a + b, 16M float32, into existing c (vs MXNet)", "GB/s",
     "add_into_gbps", "MXNet 1.9.1 elemwise_add(out=c)", "mxnet_add_into_gbps", "higher"),
    ("save 256 MiB of arrays (vs plain file write)", "GB/s",
     "save_gbps", "write() of the same 256 MiB", "file_write_gbps", "higher"),
    ("load 256 MiB of arrays (vs plain file read)", "GB/s",
     "load_gbps", "read() of the same 256 MiB", "file_read_gbps", "higher"),
    ("save 256 MiB of arrays (vs MXNet)", "GB/s",
     "save_gbps", "MXNet 1.9.1 mx.nd.save", "mxnet_save_gbps", "higher"),
    ("load 256 MiB of arrays (vs MXNet)", "GB/s",
     "load_gbps", "MXNet 1.9.1 mx.nd.load", "mxnet_load_gbps", "higher"),
    ("FullyConnected fwd+bwd, batch 256, 784->1024, float32", "ms",
     "fc_ms", "MXNet 1.9.1 executor", "mxnet_fc_ms", "lower"),
    ("Convolution fwd+bwd, batch 64, 3x32x32 -> 64x3x3 pad 1, float32", "ms",
     "conv_ms", "MXNet 1.9.1 executor", "mxnet_conv_ms", "lower"),
    ("BatchNorm train fwd+bwd, 64x64x32x32, float32", "ms",
     "bn_ms", "MXNet 1.9.1 executor", "mxnet_bn_ms", "lower"),
    ("Pooling max 2x2/2 fwd+bwd, 64x64x32x32, float32", "ms",
     "pool_ms", "MXNet 1.9.1 executor", "mxnet_pool_ms", "lower"),
    ("training step MLP 784-128-64-10, batch 128 (fwd + bwd + SGD momentum + wait)", "ms",
     "mlp_train_step_ms", "MXNet 1.9.1 simple_bind + mx.optimizer SGD updater",
     "mxnet_mlp_train_step_ms", "lower"),
    ("training step LeNet, batch 128 (fwd + bwd + SGD momentum + wait)", "ms",
     "lenet_train_step_ms", "MXNet 1.9.1 simple_bind + mx.optimizer SGD updater",
     "mxnet_lenet_train_step_ms", "lower"),
    ("ResNet-50 infer_shape, data (32,3,224,224)", "ms",
     "resnet50_infer_shape_ms", "MXNet 1.9.1 sym.infer_shape", "mxnet_resnet50_infer_shape_ms",
     "lower"),
    ("ResNet-50 simple_bind, grad_req write, data (32,3,224,224): plan + allocate", "ms",
     "resnet50_simple_bind_ms", "MXNet 1.9.1 sym.simple_bind", "mxnet_resnet50_simple_bind_ms",
     "lower"),
    ("ResNet-50 MakePlan (infer + gradient graph + memory plan, no allocation; info)", "ms",
     "resnet50_make_plan_ms", "MXNet 1.9.1 sym.simple_bind (also allocates)",
     "mxnet_resnet50_simple_bind_ms", "lower"),
    ("ResNet-18 training executor intermediates, batch 32: planned vs unplanned", "MiB",
     "resnet18_planned_mib", "mxgrid, every array on its own", "resnet18_unplanned_mib",
     "lower"),
    ("MLP 784-128-64-10 training executor intermediates, batch 128: planned vs unplanned",
     "MiB", "mlp_planned_mib", "mxgrid, every array on its own", "mlp_unplanned_mib", "lower"),
    ("ResNet-18 training executor intermediates, batch 32 (vs MXNet)", "MiB",
     "resnet18_planned_mib", "MXNet 1.9.1 debug_str Total MB allocated (whole MiB)",
     "mxnet_resnet18_allocated_mib", "lower"),
    # tests/bench/net_bench: the worker process over loopback TCP vs a bare gRPC echo service.
    ("worker Invoke round trip, elemwise_add of 1-element arrays, new output, Free every 100 "
     "(target ratio <= 1.5)", "us",
     "net_invoke_us", "bare gRPC unary Ping, same request/response bytes", "net_ping_us",
     "lower"),
    ("worker InvokeBatch, batches of 1000 small ops, one connection, incl. final Wait "
     "(target >= 20,000 ops/s)", "ops/s",
     "net_invoke_batch_ops_per_s", "bare gRPC unary Ping carrying the same batch bytes",
     "net_ping_batch_ops_per_s", "higher"),
    ("worker InvokeStream, batches of 1000 small ops, one connection, incl. final Wait "
     "(target >= 20,000 ops/s)", "ops/s",
     "net_invoke_stream_ops_per_s", "bare gRPC unary Ping carrying the same batch bytes",
     "net_ping_batch_ops_per_s", "higher"),
    ("worker UploadStream 256 MiB float32, 2 MiB chunks (target ratio >= 0.7)", "GB/s",
     "net_upload_gbps", "bare gRPC client stream of the same chunks into one buffer",
     "net_echo_upload_gbps", "higher"),
    ("worker DownloadStream 256 MiB float32, 2 MiB chunks (target ratio >= 0.7)", "GB/s",
     "net_download_gbps", "bare gRPC server stream of the same chunks from one buffer",
     "net_echo_download_gbps", "higher"),
]


def machine():
    cores = os.cpu_count()
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.system()} {cores} cores {model}".strip()


def main(run_dir, json_path, md_path):
    rows, metrics = [], {}
    for path in sorted(glob.glob(os.path.join(run_dir, "*.jsonl"))):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                obj = json.loads(line)
                if "name" in obj:
                    rows.append(obj)
                elif "metric" in obj:
                    metrics[obj["metric"]] = obj["value"]
    for name, unit, mine, peer, peer_metric, better in PAIRS:
        if mine in metrics and peer_metric in metrics:
            rows.append({"name": name, "unit": unit, "mxgrid": metrics[mine], "peer": peer,
                         "peer_value": metrics[peer_metric], "better": better})
    host = machine()
    today = datetime.date.today().isoformat()
    for row in rows:
        row["ratio"] = row["mxgrid"] / row["peer_value"] if row["peer_value"] else None
        row.setdefault("machine", host)
        row["date"] = today
    old = []
    if os.path.exists(json_path):
        with open(json_path) as f:
            old = json.load(f)
    fresh = {(r["name"], r["machine"]) for r in rows}
    merged = [r for r in old if (r["name"], r["machine"]) not in fresh] + rows
    with open(json_path, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    write_markdown(merged, md_path)
    for r in rows:
        print(f"{r['name']}: {r['mxgrid']:.4g} {r['unit']} vs {r['peer']} "
              f"{r['peer_value']:.4g} -> ratio {r['ratio']:.3f}")


def fmt(v):
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def write_markdown(rows, md_path):
    # Keep the hand-written notes above the generated table.
    head = "# Benchmarks\n\n"
    marker = "<!-- generated by tools/bench_report.py: rows below are rewritten -->"
    if os.path.exists(md_path):
        with open(md_path) as f:
            text = f.read()
        if marker in text:
            head = text.split(marker)[0]
    lines = [marker, "",
             "| benchmark | unit | mxgrid | peer | peer value | ratio | better | machine | date |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | --- | --- |"]
    for r in rows:
        ratio = f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-"
        lines.append(f"| {r['name']} | {r['unit']} | {fmt(r['mxgrid'])} | {r['peer']} | "
                     f"{fmt(r['peer_value'])} | {ratio} | {r['better']} | {r['machine']} | "
                     f"{r['date']} |")
    with open(md_path, "w") as f:
        f.write(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])

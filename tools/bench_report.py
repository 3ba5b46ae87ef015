#!/usr/bin/env python3
"""Turns one benchmark run's measurements into rows of docs/benchmarks.json and
docs/benchmarks.md.

Usage: bench_report.py [--partial] RUN_DIR benchmarks.json benchmarks.md

--partial: the run covered some suites only (bench_runner.py --only): its rows replace the
earlier rows of the same machine and name, and the machine's other rows stay.

RUN_DIR/medians.jsonl is tools/bench_runner.py's output: a line with "name" is a finished row
(mxgrid vs a peer measured in the same program); a line with "metric" is one figure (the
median over the rounds, with "min", "max" and "runs"; a peer program's metrics are named
"peer:<metric>"), paired below into rows. Every row carries its "spread": the min and max of
each side over the rounds. Rows of this run replace every earlier row of the same machine
(benchmarks that no longer exist go with them); rows of other machines (the GPU machine) are
kept.
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
     "add_new_gbps", "MXNet 1.9.1 mx.nd a + b", "peer:mxnet_add_new_gbps", "higher"),
    ("elementwise c = a + b, 16M float32, into existing c (vs MXNet)", "GB/s",
     "add_into_gbps", "MXNet 1.9.1 elemwise_add(out=c)", "peer:mxnet_add_into_gbps", "higher"),
    ("save 256 MiB of arrays (vs plain file write)", "GB/s",
     "save_gbps", "write() of the same 256 MiB", "file_write_gbps", "higher"),
    ("load 256 MiB of arrays (vs plain file read)", "GB/s",
     "load_gbps", "read() of the same 256 MiB", "file_read_gbps", "higher"),
    ("save 256 MiB of arrays (vs MXNet)", "GB/s",
     "save_gbps", "MXNet 1.9.1 mx.nd.save", "peer:mxnet_save_gbps", "higher"),
    ("load 256 MiB of arrays (vs MXNet)", "GB/s",
     "load_gbps", "MXNet 1.9.1 mx.nd.load", "peer:mxnet_load_gbps", "higher"),
    ("FullyConnected fwd+bwd, batch 256, 784->1024, float32", "ms",
     "fc_ms", "MXNet 1.9.1 executor", "peer:mxnet_fc_ms", "lower"),
    ("Convolution fwd+bwd, batch 64, 3x32x32 -> 64x3x3 pad 1, float32", "ms",
     "conv_ms", "MXNet 1.9.1 executor", "peer:mxnet_conv_ms", "lower"),
    ("BatchNorm train fwd+bwd, 64x64x32x32, float32", "ms",
     "bn_ms", "MXNet 1.9.1 executor", "peer:mxnet_bn_ms", "lower"),
    ("Pooling max 2x2/2 fwd+bwd, 64x64x32x32, float32", "ms",
     "pool_ms", "MXNet 1.9.1 executor", "peer:mxnet_pool_ms", "lower"),
    ("RNN lstm fwd+bwd, sequence 35, batch 32, 256 -> 256, 1 layer, float32 (target <= 1.0)",
     "ms", "lstm_ms", "MXNet 1.9.1 executor", "peer:mxnet_lstm_ms", "lower"),
    ("LayerNorm fwd+bwd, 128x1024, float32 (target <= 1.0)", "ms",
     "layernorm_ms", "MXNet 1.9.1 executor", "peer:mxnet_layernorm_ms", "lower"),
    ("Convolution 3-D fwd+bwd, batch 8, 16x16x32x32 -> 32x3x3x3 pad 1, float32 (target <= 1.0)",
     "ms", "conv3d_ms", "MXNet 1.9.1 executor", "peer:mxnet_conv3d_ms", "lower"),
    ("topk k=10 values fwd+bwd, 256x1000, float32 (target <= 1.0)", "ms",
     "topk_ms", "MXNet 1.9.1 executor", "peer:mxnet_topk_ms", "lower"),
    ("sort fwd+bwd, 256x1000, float32 (target <= 1.0)", "ms",
     "sort_ms", "MXNet 1.9.1 executor", "peer:mxnet_sort_ms", "lower"),
    ("training step MLP 784-128-64-10, batch 128 (fwd + bwd + SGD momentum + wait)", "ms",
     "mlp_train_step_ms", "MXNet 1.9.1 simple_bind + mx.optimizer SGD updater",
     "peer:mxnet_mlp_train_step_ms", "lower"),
    ("training step LeNet, batch 128 (fwd + bwd + SGD momentum + wait)", "ms",
     "lenet_train_step_ms", "MXNet 1.9.1 simple_bind + mx.optimizer SGD updater",
     "peer:mxnet_lenet_train_step_ms", "lower"),
    ("ResNet-50 infer_shape, data (32,3,224,224)", "ms",
     "resnet50_infer_shape_ms", "MXNet 1.9.1 sym.infer_shape", "peer:mxnet_resnet50_infer_shape_ms",
     "lower"),
    ("ResNet-50 simple_bind, grad_req write, data (32,3,224,224): plan + allocate", "ms",
     "resnet50_simple_bind_ms", "MXNet 1.9.1 sym.simple_bind", "peer:mxnet_resnet50_simple_bind_ms",
     "lower"),
    ("ResNet-50 MakePlan (infer + gradient graph + memory plan, no allocation; info)", "ms",
     "resnet50_make_plan_ms", "MXNet 1.9.1 sym.simple_bind (also allocates)",
     "peer:mxnet_resnet50_simple_bind_ms", "lower"),
    ("ResNet-18 training executor intermediates, batch 32: planned vs unplanned", "MiB",
     "resnet18_planned_mib", "mxgrid, every array on its own", "resnet18_unplanned_mib",
     "lower"),
    ("MLP 784-128-64-10 training executor intermediates, batch 128: planned vs unplanned",
     "MiB", "mlp_planned_mib", "mxgrid, every array on its own", "mlp_unplanned_mib", "lower"),
    ("ResNet-18 training executor intermediates, batch 32 (vs MXNet)", "MiB",
     "resnet18_planned_mib", "MXNet 1.9.1 debug_str Total MB allocated (whole MiB)",
     "peer:mxnet_resnet18_allocated_mib", "lower"),
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
    # tests/bench/user_code_bench.py: the same MXNet 1.x source under `import mxgrid as mx`
    # (embedded cluster, defaults) and `import mxnet as mx`, each in its own process.
    ("user code: MLP 784-128-64-10 Module forward_backward + update + update_metric, "
     "batch 128 (target <= 1.0)", "ms", "user_mlp_step_b128_ms", "MXNet 1.9.1 in process",
     "peer:user_mlp_step_b128_ms", "lower"),
    ("user code: MLP 784-128-64-10 Module forward_backward + update + update_metric, "
     "batch 1024 (target <= 1.0)", "ms", "user_mlp_step_b1024_ms", "MXNet 1.9.1 in process",
     "peer:user_mlp_step_b1024_ms", "lower"),
    ("user code: tiny c = a + b on 1-element arrays, per call (target <= 1.0)", "us",
     "user_tiny_add_us", "MXNet 1.9.1 in process", "peer:user_tiny_add_us", "lower"),
    ("user code: c = a + b on 16M float32, new output each call, waited (target <= 1.0)",
     "ms", "user_add16m_new_ms", "MXNet 1.9.1 in process", "peer:user_add16m_new_ms",
     "lower"),
    ("user code: page faults per c = a + b on 16M float32, new output (all processes)",
     "faults", "user_add16m_new_faults", "MXNet 1.9.1 in process",
     "peer:user_add16m_new_faults", "lower"),
    ("user code: mx.nd.array(x).asnumpy() of 256 MiB, round trip (vs MXNet)", "GB/s",
     "user_roundtrip_256mib_gbps", "MXNet 1.9.1 in process",
     "peer:user_roundtrip_256mib_gbps", "higher"),
    ("user code: mx.rnn 2-layer LSTM unrolled 35 steps, list_arguments + infer_shape, "
     "per graph (target <= 1.0)", "ms", "user_lstm_symbol_ms", "MXNet 1.9.1 in process",
     "peer:user_lstm_symbol_ms", "lower"),
    # tests/bench/transfer_bench.py: 256 MiB mx.nd.array(x).asnumpy() on the embedded cluster.
    ("256 MiB round trip through shared memory (vs memcpy; target >= 0.5)", "GB/s",
     "transfer_shm_gbps", "np.copyto of 256 MiB, peer process", "peer:transfer_memcpy_gbps",
     "higher"),
    ("256 MiB round trip through shared memory of a named array, a = mx.nd.array(x); "
     "a.asnumpy() (two copies; vs memcpy)", "GB/s", "transfer_shm_named_gbps",
     "np.copyto of 256 MiB, peer process", "peer:transfer_memcpy_gbps", "higher"),
    ("256 MiB round trip through the gRPC streams, MXGRID_SHM=0 (vs a bare gRPC stream; "
     "target >= 0.8)", "GB/s", "transfer_grpc_gbps",
     "bare gRPC Python stream of the same bytes, peer process", "peer:transfer_bare_grpc_gbps",
     "higher"),
    ("page faults per 256 MiB round trip, client + worker: shared memory vs gRPC streams",
     "faults", "transfer_shm_faults", "the same round trip through the gRPC streams",
     "transfer_grpc_faults", "lower"),
    # tests/bench/first_result_bench.py: the one-line script, whole process.
    ("one-line script import + mx.nd.ones((2,)).asnumpy(), wall time of the process "
     "(target <= 1.0)", "s", "startup_wall_s", "MXNet 1.9.1", "peer:startup_wall_s", "lower"),
    ("one-line script: import + first result, from the interpreter's start (the first "
     "result after the import: target <= 0.5 s)", "s", "startup_to_first_result_s",
     "MXNet 1.9.1", "peer:startup_to_first_result_s", "lower"),
    # tests/bench/dist_kvstore_bench.py: 2 workers x 2 servers on loopback, each side's
    # processes started fresh (mxgrid: tools/launch; MXNet: scheduler, servers, workers).
    ("dist_sync push+pull of a 100 MB float32 model as 20 arrays (split across both "
     "servers), 2 workers x 2 servers, per worker (target >= 1.5)", "GB/s",
     "dist_push_pull_20_gbps", "MXNet 1.9.1 dist_sync over ps-lite",
     "peer:dist_push_pull_20_gbps", "higher"),
    ("dist_sync push+pull of a 100 MB float32 model as 2,000 arrays, 2 workers x 2 servers, "
     "per worker (target >= 1.5)", "GB/s", "dist_push_pull_2000_gbps",
     "MXNet 1.9.1 dist_sync over ps-lite", "peer:dist_push_pull_2000_gbps", "higher"),
    ("dist_sync row_sparse push + row_sparse_pull of 1,024 rows of a 100,000 x 128 float32 "
     "embedding (split across both servers), lazy SGD on the servers, 2 workers x 2 servers, "
     "per step", "ms",
     "dist_row_sparse_step_ms", "MXNet 1.9.1 dist_sync over ps-lite",
     "peer:dist_row_sparse_step_ms", "lower"),
    ("dist_sync training step MLP 784-128-64-10, batch 128 per worker, 2 workers x 2 servers "
     "(Module forward_backward + update, SGD momentum on the servers)", "ms",
     "dist_train_step_ms", "MXNet 1.9.1 dist_sync Module over ps-lite",
     "peer:dist_train_step_ms", "lower"),
    # tests/bench/idle_bench.py
    ("idle CPU after some work, session open: compiler + worker + kvstore + client "
     "(target < 1%)", "% of a core", "idle_cpu_percent", "MXNet 1.9.1 process, engine open",
     "peer:idle_cpu_percent", "lower"),
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
    isa = "AVX2"
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
        isa = "AVX-512" if " avx512f" in flags else ("AVX2" if " avx2" in flags else "SSE")
    except OSError:
        pass
    return f"{platform.system()} {cores} cores {model} ({isa})".strip()


def spread_of(entry):
    return [entry["min"], entry["max"]] if "min" in entry else [entry["value"]] * 2


def main(run_dir, json_path, md_path, partial=False):
    rows, metrics = [], {}
    with open(os.path.join(run_dir, "medians.jsonl")) as f:
        for line in f:
            obj = json.loads(line)
            if obj.get("trial"):
                sys.exit("bench_report: a --trial run (servers may have been alive while "
                         "peers ran) is not recorded")
            if "name" in obj:
                rows.append(obj)
            elif "metric" in obj:
                metrics[obj["metric"]] = obj
    for name, unit, mine, peer, peer_metric, better in PAIRS:
        if mine in metrics and peer_metric in metrics:
            m, p = metrics[mine], metrics[peer_metric]
            rows.append({"name": name, "unit": unit, "mxgrid": m["value"], "peer": peer,
                         "peer_value": p["value"], "better": better,
                         "spread": {"mxgrid": spread_of(m), "peer": spread_of(p),
                                    "runs": min(m.get("runs", 1), p.get("runs", 1))}})
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
    machines = {r["machine"] for r in rows}
    # Same machine: the same name, or the name before the ISA was added to it.
    stale = lambda m: m in machines or any(n.startswith(m + " (") for n in machines)  # noqa
    names = {r["name"] for r in rows}
    if partial:
        merged = [r for r in old if not (stale(r["machine"]) and r["name"] in names)] + rows
    else:
        merged = [r for r in old if not stale(r["machine"])] + rows
    with open(json_path, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    write_markdown(merged, md_path)
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.3f}"
        print(f"{r['name']}: {r['mxgrid']:.4g} {r['unit']} vs {r['peer']} "
              f"{r['peer_value']:.4g} -> ratio {ratio}")


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
             "| benchmark | unit | mxgrid (min-max) | peer | peer value (min-max) | ratio | "
             "better | runs | machine | date |",
             "| --- | --- | ---: | --- | ---: | ---: | --- | ---: | --- | --- |"]
    for r in rows:
        ratio = f"{r['ratio']:.3f}" if r.get("ratio") is not None else "-"
        spread = r.get("spread") or {}
        mine, peer = fmt(r["mxgrid"]), fmt(r["peer_value"])
        if spread:
            mine += " (%s-%s)" % tuple(fmt(v) for v in spread["mxgrid"])
            peer += " (%s-%s)" % tuple(fmt(v) for v in spread["peer"])
        lines.append(f"| {r['name']} | {r['unit']} | {mine} | {r['peer']} | {peer} | {ratio} | "
                     f"{r['better']} | {spread.get('runs', 1)} | {r['machine']} | "
                     f"{r['date']} |")
    with open(md_path, "w") as f:
        f.write(head + "\n".join(lines) + "\n")


if __name__ == "__main__":
    args = sys.argv[1:]
    partial = "--partial" in args
    args = [a for a in args if a != "--partial"]
    if len(args) != 3:
        sys.exit(__doc__)
    main(*args, partial=partial)

#!/usr/bin/env python3
"""Time to first result: the one-line script `import mx; print(mx.nd.ones((2,)).asnumpy())`
under `import mxnet as mx` or `import mxgrid as mx` (embedded cluster, defaults).

Usage: first_result_bench.py mxnet|mxgrid
tools/bench_runner.py times this whole process (start to exit: the wall time users see,
shutdown included) as metric startup_wall_s; the script itself prints the import time and the
time from the end of the import to the first result:
  startup_import_s, startup_first_result_s, startup_to_first_result_s (their sum)
({"metric", "value", "unit"} lines on stdout)
"""
import json
import os
import sys
import time

tic = time.perf_counter()
if sys.argv[1:2] == ["mxgrid"]:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "clients", "python"))
    import mxgrid as mx
else:
    import mxnet as mx
imported = time.perf_counter()
print(mx.nd.ones((2,)).asnumpy(), file=sys.stderr)
first = time.perf_counter()
for metric, value in (("startup_import_s", imported - tic),
                      ("startup_first_result_s", first - imported),
                      ("startup_to_first_result_s", first - tic)):
    print(json.dumps({"metric": metric, "value": round(value, 4), "unit": "s"}), flush=True)

"""mx.mon.Monitor: statistics of every operator output (and of the arguments) of the
executors it is installed on, for debugging training, as MXNet 1.9.1's.

    mon = mx.mon.Monitor(100, pattern='.*weight|.*output')
    mod.install_monitor(mon)
    mon.tic(); mod.forward_backward(batch); mod.update()
    for step, name, value in mon.toc():          # (1, 'fc1_output', '0.38\\t')
        print(step, name, value)

Between tic() and toc() of a monitored step, the worker copies each operator's outputs right
after the operator runs (Executor.set_monitor_callback); ``stat_func`` then reduces each copy
whose name matches ``pattern`` (Python's re.match) on the worker, and toc() brings the
statistics back. Outside monitored steps nothing is copied.

Thread-safety: not thread-safe (as MXNet's).
"""
import logging
import math
import re

from . import ndarray

__all__ = ["Monitor"]


def _norm_stat(x):
    """MXNet's default statistic: ||x||_2 / sqrt(size)."""
    return ndarray.norm(x) / math.sqrt(x.size)


class Monitor:
    """Collects ``stat_func`` of the outputs (and arguments, auxiliary states) whose names
    match ``pattern``, every ``interval`` steps."""

    def __init__(self, interval, stat_func=None, pattern=".*", sort=False, monitor_all=False):
        self.stat_func = stat_func if stat_func is not None else _norm_stat
        self.interval = interval
        self.activated = False
        self.queue = []
        self.step = 0
        self.exes = []
        self.re_prog = re.compile(pattern)
        self.sort = sort
        self.monitor_all = monitor_all

        def stat_helper(name, array):
            if not self.activated or not self.re_prog.match(name):
                return
            self.queue.append((self.step, name, self.stat_func(array)))
        # The executor asks for copies only while a step is being monitored.
        stat_helper._mxgrid_wanted = lambda: self.activated
        self.stat_helper = stat_helper

    def install(self, exe):
        """Monitors executor ``exe`` (several may be installed)."""
        exe.set_monitor_callback(self.stat_helper, self.monitor_all)
        self.exes.append(exe)

    def tic(self):
        """Starts a step: monitored when the step count is a multiple of ``interval``."""
        if self.step % self.interval == 0:
            self.queue = []
            self.activated = True
        self.step += 1

    def toc(self):
        """Ends the step: [(step, name, 'value\\t...')] for the outputs seen since tic() and
        the current arguments and auxiliary states, sorted by name with ``sort``."""
        if not self.activated:
            return []
        for exe in self.exes:
            arg_names = exe._symbol.list_arguments()
            for name, array in zip(arg_names, exe.arg_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
            aux_names = exe._symbol.list_auxiliary_states()
            for name, array in zip(aux_names, exe.aux_arrays):
                if self.re_prog.match(name):
                    self.queue.append((self.step, name, self.stat_func(array)))
        self.activated = False
        if self.sort:
            self.queue.sort(key=lambda entry: entry[1])
        res = []
        for step, name, values in self.queue:
            if isinstance(values, ndarray.NDArray):
                values = [values]
            if not isinstance(values, list):
                raise TypeError("stat_func must return an NDArray or a list of NDArrays, "
                                "got %s" % type(values).__name__)
            text = ""
            for value in values:
                if not isinstance(value, ndarray.NDArray):
                    raise TypeError("stat_func must return NDArrays, got %s"
                                    % type(value).__name__)
                if value.shape == (1,) or value.shape == ():
                    text += str(value.asscalar()) + "\t"
                else:
                    text += str(value.asnumpy()) + "\t"
            res.append((step, name, text))
        self.queue = []
        return res

    def toc_print(self):
        """toc(), logged one line per statistic."""
        for step, name, value in self.toc():
            logging.info("Batch: %7d %30s %s", step, name, value)

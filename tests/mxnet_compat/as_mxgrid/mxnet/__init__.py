"""`import mxnet` as mxgrid, for running MXNet's own unit tests unchanged
(tests/mxnet_compat/run_compat.py puts as_mxgrid/ first on sys.path).

`mxnet` becomes the mxgrid module itself and every `mxnet.X` the module `mxgrid.X`, so
`mxnet.ndarray.NDArray is mxgrid.ndarray.NDArray` (no second copy of any module). A
submodule mxgrid lacks fails to import, as it would against a build of MXNet without it.
"""
import importlib
import importlib.abc
import importlib.util
import sys

import mxgrid


# Modules MXNet's test files import at module level but whose tests (that run here) never
# use, which mxgrid does not have: the harness's import-only stand-ins (see each file).
_IMPORT_ONLY = {
    "mxnet.contrib": None,  # a plain package holding the stand-ins below
    "mxnet.contrib.amp": "amp",
    "mxnet.contrib.amp.amp": "amp",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `mxnet.X` as `mxgrid.X` (or as a harness stand-in, _IMPORT_ONLY)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith("mxnet."):
            return importlib.util.spec_from_loader(
                fullname, self, is_package=fullname in ("mxnet.contrib", "mxnet.contrib.amp"))
        return None

    def create_module(self, spec):
        if spec.name in _IMPORT_ONLY:
            stand_in = _IMPORT_ONLY[spec.name]
            if stand_in is None:
                return None  # the default: an empty module
            return importlib.import_module("import_only." + stand_in)
        return importlib.import_module("mxgrid" + spec.name[len("mxnet"):])

    def exec_module(self, module):
        pass  # imported as mxgrid.X already


sys.meta_path.insert(0, _Alias())
sys.modules[__name__] = mxgrid

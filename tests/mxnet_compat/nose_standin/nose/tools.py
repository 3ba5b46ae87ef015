"""nose.tools as MXNet 1.9.1's unit tests use it: assert_raises, raises, make_decorator,
and the unittest-style assert_* names (assert_equal, ...)."""
import functools
import unittest

__all__ = ["assert_raises", "raises", "make_decorator", "ok_", "eq_"]

_case = unittest.TestCase("__init__")
_case.maxDiff = None
# assert_equal, assert_true, assert_raises, ... from unittest's assertEqual, assertTrue, ...
for _name in dir(_case):
    if _name.startswith("assert") and "_" not in _name and _name != "assert_":
        _snake = "assert" + "".join("_" + c.lower() if c.isupper() else c
                                    for c in _name[len("assert"):])
        globals()[_snake] = getattr(_case, _name)
        __all__.append(_snake)


def ok_(expr, msg=None):
    if not expr:
        raise AssertionError(msg)


def eq_(a, b, msg=None):
    if not a == b:
        raise AssertionError(msg or "%r != %r" % (a, b))


def make_decorator(func):
    """Makes a decorator keep func's name and attributes (nose's helper)."""
    def decorate(newfunc):
        functools.update_wrapper(newfunc, func)
        return newfunc
    return decorate


def raises(*exceptions):
    """The test passes only when it raises one of `exceptions`."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                func(*args, **kwargs)
            except exceptions:
                return
            raise AssertionError("%s did not raise %s" % (
                func.__name__, " or ".join(e.__name__ for e in exceptions)))
        return wrapper
    return decorate

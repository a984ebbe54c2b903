"""Every exported module imports, and the package carries no nbdev dependency at run time."""
import importlib
import pkgutil

import morebench


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(morebench.__path__, "morebench.")]
    assert names, "no modules exported"
    for name in names:
        importlib.import_module(name)


def test_version():
    assert morebench.__version__

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


def test_console_scripts_resolve():
    """Every console script in settings.ini names an importable function (the wheel's entry points)."""
    from configparser import ConfigParser
    from pathlib import Path

    cfg = ConfigParser(delimiters=["="])
    cfg.read(Path(__file__).resolve().parent.parent / "settings.ini", encoding="utf-8")
    scripts = cfg["DEFAULT"]["console_scripts"].split()
    assert scripts
    for script in scripts:
        name, _, target = script.partition("=")
        mod, _, fn = target.partition(":")
        assert callable(getattr(importlib.import_module(mod), fn)), script

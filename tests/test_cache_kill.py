"""A cache build killed with SIGKILL leaves no folder that is later trusted, and the next build cleans up after it."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from morebench.data.cache import build_cache, open_cache

# The child builds a cache whose loader, at the 6th image, writes a marker and blocks forever: the parent kills it
# only once the build is provably mid-way (no sleeps racing the kill, whatever the machine's load).
CHILD = """
import pathlib, sys, threading
from morebench.data.cache import build_cache, default_loader
from morebench.data.cxr import CXRPreprocessConfig
base = default_loader("xray", CXRPreprocessConfig())
calls = []
def blocking(p):
    calls.append(p)
    if len(calls) == 6:
        pathlib.Path(sys.argv[1] + ".ready").write_text("5 images loaded")
        threading.Event().wait()  # never returns: the parent SIGKILLs us here
    return base(p)
files = sys.argv[2:]
build_cache(files, "xray", cache_dir=sys.argv[1], loader=blocking, progress=False)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_build_is_never_trusted(tmp_path):
    files = []
    for i in range(20):
        files.append(str(tmp_path / f"img{i}.png"))
        Image.fromarray(np.full((32, 32), 10 * i, np.uint8)).save(files[-1])
    cache_dir = tmp_path / "cache"
    ready = tmp_path / "cache.ready"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cache_dir), *files])
    try:
        deadline = time.monotonic() + 300
        while not ready.exists():  # the child is blocked inside its 6th load once the marker exists
            assert proc.poll() is None, f"cache build exited ({proc.returncode}) before reaching the blocking load"
            assert time.monotonic() < deadline, "cache build never reached its 6th image"
            time.sleep(0.05)
        assert any(p.name.startswith(".tmp-") for p in cache_dir.iterdir())  # the build is mid-way in a temp folder
    finally:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in cache_dir.iterdir()]
    assert left and all(n.startswith(".tmp-") for n in left), left  # only the temp folder, never a final one
    assert open_cache(files, "xray", cache_dir=cache_dir) is None
    c = build_cache(files, "xray", cache_dir=cache_dir, progress=False)
    assert len(c) == 20
    assert [p.name for p in cache_dir.iterdir()] == [c.folder.name]  # the dead build's temp folder is gone

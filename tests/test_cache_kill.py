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

CHILD = """
import sys, time
from morebench.data.cache import build_cache, default_loader
from morebench.data.cxr import CXRPreprocessConfig
base = default_loader("xray", CXRPreprocessConfig())
def slow(p):
    time.sleep(0.2)
    return base(p)
files = sys.argv[2:]
build_cache(files, "xray", cache_dir=sys.argv[1], loader=slow, progress=False)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_build_is_never_trusted(tmp_path):
    files = []
    for i in range(20):
        files.append(str(tmp_path / f"img{i}.png"))
        Image.fromarray(np.full((32, 32), 10 * i, np.uint8)).save(files[-1])
    cache_dir = tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(cache_dir), *files])
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until the build has started writing
        if cache_dir.is_dir() and any(p.name.startswith(".tmp-") and (p / "data.npy").exists()
                                      for p in cache_dir.iterdir()):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = [p.name for p in cache_dir.iterdir()]
    assert left and all(n.startswith(".tmp-") for n in left), left  # only the temp folder, never a final one
    assert open_cache(files, "xray", cache_dir=cache_dir) is None
    c = build_cache(files, "xray", cache_dir=cache_dir, progress=False)
    assert len(c) == 20
    assert [p.name for p in cache_dir.iterdir()] == [c.folder.name]  # the dead build's temp folder is gone

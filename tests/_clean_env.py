"""Helpers for tests that start the `morebench` command in a subprocess as a user would."""
import os
from pathlib import Path

from morebench.bench import TOOL_DIR_VARS

REPO = Path(__file__).resolve().parent.parent


def user_env(home: Path, scratch: Path | None = None, keep_pythonpath: bool = False) -> dict[str, str]:
    """os.environ with HOME replaced (for the subprocess only), our tool-dir variables unset (so the command's own
    defaults are exercised), PYTHONPATH dropped unless asked for, and MOREBENCH_SCRATCH pointed at `scratch`."""
    env = {k: v for k, v in os.environ.items() if k not in TOOL_DIR_VARS and not k.startswith("XDG_")}
    env["HOME"] = str(home)
    if scratch is not None:
        env["MOREBENCH_SCRATCH"] = str(scratch)
    if not keep_pythonpath:
        env.pop("PYTHONPATH", None)
    return env


def files_under(folder: Path) -> list[str]:
    """Every path under `folder`, relative, sorted (empty list: nothing was written there)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

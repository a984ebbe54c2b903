"""CinC 2021 on the real 50-record sample: Dx codes mapped with the challenge's tables, counts recomputed
independently from the headers, items of the Dataset, and a truncated .mat reported."""
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from morebench.utils import shared_data_dir

DATA = shared_data_dir()
CINC = DATA / "cinc2021_sample" if DATA is not None else None
pytestmark = pytest.mark.skipif(CINC is None or not CINC.is_dir(), reason="../shared/data/cinc2021_sample not available")


def reference_counts():
    """Abbreviation counts straight from the '# Dx:' lines and the two dx_mapping tables."""
    m = pd.concat([pd.read_csv(CINC / f"dx_mapping/dx_mapping_{k}.csv", dtype={"SNOMEDCTCode": str})
                   for k in ("scored", "unscored")])
    abbr = dict(zip(m.SNOMEDCTCode, m.Abbreviation))
    counts = Counter()
    for hea in sorted((CINC / "records").glob("*.hea")):
        dx = next(line.split(":", 1)[1] for line in hea.read_text().splitlines() if line.startswith("# Dx:"))
        counts.update({abbr[c.strip()] for c in dx.split(",")})
    return counts


def test_summary_matches_headers():
    r = subprocess.run([sys.executable, "-m", "morebench.cli", "data", "summary", "cinc2021", "--root", str(CINC),
                        "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert (s["dataset"], s["task"], s["records"], s["unreadable"]) == ("cinc2021", "all", 50, [])
    assert s["splits"] == {"train": 50, "val": 0, "test": 0}
    assert {k: v["total"] for k, v in s["labels"].items()} == dict(reference_counts())
    assert s["labels"]["STach"]["total"] == 23 and s["descriptions"]["STach"] == "sinus tachycardia"
    assert s["unmapped"] == []


def test_scored_task_merges_equivalent_codes():
    from morebench.data.cinc import build_cinc_index

    index, names, bad = build_cinc_index(CINC, "scored")
    weights = pd.read_csv(CINC / "dx_mapping/weights_abbreviations.csv", index_col=0, nrows=0).columns
    assert set(names) <= set(weights) and bad == []
    all_index, _, _ = build_cinc_index(CINC, "all")
    assert len(index) <= len(all_index)
    pac = [r for r in all_index.itertuples() if "PAC" in r.labels]
    assert pac and all("PAC|SVPB" in index.set_index("record").at[r.record, "labels"] for r in pac)


def _two_record_copy(tmp_path):
    """A CinC folder with two real records (E07500, JS20000) and the dx tables, to damage in a test."""
    root = tmp_path / "cinc"
    shutil.copytree(CINC / "dx_mapping", root / "dx_mapping")
    (root / "records").mkdir()
    for name in ("E07500", "JS20000"):
        for ext in ("hea", "mat"):
            shutil.copy(CINC / f"records/{name}.{ext}", root / "records")
    return root


def test_dataset_items_and_truncated_mat(tmp_path):
    from morebench.data.cinc import CinCDataset, summarize
    from morebench.data.base import collate

    ds = CinCDataset(CINC)
    batch = collate([ds[i] for i in range(3)])
    assert batch["ecg"].shape == (3, 12, 1000)
    assert batch["labels"].shape == (3, len(ds.label_names)) and (batch["labels"].sum(1) >= 1).all()
    assert batch["index"].tolist() == [0, 1, 2] and batch["skipped"] == []
    assert batch["text"] == ["", "", ""]

    root = _two_record_copy(tmp_path)
    mat = root / "records/JS20000.mat"
    mat.write_bytes(mat.read_bytes()[:4000])
    s = summarize(root)
    assert s["records"] == 1
    assert [u["path"] for u in s["unreadable"]] == [str(mat)]
    assert s["unreadable"][0]["reason"].startswith("truncated data file") and "(3976 of 120000 bytes)" in s["unreadable"][0]["reason"]


def test_cinc_random_bytes_mat_rejected(tmp_path):
    """A .mat of random bytes of the right size passes the size check; the header's checksums reject it."""
    from morebench.data.base import check_record
    from morebench.data.cinc import CinCDataset, summarize
    from morebench.utils import DataError, Skipped

    root = _two_record_copy(tmp_path)
    mat = root / "records/E07500.mat"
    raw = mat.read_bytes()
    mat.write_bytes(raw[:24] + np.random.default_rng(0).bytes(len(raw) - 24))  # right size, MAT header kept
    check_record(root / "records/E07500")  # the size check alone cannot see it
    s = summarize(root, check="signal")
    assert s["records"] == 1 and [Path(u["path"]).name for u in s["unreadable"]] == ["E07500.mat"], s["unreadable"]
    ds = CinCDataset(root)
    i = ds.index["record"].tolist().index("E07500")
    item = ds[i]
    assert isinstance(item, Skipped) and ("checksum" in item.reason or "first sample" in item.reason), item
    with pytest.raises(DataError, match="E07500.mat"):
        CinCDataset(root, strict=True)[i]

"""The lenient-dataset contract and bad-input faults on copies of the real public samples in ../shared/data: an
unreadable record reaches the main process through `batch["skipped"]` with worker processes, item i is item i, a bug in
an augmentation raises, and a CinC `.mat` of random bytes of the right size is rejected by its header's checksums."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
from torch.utils.data import DataLoader

from morebench.data.base import collate
from morebench.utils import Skipped, shared_data_dir

DATA = shared_data_dir(Path(__file__).parent)
pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data (real public samples) not found")


@pytest.fixture
def small_ptbxl(tmp_path):
    """A PTB-XL folder with the first 8 real records of the sample (100 Hz)."""
    src, root = DATA / "ptbxl", tmp_path / "ptbxl"
    db = pd.read_csv(src / "ptbxl_database.csv").head(8)
    for rel in db["filename_lr"]:
        for ext in (".hea", ".dat"):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / (rel + ext), root / (rel + ext))
    db.to_csv(root / "ptbxl_database.csv", index=False)
    shutil.copy(src / "scp_statements.csv", root / "scp_statements.csv")
    return root


def test_skipped_record_reaches_main_process_with_workers(small_ptbxl):
    from morebench.data.ptbxl import PTBXLDataset

    ds = PTBXLDataset(small_ptbxl, split=None)
    n = len(ds)
    bad = ds.record_path(2)
    with open(f"{bad}.dat", "r+b") as f:  # truncated after indexing: the dataset meets it mid-epoch
        f.truncate(100)
    assert isinstance(ds[2], Skipped) and ds[2].index == 2
    assert [ds[i]["index"] for i in (0, 1, 3)] == [0, 1, 3]  # item i is item i
    batches = list(DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate))
    report = [u for b in batches for u in b["skipped"]]
    assert len(report) == 1 and report[0].path.startswith(str(bad)), report
    assert sorted(i for b in batches for i in b["index"].tolist()) == [i for i in range(n) if i != 2]


def test_augmentation_bug_is_not_an_unreadable_record(small_ptbxl):
    from morebench.data.ptbxl import PTBXLDataset

    ds = PTBXLDataset(small_ptbxl, split=None, augment=lambda x, rng: len(x) + "1")  # TypeError: a bug
    with pytest.raises(TypeError):
        ds[0]
    with pytest.raises(TypeError):
        next(iter(DataLoader(ds, batch_size=2, num_workers=2, collate_fn=collate)))

"""The X-ray dataset layer on the real public samples in ../shared/data: the CheXpert labeler's real output CSV passes
the label check (1 / 0 / -1 / blank), and real chest X-rays of many sizes and modes (COVID-19 image collection, NIH)
go through the preprocessing cache with nothing failed and bit-identical to `load_cxr`."""
from pathlib import Path

import numpy as np
import pytest

from morebench.data.base import collate
from morebench.data.cache import CachedXrayDataset, build_cache
from morebench.data.cxr import load_cxr, normalize_cxr
from morebench.data.mimic_cxr import read_label_csv
from morebench.formats import CHEXPERT_CSV_ORDER as CHEXPERT_OBSERVATIONS
from morebench.utils import shared_data_dir

DATA = shared_data_dir(Path(__file__).parent)
pytestmark = pytest.mark.skipif(DATA is None, reason="../shared/data (real public samples) not found")


def test_chexpert_labeler_output_passes_label_check():
    p = DATA / "report_label_samples" / "chexpert_labeler" / "labeled_reports.csv"
    df = read_label_csv(p, CHEXPERT_OBSERVATIONS, strict=True)
    vals = df[list(CHEXPERT_OBSERVATIONS)].to_numpy()
    assert len(df) > 0 and np.isin(vals[~np.isnan(vals)], [1, 0, -1]).all()
    assert (vals == -1).any() and np.isnan(vals).any()  # the sample has uncertain and blank cells


def test_real_images_through_cache(tmp_path):
    imgs = sorted(p for p in (DATA / "covid_cxr_notes" / "images").iterdir()
                  if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:12]
    imgs += sorted((DATA / "nih_cxr14_samples" / "images").glob("*.png"))
    c = build_cache(imgs, "xray", cache_dir=tmp_path, progress=False)
    assert c.failed == [] and len(c) == len(imgs)
    for i in (0, len(imgs) - 1):
        np.testing.assert_array_equal(normalize_cxr(c.get(imgs[i])), load_cxr(imgs[i]))
    ds = CachedXrayDataset(c)
    b = collate(ds.__getitems__([0, 1, 2]))
    assert tuple(b["xray"].shape) == (3, 3, 224, 224)

"""SYNTHETIC X-rays draw what the report says: a nodule where (side, zone) and as big as the report states, a rib
fracture on the reported side."""
from __future__ import annotations

import re

import numpy as np

from morebench.synth.cxr import render_cxr
from morebench.synth.reports import radiology_report

BASE = dict(view="PA", ctr=0.45, study_id=7, seed=3, rotation=0.0, zoom=1.0, noise=0.0)


def _diff_centre(state, n=256):
    a = render_cxr({**BASE, **state}, 0, n).astype(float)
    b = render_cxr(BASE, 0, n).astype(float)
    d = np.abs(a - b)
    ys, xs = np.nonzero(d > 0.5 * d.max())
    return xs.mean() / n * 2 - 1, ys.mean() / n, (d > 0.5 * d.max()).sum()


def test_nodule_drawn_where_reported():
    small = dict(lung_lesion=True, nodule_x=-0.45, nodule_y=0.35, nodule_cm=1.0)
    big = {**small, "nodule_cm": 2.4}
    x, y, area_small = _diff_centre(small)
    assert abs(x - (-0.45)) < 0.05 and abs(y - (0.35 + 0.0)) < 0.08, (x, y)
    assert _diff_centre(big)[2] > 2 * area_small  # a larger nodule covers more of the film
    said = [x for s in range(6) for x in re.split(r"(?<=[.;])\s+", " ".join(radiology_report({**BASE, **small}, None, s)[0].split()))
            if re.search(r"nodul|mass", x)]
    assert said and all("left" not in x.lower() for x in said), said
    assert any("right upper" in x and "1.0 cm" in x for x in said), said


def test_fracture_drawn_on_reported_side():
    st = dict(fracture=True, fracture_side="left", fracture_y=0.45)
    x, y, _ = _diff_centre(st)
    assert x > 0.5 and abs(y - 0.45) < 0.08, (x, y)  # the patient's left is on the image right
    said = [x for s in range(8) for x in re.split(r"(?<=[.;])\s+", " ".join(radiology_report({**BASE, **st}, None, s)[0].split()))
            if "ractur" in x and "no displaced" not in x.lower()]
    assert said and all(re.search(r"\bleft\b", x) and not re.search(r"\bright\b", x) for x in said), said


def test_pneumothorax_size_from_the_drawing():
    """The report's pneumothorax size follows the pleural gap that is drawn: a wider gap changes more of the film on
    the reported side, and is never called smaller than a narrower one."""
    order = {"tiny": 0, "small": 1, "moderate": 2, "large": 3}
    words, areas = [], []
    for gap in (0.03, 0.08, 0.16, 0.24):
        st = dict(pneumothorax="right", pneumothorax_size=gap)
        x, _, area = _diff_centre(st)
        assert x < 0  # the patient's right is on the image left
        areas.append(area)
        text = " ".join(radiology_report({**BASE, **st}, None, 1)[0].lower().split())
        w = [k for k in order if re.search(rf"\b{k}\b[^.]*pneumothorax", text)]
        cm = re.findall(r"(\d+\.\d) cm", text)
        assert len(w) >= 1, text
        words.append(order[w[0]])
        if cm:  # a measurement, when given, is the drawn gap
            assert abs(float(cm[0]) - gap * 17.5) < 0.06, (cm, gap)
    assert words == sorted(words) and words[0] < words[-1], words
    assert areas == sorted(areas), areas

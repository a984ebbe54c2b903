"""Format fidelity of `morebench.data.cxr` on the real public X-ray samples in ../shared/data, plus files written
here in the formats the samples lack (DICOM MONOCHROME1 with a window and padding, 16-bit PNG, RGBA, palette)."""
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from morebench.data.cxr import CXRAugment, load_cxr, preprocess_cxr, read_cxr
from morebench.utils import DataError, shared_data_dir

DATA = shared_data_dir(Path(__file__).parent)
needs_data = pytest.mark.skipif(DATA is None, reason="../shared/data (real public samples) not found")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _covid_images() -> list[Path]:
    return sorted(p for p in (DATA / "covid_cxr_notes" / "images").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _nih_images() -> list[Path]:
    return sorted((DATA / "nih_cxr14_samples" / "images").glob("*.png"))


def _check_image(path: Path) -> np.ndarray:
    x = read_cxr(path)
    with Image.open(path) as im:
        w, h = im.size
    assert x.dtype == np.float32 and x.shape == (h, w), path
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1, path
    assert x.max() > x.min(), f"{path}: constant image"
    y = preprocess_cxr(x)
    assert y.shape == (3, 224, 224) and y.dtype == np.float32 and np.isfinite(y).all(), path
    assert np.array_equal(y[0], y[1]) and np.array_equal(y[0], y[2])
    # CLAHE output lies in [0, 1] before normalising with mean 0.499, std 0.293
    assert y.min() >= -0.499 / 0.293 - 1e-5 and y.max() <= 0.501 / 0.293 + 1e-5, path
    return x


@needs_data
def test_every_covid_image_loads():
    paths = _covid_images()
    assert len(paths) == 227, len(paths)  # SOURCE.md: 227 images
    modes = Counter()
    for p in paths:
        with Image.open(p) as im:
            modes[im.mode] += 1
        _check_image(p)
    assert {"L", "RGB", "RGBA"} <= set(modes), modes  # the sample really exercises several PIL modes
    # load_cxr (uint8 fast path) agrees with read_cxr + preprocess_cxr (float path) on a real RGBA image
    rgba = next(p for p in paths if Image.open(p).mode == "RGBA")
    a, b = load_cxr(rgba), preprocess_cxr(read_cxr(rgba))
    assert np.abs(a - b).mean() < 0.03  # ~1 grey level in normalised units (1/255/0.293 = 0.013)


@needs_data
def test_nih_pngs_load():
    paths = _nih_images()
    assert len(paths) == 2
    for p in paths:
        x = _check_image(p)
        assert x.shape == (512, 512)
        assert np.array_equal(x, np.asarray(Image.open(p), np.float32) / np.float32(255))  # 8-bit L: exact


@needs_data
def test_16bit_png_keeps_dynamic_range(tmp_path):
    ramp = np.tile(np.linspace(0, 65535, 4096).astype(np.uint16), (8, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    assert Image.open(tmp_path / "ramp16.png").mode.startswith("I;16")
    x = read_cxr(tmp_path / "ramp16.png")
    assert x.min() == 0 and x.max() == 1
    assert len(np.unique(x)) == 4096  # an 8-bit reading would keep at most 256 levels (PIL's convert('L') keeps 2)
    np.testing.assert_allclose(x[0], ramp[0] / 65535, atol=1e-7)
    # a real radiograph re-encoded at 16 bits (v * 257) reads as the same image
    nih = _nih_images()[0]
    x8 = read_cxr(nih)
    Image.fromarray(np.asarray(Image.open(nih)).astype(np.uint16) * 257).save(tmp_path / "nih16.png")
    np.testing.assert_allclose(read_cxr(tmp_path / "nih16.png"), x8, atol=1e-6)
    assert np.isfinite(preprocess_cxr(read_cxr(tmp_path / "nih16.png"))).all()


@needs_data
def test_rgba_palette_la_modes(tmp_path):
    nih = _nih_images()[1]
    gray = np.asarray(Image.open(nih))
    rgb = np.stack([gray] * 3, -1)
    Image.fromarray(np.dstack([rgb, np.full_like(gray, 100)])).save(tmp_path / "rgba.png")  # half transparent
    Image.fromarray(gray).convert("P").save(tmp_path / "p.png")
    Image.fromarray(gray).convert("LA").save(tmp_path / "la.png")
    Image.fromarray(rgb).quantize(64).save(tmp_path / "p64.png")  # 64-colour adaptive palette
    ref = gray / 255
    assert Image.open(tmp_path / "rgba.png").mode == "RGBA" and Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_allclose(read_cxr(tmp_path / "rgba.png"), ref, atol=1e-6)  # alpha ignored, as the paper
    np.testing.assert_allclose(read_cxr(tmp_path / "p.png"), ref, atol=1e-6)
    np.testing.assert_allclose(read_cxr(tmp_path / "la.png"), ref, atol=1e-6)
    p64 = read_cxr(tmp_path / "p64.png")
    assert np.abs(p64 - ref).mean() < 0.02 and np.corrcoef(p64.ravel(), ref.ravel())[0, 1] > 0.99
    for name in ("rgba.png", "p.png", "la.png", "p64.png"):
        assert load_cxr(tmp_path / name).shape == (3, 224, 224)


def _write_dicom(path, stored, photometric, **elements):
    """An uncompressed 12-bit DX DICOM written directly with pydicom (independent of the module's helper)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for k, v in elements.items():
        setattr(ds, k, v)
    ds.PixelData = stored.astype("<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@needs_data
def test_dicom_monochrome1_window_padding(tmp_path):
    # a real radiograph's anatomy as 12-bit MONOCHROME1 (high stored value = dark): stored = 4000 - 15 * v
    v = np.asarray(Image.open(_nih_images()[0])).astype(np.int32)
    stored = (4000 - 15 * v).astype(np.uint16)  # v = 0 → 4000, v = 255 → 175
    stored[:16] = 4095  # padding rows
    path = _write_dicom(tmp_path / "m1.dcm", stored, "MONOCHROME1", WindowCenter=2000, WindowWidth=3000,
                        PixelPaddingValue=4095, RescaleSlope=1, RescaleIntercept=0)
    x = read_cxr(path)
    assert x.shape == stored.shape and x.dtype == np.float32 and np.isfinite(x).all()
    body = x[16:]
    s = stored[16:].astype(float)
    # the darkest stored value (lowest) becomes the brightest pixel, the highest stored value the darkest
    assert body[s == s.min()].min() == body.max()
    assert body[s == s.max()].max() == body.min()
    # inside the window the mapping is the DICOM linear window, inverted: 1 - ((s - 1999.5) / 2999 + 0.5)
    inside = (s > 1999.5 - 1499.5) & (s <= 1999.5 + 1499.5)
    np.testing.assert_allclose(body[inside], 1 - ((s[inside] - 1999.5) / 2999 + 0.5), atol=1e-5)
    assert (body[s <= 500] == 1).all() and (body[s > 3499] == 0).all()  # clipped outside the window
    assert x[:16].max() == 0  # padding → 0, not white
    # and the anatomy reads the same way round as the PNG (bright = dense): strong positive correlation
    assert np.corrcoef(body.ravel(), v[16:].ravel())[0, 1] > 0.95
    y = preprocess_cxr(x)
    assert y.shape == (3, 224, 224) and np.isfinite(y).all()


def test_dicom_high_bits_masked(tmp_path):
    stored = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (4, 1))
    path = _write_dicom(tmp_path / "hb.dcm", stored | 0xA000, "MONOCHROME2")  # garbage above BitsStored = 12
    x = read_cxr(path)
    np.testing.assert_allclose(x[0], stored[0] / stored.max(), atol=1e-6)  # no window: min-max of stored values


@needs_data
def test_bad_input_messages(tmp_path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    real = _covid_images()[0]
    (tmp_path / "cut.jpg").write_bytes(real.read_bytes()[: real.stat().st_size // 3])
    (tmp_path / "report.png").write_text("FINDINGS: no acute cardiopulmonary process.")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR: no pixels
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "SR"
    ds.save_as(tmp_path / "nopixels.dcm", enforce_file_format=True)
    cases = {
        "zero.jpg": "empty file (0 bytes)",
        "cut.jpg": "truncated or corrupt image",
        "report.png": "not an image file",
        "nopixels.dcm": "DICOM file has no pixel data",
        "missing.png": "file not found",
    }
    for name, reason in cases.items():
        with pytest.raises(DataError, match="^" + re.escape(f"{tmp_path / name}: {reason}")):
            read_cxr(tmp_path / name)
        skipped = []
        assert read_cxr(tmp_path / name, strict=False, skipped=skipped) is None
        assert load_cxr(tmp_path / name, strict=False, skipped=skipped) is None
        assert [s.path for s in skipped] == [str(tmp_path / name)] * 2 and reason in skipped[0].reason


@needs_data
def test_augment_on_real_image():
    x = load_cxr(_nih_images()[0], augment=CXRAugment(), rng=np.random.default_rng(0))
    assert x.shape == (3, 224, 224) and np.isfinite(x).all()
    assert np.array_equal(x, load_cxr(_nih_images()[0], augment=CXRAugment(), rng=np.random.default_rng(0)))
    assert not np.array_equal(x, load_cxr(_nih_images()[0]))

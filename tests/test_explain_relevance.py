"""morebench.explain: maps are shaped and finite, SDPA and manual attention agree, a toy's signal is found,
randomising weights decorrelates the maps, and deletion beats a random order on the toy."""
import numpy as np
import pytest
import torch

from morebench.config import EcgTowerConfig, XrayTowerConfig
from morebench.encoders.ecg import create_ecg_encoder
from morebench.encoders.xray import create_xray_encoder
from morebench.explain.relevance import (AttentionRecorder, explain_ecg, explain_xray, head_target, toy_patch_batch,
                                         toy_segment_batch, train_toy)
from morebench.explain.sanity import (cascading_randomization, deletion_insertion, faithfulness_summary, patch_masker,
                                      segment_masker, segment_relevance, tower_layers)


def _xray(impl="sdpa", depth=1, seed=0):
    torch.manual_seed(seed)
    return create_xray_encoder(XrayTowerConfig(model_name="vit_tiny_patch16_224", img_size=64, depth=depth,
                                               embed_dim=32, num_heads=2, attn_impl=impl)).eval()


def _ecg(impl="sdpa", depth=1, seed=0):
    torch.manual_seed(seed)
    return create_ecg_encoder(EcgTowerConfig(num_samples=200, conv_channels=16, conv1_kernel=10, conv1_stride=10,
                                             embed_dim=32, depth=depth, num_heads=2, attn_impl=impl)).eval()


@pytest.fixture(scope="module")
def toy_xray():
    net = train_toy(_xray(), toy_patch_batch, steps=200)
    x, y = toy_patch_batch(torch.Generator().manual_seed(7), 48)
    return net, x[y][:12]


@pytest.fixture(scope="module")
def toy_ecg():
    net = train_toy(_ecg(), toy_segment_batch, steps=200)
    x, y = toy_segment_batch(torch.Generator().manual_seed(7), 48)
    return net, x[y][:12]


@pytest.mark.parametrize("depth", [1, 2])
def test_maps_shape_finite_and_paths_agree(depth):
    x = torch.randn(3, 3, 64, 64)
    a, b = (explain_xray(_xray(impl, depth), x, lambda z: z.sum(-1)) for impl in ("sdpa", "official"))
    assert a.map.shape == (3, 64, 64) and a.patches.shape == (3, 4, 4)
    assert torch.isfinite(a.map).all() and torch.isfinite(a.input_x_grad).all()
    torch.testing.assert_close(a.patches, b.patches, atol=1e-5, rtol=1e-4)
    e = torch.randn(2, 12, 200)
    c, d = (explain_ecg(_ecg(impl, depth), e, lambda z: z[:, 1]) for impl in ("sdpa", "official"))
    assert c.map.shape == (2, 200) and torch.isfinite(c.map).all()
    torch.testing.assert_close(c.tokens, d.tokens, atol=1e-5, rtol=1e-4)


def test_recorder_keeps_the_output():
    for tower, x in ((_xray(depth=2), torch.randn(2, 3, 64, 64)), (_ecg(depth=2), torch.randn(2, 12, 200))):
        ref = tower(x)
        with AttentionRecorder(tower):
            out = tower(x)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-4)
        assert all(len(b.attn._forward_hooks) == 0 for b in tower.blocks)


def test_toy_peaks_at_the_signal(toy_xray, toy_ecg):
    net, x = toy_xray
    ex = explain_xray(net[0], x, head_target(net[1], 0))
    assert (ex.patches.flatten(1).argmax(1) == 6).float().mean() > 0.8  # patch (1, 2) of the 4×4 grid
    net, x = toy_ecg
    ex = explain_ecg(net[0], x, head_target(net[1], 0))
    peak = ex.map.argmax(1)
    assert ((peak >= 80) & (peak < 180)).float().mean() > 0.8  # the window [120, 140) ± one receptive field


def test_randomisation_decorrelates(toy_xray):
    net, x = toy_xray
    rows = cascading_randomization(net, lambda m: explain_xray(m[0], x, head_target(m[1], 0)).patches,
                                   lambda m: tower_layers(m[0], m[1]), seed=1)
    assert rows[0]["mean"] == pytest.approx(1.0)
    full = rows[-1]["mean"]
    assert full < 0.5 and full < rows[0]["mean"] - 0.5


def test_deletion_beats_random(toy_xray, toy_ecg):
    net, x = toy_xray
    ex = explain_xray(net[0], x, head_target(net[1], 0))
    s = faithfulness_summary(deletion_insertion(lambda v: net(v)[:, 0], x, ex.patches.flatten(1),
                                                patch_masker((4, 4)), steps=8))
    assert s["deletion_gap"]["ci"][0] > 0 and s["insertion_gap"]["ci"][0] > 0
    net, x = toy_ecg
    ex = explain_ecg(net[0], x, head_target(net[1], 0))
    s = faithfulness_summary(deletion_insertion(lambda v: net(v)[:, 0], x, segment_relevance(ex.map, 10),
                                                segment_masker(10), steps=10))
    assert s["deletion_gap"]["mean"] > 0 and np.isfinite(s["insertion_gap"]["mean"])

"""MLCD's re-clustering callback driven as the training engine drives it (on_train_start, on_epoch_start per epoch,
state_dict into a checkpoint and back), on a stand-in model that owns an `MLCDHead` like `MoreModel` does: the
clustering is deterministic for a seed, the pseudo-labels are the l nearest centres, the state is primitives only
and a restored run continues the seed sequence instead of clustering again at its start."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from morebench.losses import create_loss
from morebench.losses_mlcd import MLCDHead, MLCDRecluster, nearest_centres


class Tiny(nn.Module):
    """An encoder plus the objective head, with MoreModel's forward contract (features incl. the head's)."""

    def __init__(self, k: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.enc = nn.Linear(6, 3)
        self.objective_head = MLCDHead(3, num_centres=k, seed=seed)

    def forward(self, batch):
        f = {"text": nn.functional.normalize(self.enc(batch["x"]), dim=-1)}
        return {**f, **self.objective_head({}, f)}


def _loader():
    g = torch.Generator().manual_seed(3)
    centres = torch.randn(4, 6, generator=g) * 4
    x = torch.cat([c + 0.1 * torch.randn(8, 6, generator=g) for c in centres])  # 4 well separated blobs
    return [{"x": x[i:i + 8]} for i in range(0, 32, 8)]


def test_reclustering_is_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        model = Tiny()
        cb = create_loss("mlcd", recluster_every=2, label_key="text", keys=("text",)).train_callbacks()[0]
        cb.on_train_start(model, _loader(), None)
        runs.append(model.objective_head.centres.clone())
    assert torch.equal(runs[0], runs[1])
    other = Tiny()
    MLCDRecluster(seed=7).on_train_start(other, _loader(), None)
    assert other.objective_head.clusterings.item() == 1


def test_pseudo_labels_are_the_l_nearest_centres():
    model = Tiny()
    MLCDRecluster().on_train_start(model, _loader(), None)
    with torch.no_grad():
        f = model(_loader()[0])
    idx = nearest_centres(f["text"], f["mlcd_centres"], 2).numpy()
    sims = f["text"].numpy() @ f["mlcd_centres"].numpy().T
    assert (idx == np.argsort(-sims, axis=1)[:, :2]).all()
    # the clustering found the 4 blobs: each batch of one blob shares its nearest centre
    for batch in _loader():
        with torch.no_grad():
            near = nearest_centres(model(batch)["text"], model.objective_head.centres, 1)
        assert len(set(near.flatten().tolist())) == 1


def test_engine_protocol_schedule_and_checkpoint_state(tmp_path):
    model, loader = Tiny(), _loader()
    cb = MLCDRecluster(every=2, seed=0)
    cb.on_train_start(model, loader, None)
    seen = []
    for epoch in range(5):
        cb.on_epoch_start(epoch, model, loader, "cpu")
        seen.append(int(model.objective_head.clusterings))
    assert seen == [1, 1, 2, 2, 3]  # epoch 0 already clustered at the start; then epochs 2 and 4
    state = cb.state_dict()
    (tmp_path / "cb.json").write_text(json.dumps(state))  # primitives only
    # a resumed run: weights (incl. the head's centres and counter) and the callback state restored
    resumed = Tiny(seed=1)
    resumed.load_state_dict(model.state_dict())
    cb2 = MLCDRecluster(every=2, seed=0)
    cb2.load_state_dict(json.loads((tmp_path / "cb.json").read_text()))
    cb2.on_train_start(resumed, loader, None)
    assert int(resumed.objective_head.clusterings) == 3  # not clustered again at the start
    cb2.on_epoch_start(6, resumed, loader, "cpu")
    cb.on_epoch_start(6, model, loader, "cpu")
    assert torch.equal(resumed.objective_head.centres, model.objective_head.centres)  # same seed sequence


def test_too_few_embeddings_for_k_is_an_error():
    with pytest.raises(ValueError, match="cannot make"):
        MLCDRecluster().on_train_start(Tiny(k=40), _loader(), None)

"""Published folders whose config changes the function (issue 32 item 7): LayerNorm epsilon, activation and
position embeddings are carried into the model `pretrain --init-*` builds, so its outputs equal transformers' own
for that folder; what the model cannot carry is refused naming the value."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from tests.conftest import WORDS, run_cli
from tests.published import google_vocab, write_electra_pair
from tests.test_published import RUN, corpus


def edit_configs(folders, **changes):
    for folder in folders:
        path = folder / "config.json"
        config = json.loads(path.read_text())
        config.update(changes)
        path.write_text(json.dumps(config))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Shards made with the fixture pair's vocabulary (the same for every folder below)."""
    tmp = tmp_path_factory.mktemp("shards")
    disc, _ = write_electra_pair(tmp / "pair", google_vocab(WORDS))
    result = run_cli("shard", corpus(tmp / "corpus.txt"), "--vocab", disc, "--out", tmp / "shards", "--max-seq-len",
                     "32", "--workers", "1", "--validation-fraction", "0.05")
    assert result.exit_code == 0, result.output
    return tmp / "shards"


@pytest.mark.parametrize("changes", [{"layer_norm_eps": 1e-5}, {"hidden_act": "gelu_new"},
                                     {"position_embedding_type": "relative_key"},
                                     {"layer_norm_eps": 1e-7, "hidden_act": "relu"}])
def test_the_model_from_a_published_folder_computes_what_transformers_computes(changes, shards, tmp_path):
    from electra_cli.pretraining.recipe import load_pretrain_config
    from electra_cli.pretraining.train import setup

    disc, gen = write_electra_pair(tmp_path / "pub", google_vocab(WORDS))
    edit_configs((disc, gen), **changes)
    overrides = RUN[3::2] + [f'init.discriminator="{disc}"', f'init.generator="{gen}"']
    cfg = load_pretrain_config("electra-tiny", overrides)
    model = setup(cfg, shards, tmp_path / "run", None, None, overwrite=False).raw_model.eval()
    assert {k: getattr(cfg.model, k) for k in changes} == changes
    ids = torch.tensor([[101, 110, 120, 130, 102, 140, 150, 102]])
    with torch.no_grad():
        theirs_d = ElectraForPreTraining.from_pretrained(disc).eval()(input_ids=ids).logits
        theirs_g = ElectraForMaskedLM.from_pretrained(gen).eval()(input_ids=ids).logits
        assert torch.equal(model.discriminator(input_ids=ids).logits, theirs_d)
        assert torch.equal(model.generator(input_ids=ids).logits, theirs_g)
    # the export keeps it: what the next user loads computes the same function
    for key, value in changes.items():
        assert getattr(model.discriminator.config, key) == value


def test_the_default_epsilon_differs_enough_to_be_seen(tmp_path):
    """The check above can fail: the same weights with HF's default 1e-12 give other logits than with 1e-5."""
    disc, _ = write_electra_pair(tmp_path / "pub", google_vocab(WORDS))
    ids = torch.tensor([[101, 110, 120, 130, 102]])
    with torch.no_grad():
        default = ElectraForPreTraining.from_pretrained(disc).eval()(input_ids=ids).logits
        edit_configs((disc,), layer_norm_eps=1e-5)
        other = ElectraForPreTraining.from_pretrained(disc).eval()(input_ids=ids).logits
    assert not torch.equal(default, other)


def test_what_cannot_be_carried_is_refused_naming_the_value(shards, tmp_path):
    base = ["pretrain", "--shards", shards, "--max-steps", "1", *RUN]
    disc, gen = write_electra_pair(tmp_path / "a", google_vocab(WORDS))
    edit_configs((disc,), tie_word_embeddings=False)
    result = run_cli(*base, "--out", tmp_path / "r1", "--init-discriminator", disc)
    assert result.exit_code == 2 and "tie_word_embeddings = False" in result.output
    disc, gen = write_electra_pair(tmp_path / "b", google_vocab(WORDS))
    edit_configs((gen,), layer_norm_eps=1e-5)  # a pair that disagrees is not one ELECTRA
    result = run_cli(*base, "--out", tmp_path / "r2", "--init-discriminator", disc, "--init-generator", gen)
    assert result.exit_code == 2 and "layer_norm_eps 1e-12 vs 1e-05" in result.output
    result = run_cli(*base, "--out", tmp_path / "r3", "--init-discriminator", disc, "--set", "model.layer_norm_eps=1e-6")
    assert result.exit_code == 2 and "model.layer_norm_eps: --set says 1e-06" in result.output

"""Recipes and config loading: every bundled recipe loads, the paper's numbers, precedence, clear errors."""

import pytest

from electra_cli.core import config as configlib
from electra_cli.core.errors import UsageError
from electra_cli.pretraining.recipe import PretrainConfig, load_pretrain_config

RECIPES = sorted(configlib.RECIPES_DIR.rglob("*.toml"))  # the checkout's files; test_packaging checks the wheel


def test_recipes_are_found_recursively():
    names = {p.stem for p in RECIPES}
    assert {"electra-tiny", "electra-small", "electra-base", "electra-large"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recipe_loads_and_says_how_to_run_it(path):
    text = path.read_text()
    assert text.startswith("#") and "electra-cli" in text.split("\n\n")[0] + text[:1500]
    if path.parent.name == "pretrain":
        cfg = load_pretrain_config(str(path), [])
        assert cfg.model.hidden % cfg.model.heads == 0


@pytest.mark.parametrize(
    "name, layers, hidden, emb, heads, mult, batch, seq, lr, steps",
    [
        ("electra-small", 12, 256, 128, 4, 1 / 4, 128, 128, 5e-4, 1_000_000),
        ("electra-base", 12, 768, 768, 12, 1 / 3, 256, 512, 2e-4, 766_000),
        ("electra-large", 24, 1024, 1024, 16, 1 / 4, 2048, 512, 2e-4, 400_000),
    ],
)
def test_paper_recipes_match_the_design_table(name, layers, hidden, emb, heads, mult, batch, seq, lr, steps):
    cfg = load_pretrain_config(name, [])
    m, t = cfg.model, cfg.train
    assert (m.layers, m.hidden, m.embedding, m.heads) == (layers, hidden, emb, heads)
    assert abs(m.generator_multiplier - mult) < 1e-9
    assert (t.batch_size, cfg.data.max_seq_len, cfg.optim.lr, t.steps, cfg.optim.warmup_steps) == (batch, seq, lr, steps, 10_000)
    assert (cfg.optim.beta1, cfg.optim.beta2, cfg.optim.eps, cfg.optim.weight_decay, cfg.optim.clip_norm) == (
        0.9, 0.999, 1e-6, 0.01, 1.0)


def test_precedence_defaults_recipe_overrides(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text("[optim]\nlr = 1e-3\n[train]\nsteps = 50\n")
    cfg = configlib.load_config(PretrainConfig, recipe, ["train.steps=70", "model.objective=mlm"])
    assert cfg.optim.lr == 1e-3 and cfg.train.steps == 70 and cfg.model.objective == "mlm"
    assert cfg.train.batch_size == PretrainConfig().train.batch_size  # untouched default


def test_all_problems_reported_at_once(tmp_path):
    with pytest.raises(UsageError) as err:
        configlib.load_config(PretrainConfig, None, ["model.nope=1", "train.steps=abc", "model.objective=gan"])
    message = str(err.value)
    assert "unknown key 'model.nope'" in message and "valid: layers" in message
    assert "train.steps = 'abc' is not a valid int" in message
    assert "model.objective" in message and "'electra'" in message


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = load_pretrain_config("electra-small", ["optim.lr=1e-4"])
    path = tmp_path / "config.toml"
    path.write_text(configlib.dumps(cfg))
    again = configlib.load_config(PretrainConfig, path, [])
    assert again == cfg


def test_bad_override_syntax_and_unknown_recipe():
    with pytest.raises(UsageError, match="expected key=value"):
        configlib.parse_overrides(["justakey"])
    with pytest.raises(UsageError, match="electra-small"):
        configlib.find_recipe("electra-huge", "pretrain")

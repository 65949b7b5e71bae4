"""The package as a user gets it: built (sdist -> wheel) without warnings, installed into a fresh venv, run
from another folder. Every other test imports the checkout, so none of them would see a recipe that only exists
there.

Installing torch & co. into the fresh venv would cost minutes and GBs, so the wheel goes in with --no-deps and a
.pth file lends the venv this project's site-packages. A folder added by a .pth file has its own .pth files
ignored, so the checkout's editable install stays out of the fresh venv (the test checks that).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import TINY, write_family_task

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "electra_cli", "recipes")
ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([str(a) for a in args], cwd=cwd, env=env or ENV, capture_output=True, text=True)
    assert out.returncode == 0, f"{args}\n{out.stdout}\n{out.stderr}"
    return out


def build(backend_call: str, src: Path, dist: Path) -> Path:
    """setuptools' build backend as pip calls it, offline (no build isolation); fails on any build warning."""
    out = run(sys.executable, "-c", f"from setuptools import build_meta as b; print(b.{backend_call}({str(dist)!r}))",
              cwd=src)
    log = out.stdout + out.stderr
    assert "Warning" not in log and "would be ignored" not in log, log
    return dist / out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """checkout -> sdist -> wheel, as a user's `pip install electra-cli` from an sdist would build it."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"  # a copy, so that the build's own folders never land in the checkout
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    sdist = build("build_sdist", src, tmp / "dist")
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    return build("build_wheel", tmp / "unpacked" / sdist.name.removesuffix(".tar.gz"), tmp / "dist")


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed; dependencies lent by a .pth file."""
    venv = tmp_path_factory.mktemp("venv") / "fresh"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=venv.parent)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=venv).stdout.strip())
    (site / "electra-cli-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index", wheel, cwd=venv)
    return venv


def test_the_wheel_holds_every_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for recipe in ROOT.glob("recipes/**/*.toml"):
        assert f"electra_cli/{recipe.relative_to(ROOT).as_posix()}" in names, recipe


def test_installed_package_is_the_wheel_not_the_checkout(venv, tmp_path):
    out = run(venv / "bin" / "python", "-c", "import electra_cli; print(electra_cli.__file__)", cwd=tmp_path)
    assert Path(out.stdout.strip()).is_relative_to(venv), out.stdout


def test_recipes_from_the_wheel_as_a_zip(wheel, venv, tmp_path):
    """A pure-Python wheel is an importable zip: the recipes must read from inside it too."""
    code = ("import electra_cli; from electra_cli.core import config as c; assert electra_cli.__file__.startswith(%r); "
            "print(c.read_toml(c.find_recipe('electra-small', 'finetune'))['lr'])" % str(wheel))
    out = run(venv / "bin" / "python", "-c", code, cwd=tmp_path, env={**ENV, "PYTHONPATH": str(wheel)})
    assert float(out.stdout) > 0


def test_pretrain_finetune_and_demo_help_from_the_installed_wheel(venv, tiny_shards, tmp_path):
    cli = venv / "bin" / "electra-cli"
    sets = [arg for override in TINY for arg in ("--set", override)]
    run(cli, "pretrain", "--shards", tiny_shards, "--out", "run", "--recipe", "electra-tiny", "--max-steps", "2",
        *sets, cwd=tmp_path)
    assert (tmp_path / "run" / "final" / "discriminator" / "config.json").is_file()

    train, val = write_family_task(tmp_path / "task", n_train=48, n_val=16)
    run(cli, "finetune", "--model", "run/final/discriminator", "--train", train, "--validation", val, "--out", "ft",
        "--recipe", "electra-small", "--epochs", "1", "--max-seq-len", "32", "--batch-size", "16", cwd=tmp_path)
    assert (tmp_path / "ft" / "metrics.json").is_file()

    out = run(cli, "demo", "--help", cwd=tmp_path)
    assert "--minutes" in out.stdout
    missing = subprocess.run([cli, "pretrain", "--shards", tiny_shards, "--out", "x", "--recipe", "electra-huge"],
                             cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert missing.returncode == 2 and "electra-small, electra-tiny" in missing.stderr, missing.stderr

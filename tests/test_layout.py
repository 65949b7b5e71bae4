"""The package's shape: stage packages, imports that run one way, a lazy public API, a README that matches.

The import graph is read from the source with ast, every import counted, those inside functions too: an import
moved into a function to dodge a cycle is still a cycle.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "electra_cli"
PUBLIC_API = ("build_vocab", "shard_corpus", "pretrain", "finetune", "predict")


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (a package is named by its __init__.py)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports, at any depth of its code (functions included)."""
    modules = module_names(package)
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from the module's own package upwards
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    stem = ".".join(base + ([node.module] if node.module else []))
                else:
                    stem = node.module or ""
                # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
                candidates = [f"{stem}.{alias.name}" for alias in node.names] + [stem]
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:  # a.b.c (an attribute) -> a.b
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name and candidate != package.name:
                    targets.add(candidate)
                    if isinstance(node, ast.ImportFrom) and candidate == (node.module or ""):
                        break  # `from a.b import x` where a.b is a module: x is a name in it
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted; [] for a DAG."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def stage_graph(graph: dict[str, set[str]], package: str) -> dict[str, set[str]]:
    """The same graph between stage packages (electra_cli.qa.train -> qa); top-level modules stand alone."""

    def stage(module: str) -> str:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else package

    stages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        stages.setdefault(stage(module), set()).update(stage(t) for t in targets if stage(t) != stage(module))
    return stages


def test_the_package_has_no_import_cycle_between_modules_or_stage_packages():
    graph = import_graph(PACKAGE)
    assert graph["electra_cli.tasks.dispatch"] >= {"electra_cli.finetuning.train", "electra_cli.qa.train"}  # the walk sees imports
    assert cycles(graph) == [], "import cycle between modules"
    assert cycles(stage_graph(graph, "electra_cli")) == [], "import cycle between stage packages"


def test_the_bottom_layer_imports_nothing_above_it():
    graph = import_graph(PACKAGE)
    for module, targets in graph.items():
        if module.startswith("electra_cli.core"):
            assert all(t.startswith("electra_cli.core") for t in targets), (module, targets)


@pytest.mark.parametrize("where", ["top level", "inside a function"])
def test_the_cycle_check_finds_a_planted_cycle(tmp_path, where):
    pkg = tmp_path / "pkg"
    for folder in (pkg, pkg / "low", pkg / "high"):
        folder.mkdir()
        (folder / "__init__.py").write_text('"""x"""\n')
    (pkg / "high" / "train.py").write_text("from pkg.low.steps import step\n")
    upward = "from pkg.high import train\n" if where == "top level" else "def f():\n    from pkg.high.train import x\n"
    (pkg / "low" / "steps.py").write_text(upward + "def step():\n    pass\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [["pkg.high.train", "pkg.low.steps"]]
    assert cycles(stage_graph(graph, "pkg")) == [["high", "low"]]
    (pkg / "low" / "steps.py").write_text("def step():\n    pass\n")  # the same tree without the upward import
    assert cycles(import_graph(pkg)) == []


def test_each_stage_package_says_what_it_owns_and_few_modules_stay_at_the_top():
    packages = sorted(p.parent for p in PACKAGE.glob("*/__init__.py") if p.parent.name != "__pycache__")
    assert len(packages) >= 8
    for package in packages:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
        assert doc and 1 <= len(doc.strip().splitlines()) <= 3, f"{package.name}/__init__.py: say in two lines what it owns"
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top


def test_importing_the_package_and_the_cli_does_not_import_torch():
    code = ("import sys, electra_cli, electra_cli.cli; "
            "heavy = [m for m in ('torch', 'transformers', 'pyarrow', 'tokenizers') if m in sys.modules]; "
            "print(heavy); assert not heavy, heavy; assert set(%r) <= set(electra_cli.__all__)" % (PUBLIC_API,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_public_api_resolves_each_name_to_its_stage_function():
    import electra_cli

    for name in electra_cli.__all__:
        value = getattr(electra_cli, name)
        assert callable(value) and value.__name__ == name and value.__doc__, name
    from electra_cli.tasks.dispatch import finetune

    assert electra_cli.finetune is finetune  # the dispatcher: classification or question answering
    with pytest.raises(AttributeError):
        electra_cli.no_such_stage  # noqa: B018


def readme_layout() -> list[tuple[str, str]]:
    """(entry, description) in the order of the README's layout block: `cli.py`, `qa/`, ..."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How the code is laid out", 1)[1].split("\n## ", 1)[0]
    entries: list[list[str]] = []
    for line in section.split("```", 2)[1].splitlines():
        entry = re.match(r"([a-z_]+(?:/|\.py))\s+(.*)$", line)
        if entry:
            entries.append([entry.group(1), entry.group(2)])
        elif line.startswith(" ") and entries:  # a description continued on the next line
            entries[-1][1] += " " + line.strip()
    return [(entry, description) for entry, description in entries]


def test_the_readme_layout_section_names_every_package_and_module():
    entries = readme_layout()
    listed = [entry for entry, _ in entries]
    actual = {p.parent.name + "/" for p in PACKAGE.glob("*/__init__.py")} | {p.name for p in PACKAGE.glob("*.py")}
    assert set(listed) == actual, f"README lists {sorted(set(listed) - actual)}; misses {sorted(actual - set(listed))}"
    for entry, description in entries:
        if entry.endswith("/"):
            modules = {p.stem for p in (PACKAGE / entry).glob("*.py")} - {"__init__"}
            named = set(re.findall(r"\b([a-z_]+)\b", description))
            assert modules <= named, f"README's line for {entry} misses {sorted(modules - named)}"


def test_imports_run_down_the_readme_layout_list():
    """The README says each entry imports only entries below it; this holds it to that."""
    order = [entry.removesuffix("/").removesuffix(".py") for entry, _ in readme_layout()]
    stages = stage_graph(import_graph(PACKAGE), "electra_cli")
    for stage, targets in stages.items():
        if stage == "electra_cli":
            continue
        upward = [t for t in targets if order.index(t) < order.index(stage)]
        assert not upward, f"{stage} imports {upward}, listed above it in the README"


def test_the_readme_python_example_runs_as_written(tmp_path, monkeypatch):
    """The notebook-style block in the README, executed in a folder with the files it names."""
    from tests.conftest import family_example, write_grammar_corpus

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("(`tests/test_layout.py` runs this block as it is):", 1)[1].split("```python\n", 1)[1]
    code = code.split("```", 1)[0]
    write_grammar_corpus(tmp_path / "corpus.txt", docs=300)
    rng = __import__("random").Random(0)
    for name, rows in (("train.csv", 160), ("dev.csv", 40), ("test.csv", 20)):
        lines = ["text,label"] + [",".join(family_example(rng)) for _ in range(rows)]
        (tmp_path / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "tiny" / "final" / "discriminator" / "config.json").is_file()
    metrics = __import__("json").loads((tmp_path / "ft" / "metrics.json").read_text())
    assert metrics["metric"] == "accuracy" and 0.0 <= metrics["median"] <= 1.0
    predictions = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 20 and all('"label"' in line for line in predictions)


def test_pyproject_ships_every_stage_package():
    """setuptools' explicit package list (needed for the recipes' package-dir) must name each new package."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for package in PACKAGE.glob("*/__init__.py"):
        assert f'"electra_cli.{package.parent.name}"' in text, package.parent.name

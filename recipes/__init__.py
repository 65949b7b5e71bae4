"""Bundled recipes, installed as the package `electra_cli.recipes` (see pyproject.toml).

A regular package, not a namespace one, so that `importlib.resources.files()` gives one readable folder from a
wheel, an sdist, an editable install or a zip.
"""

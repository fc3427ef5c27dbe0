"""The layers import one way (pyproject.toml's import-linter contracts, docs/architecture.md):
command line -> scheduler -> crawler -> storage -> article core. A cycle or an upward import fails here."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("newsarchive", "crawler", "storage", "scheduler")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("lint-imports")), "--config", str(ROOT / "pyproject.toml"),
               "--no-cache"]
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the tree analysed is the one imported
    return subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_an_upward_import_breaks_the_layers(tmp_path):
    tree = copy_of_the_code(tmp_path)
    (tree / "storage" / "upward.py").write_text("from crawler.pipelines import ArchiveStorePipeline\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "storage is not allowed to import crawler" in result.stdout


def test_the_article_core_may_not_use_the_database(tmp_path):
    tree = copy_of_the_code(tmp_path)
    (tree / "newsarchive" / "article" / "stored.py").write_text("import sqlalchemy\n")
    result = lint_imports(tree)
    assert result.returncode == 1
    assert "newsarchive.article.stored -> sqlalchemy" in result.stdout

"""The library's layers hold (pyproject [tool.importlinter], checked by import-linter):
tools and the plan over the stages, which never import each other, over the core, which
imports no stage; no import cycles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root / "scripts")}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_layers_hold():
    proc = lint(REPO)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


def test_a_stage_importing_another_breaks_them(tmp_path):
    """The contract can fail: windows reading motion's module is refused."""
    shutil.copytree(REPO / "scripts" / "vidcurate", tmp_path / "scripts" / "vidcurate")
    shutil.copy2(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    windows = tmp_path / "scripts" / "vidcurate" / "windows.py"
    windows.write_text(windows.read_text() + "\nfrom .motion import motion_segments  # noqa\n")
    proc = lint(tmp_path)
    assert proc.returncode != 0
    assert "vidcurate.windows -> vidcurate.motion" in proc.stdout

"""The stages' conda envs are generated from what the rules' scripts import and from
pyproject.toml's pins (make envs): they never drift, and each env provides every module
its rules' scripts reach, optional backends included."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from vidcurate.conda_envs import GPU_ONLY, _normal, main, providers, rules, script_imports


def test_envs_are_what_make_envs_writes():
    assert main(["--check"]) == 0, "envs/ drifted from the rules' imports: run make envs"


@pytest.mark.parametrize(("rule", "env", "script"), [r for r in rules() if r[2]])
def test_each_rule_env_provides_what_its_script_imports(rule, env, script):
    spec = yaml.safe_load((REPO / "envs" / env).read_text())
    pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    installs = {_normal(re.split(r"[<>=!~ ]", requirement)[0]) for requirement in pip}
    modules, library = script_imports(REPO / "scripts" / script)
    provided = providers()
    missing = [m for m in sorted(modules - GPU_ONLY) if provided.get(m) not in installs]
    assert missing == [], f"{rule} ({env}) imports {missing}, which the env lacks"
    # the programs: a stage that decodes or probes gets ffmpeg from conda-forge
    conda = [d for d in spec["dependencies"] if isinstance(d, str)]
    if library & {"frames", "ffprobe", "ingest"}:
        assert any(d.startswith("ffmpeg") for d in conda), f"{rule} ({env}) runs ffmpeg"
    assert "python =3.11" in conda

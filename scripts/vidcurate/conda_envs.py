"""The stages' conda environments (envs/<env>.yaml), generated from what each rule's
script imports, pinned exactly as pyproject.toml pins them (``make envs``).

For every rule with ``conda:`` and ``script:``, the script's imports are followed through
the library (vidcurate.plan reads the same graph for rerun hashes); every third-party
module reached, optional backends included, is mapped to its distribution (the one
installed here that provides it) and pinned with pyproject's version, and so is every
distribution pyproject pins that those require in turn (scenedetect's OpenCV is ours,
never a second cv2). ffmpeg comes from conda-forge where the library runs the ffmpeg or
ffprobe programs; pandas brings pyarrow, its parquet engine. An env serves several
rules: it gets the union of theirs. A module no pinned distribution provides is an
error, except GPU-only ones (cupy, cuCIM) a GPU node's env adds itself.

    python -m vidcurate.conda_envs [--check]     (make envs; --check: fail on drift)
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent
# installed only on GPU nodes, by whoever builds their env: never pinned here
GPU_ONLY = {"cupy", "cucim"}
# the library modules that start the ffmpeg / ffprobe programs
RUNS_FFMPEG = {"frames", "ffprobe", "ingest"}
RULE = re.compile(r"^(?:rule|checkpoint) (\w+):\n((?:(?:    .*)?\n)+)", re.M)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """Normalised distribution name -> its requirement as pyproject writes it."""
    project = tomllib.loads(pyproject.read_text())["project"]
    found = {}
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~ \[]", requirement, maxsplit=1)[0]
        found[_normal(name)] = requirement
    return found


def _module_imports(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(third-party top-level modules, vidcurate modules) one module imports."""
    outside, ours = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == "vidcurate":
                    ours.add(alias.name.split(".")[1])
                else:
                    outside.add(top)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                ours |= {node.module.split(".")[0]} if node.module else set()
                ours |= {a.name for a in node.names} if not node.module else set()
            elif node.module:
                top = node.module.split(".")[0]
                if top == "vidcurate":
                    rest = node.module.split(".")[1:]
                    ours |= {rest[0]} if rest else {a.name for a in node.names}
                else:
                    outside.add(top)
    return outside, ours


def script_imports(script: Path, package: Path = PACKAGE) -> tuple[set[str], set[str]]:
    """(third-party modules, library modules) a script reaches, through the library."""
    outside, todo = _module_imports(ast.parse(script.read_text()))
    todo = {m for m in todo if (package / f"{m}.py").is_file()} | {"__init__"}
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        more, ours = _module_imports(ast.parse((package / f"{name}.py").read_text()))
        outside |= more
        todo |= {m for m in ours if (package / f"{m}.py").is_file()} - seen
    standard = set(sys.stdlib_module_names) | {"__future__"}
    return {m for m in outside if m not in standard}, seen


def rules(root: Path = ROOT) -> list[tuple[str, str, str | None]]:
    """(rule, env file name, script file name or None) of every rule with an env."""
    found = []
    for path in sorted((root / "rules").glob("*.smk")):
        for name, body in RULE.findall(path.read_text()):
            env = re.search(r'conda:\n\s+"\.\./envs/([\w]+\.yaml)"', body)
            script = re.search(r'script:\n\s+"\.\./scripts/([\w]+\.py)"', body)
            if env:
                found.append((name, env.group(1), script.group(1) if script else None))
    return found


def providers() -> dict[str, str]:
    """Top-level module -> the normalised name of the installed distribution providing it."""
    return {
        module: _normal(names[0])
        for module, names in importlib.metadata.packages_distributions().items()
    }


def _with_pinned_requirements(distribution: str, pinned: dict[str, str]) -> set[str]:
    """``distribution``'s pin and those of what it requires that pyproject pins too."""
    found, todo, seen = set(), [distribution], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in pinned:
            continue
        seen.add(name)
        found.add(pinned[name])
        if name == "pandas":  # parquet goes through pyarrow, an optional dependency
            todo.append("pyarrow")
        for requirement in importlib.metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(_normal(re.split(r"[<>=!~ ;\[(]", requirement, maxsplit=1)[0]))
    return found


def env_requirements(root: Path = ROOT) -> dict[str, dict]:
    """env file name -> {"rules", "modules", "ffmpeg", "pip"} for every env."""
    pinned, provided = pins(root / "pyproject.toml"), providers()
    envs: dict[str, dict] = {}
    for rule, env, script in rules(root):
        entry = envs.setdefault(env, {"rules": [], "modules": set(), "ffmpeg": False})
        entry["rules"].append(rule)
        if script:
            modules, library = script_imports(root / "scripts" / script)
            entry["modules"] |= modules
            entry["ffmpeg"] |= bool(library & RUNS_FFMPEG)
    for env, entry in envs.items():
        missing, pip = [], set()
        for module in sorted(entry["modules"] - GPU_ONLY):
            distribution = provided.get(module)
            if distribution not in pinned:
                missing.append(f"{module} ({distribution or 'no distribution installed'})")
                continue
            pip |= _with_pinned_requirements(distribution, pinned)
        if missing:
            raise SystemExit(
                f"envs/{env}: pyproject.toml pins nothing that provides {', '.join(missing)}"
            )
        entry["pip"] = sorted(pip, key=str.lower)
    return envs


def render(env: str, entry: dict) -> str:
    lines = [
        f"# {env.removesuffix('.yaml')}: rules {', '.join(sorted(entry['rules']))}",
        "# Generated by `make envs` from what their scripts import and pyproject.toml's pins:",
        "# edit those, not this file (tests/test_envs.py fails when it drifts).",
        "channels:",
        "  - conda-forge",
        "  - nodefaults",
        "dependencies:",
        "  - python =3.11",
    ]
    if entry["ffmpeg"]:
        lines.append("  - ffmpeg >=5.1")
    lines += ["  - pip", "  - pip:"]
    lines += [f"      - {requirement}" for requirement in entry["pip"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when envs/ differs")
    args = parser.parse_args(argv)
    drift, envs = [], env_requirements()
    for env, entry in sorted(envs.items()):
        path, text = ROOT / "envs" / env, render(env, entry)
        if path.is_file() and path.read_text() == text:
            continue
        drift.append(env)
        if not args.check:
            path.write_text(text)
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        if path.name not in envs:
            drift.append(f"{path.name} (no rule uses it)")
    if args.check and drift:
        print(f"envs/ differs from the rules' imports: {', '.join(drift)}; run make envs")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

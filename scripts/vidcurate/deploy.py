"""A project of one's own from a clone of vidcurate: what `snakedeploy deploy-workflow`
writes (config/ with its example videos, profiles/, and workflow/Snakefile declaring
vidcurate as a module), with the module pointing at the clone.

snakedeploy from a local path copies the whole clone first (its virtual environment
included, gigabytes) and declares the module's Snakefile as "Snakefile", relative to the
project's own workflow/ folder, which includes itself. This writes the same project
without either: `make project DIR=../myproject`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

# the Snakefile snakedeploy writes, with the module's path relative to workflow/
# (`snakemake --lint` flags absolute paths)
MODULE_SNAKEFILE = """\
from snakemake.utils import min_version


min_version("9.27")


configfile: "config/config.yaml"


# declare vidcurate, in {clone}, as a module
module vidcurate:
    snakefile:
        "{snakefile}"
    config:
        config


# use all rules from vidcurate
use rule * from vidcurate
"""

COPIED = ("config", "profiles")


class ProjectError(Exception):
    """A project that cannot be made here; its message is the whole story."""


def new_project(clone: Path, project: Path) -> Path:
    """Write ``project`` (a new or empty folder) using the vidcurate in ``clone``; its
    workflow/Snakefile."""
    clone = clone.resolve()
    if not (clone / "Snakefile").is_file():
        raise ProjectError(f"{clone} is not a vidcurate clone (no Snakefile there)")
    if project.exists() and any(project.iterdir()):
        raise ProjectError(f"{project} already exists and is not empty")
    workflow = project / "workflow"
    workflow.mkdir(parents=True)
    for name in COPIED:
        shutil.copytree(clone / name, project / name)
    snakefile = os.path.relpath(clone / "Snakefile", workflow.resolve())
    text = MODULE_SNAKEFILE.format(
        clone=os.path.relpath(clone, project.resolve()), snakefile=snakefile
    )
    (workflow / "Snakefile").write_text(text)
    return workflow / "Snakefile"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make project",
        description="A project of your own with this clone of vidcurate as its module.",
    )
    parser.add_argument("project", type=Path, help="the new project's folder")
    parser.add_argument(
        "--clone", type=Path, default=Path(__file__).resolve().parents[2], help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    try:
        new_project(args.clone, args.project)
    except ProjectError as error:
        print(f"make project: {error}", file=sys.stderr)
        return 2
    print(f"project ready in {args.project}: cd {args.project} && snakemake -n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

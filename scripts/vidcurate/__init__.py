"""vidcurate: the library behind the workflow's stage scripts.

Stage scripts in ``scripts/`` only parse Snakemake's inputs and call the plain
functions here, so unit tests exercise the same code the workflow runs.
"""

__version__ = "0.1.0"

# first, before any stage module pulls in av, numpy, pandas or torch: in a stage script
# this installs the SIGTERM handler, so a job cancelled while importing still says why
from . import runner as _runner  # noqa: F401

"""vidcurate: the library behind the workflow's stage scripts.

Stage scripts in ``scripts/`` only parse Snakemake's inputs and call the plain
functions here, so unit tests exercise the same code the workflow runs.
"""

__version__ = "0.1.0"

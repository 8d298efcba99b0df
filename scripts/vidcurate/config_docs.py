"""The reference part of config/README.md, written from the JSON schemas.

The schemas are what validate() enforces, so documenting from them keeps every key,
default and sheet column in the README; `make docs` rewrites the part between the
markers and tests/test_deploy.py fails when it is stale.
"""

import json
from pathlib import Path

import yaml

BEGIN = "<!-- reference: written by `make docs` from config/schemas; do not edit -->"
END = "<!-- end of reference -->"


def _type(node: dict) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"] if value != "")
    kind = node.get("type", "")
    if isinstance(kind, list):
        return " or ".join(kind)
    if not kind and "oneOf" in node:
        return " or ".join(_type(option) for option in node["oneOf"])
    return kind


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _default(node: dict) -> str:
    if "default" not in node or node.get("type") == "object":
        return ""
    return f"`{json.dumps(node['default'])}`"


def _rows(prefix: str, node: dict):
    for key, child in node.get("properties", {}).items():
        name = f"{prefix}.{key}" if prefix else key
        if child.get("type") == "object" and "properties" in child:
            yield from _rows(name, child)
        else:
            yield (
                f"| `{name}` | {_type(child)} | {_default(child)} "
                f"| {_cell(child.get('description', ''))} |"
            )


def reference(config_schema: dict, samples_schema: dict) -> str:
    """Markdown tables: every config key (dotted, with type, default and description),
    grouped by top-level section, then every sample-sheet column."""
    lines = [BEGIN, "", "## Every setting", ""]
    singles = []
    for section, node in config_schema["properties"].items():
        if node.get("type") == "object" and "properties" in node:
            lines += [f"### `{section}`", "", _cell(node.get("description", "")), ""]
            lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
            lines += [*_rows(section, node), ""]
        else:
            singles.append(section)
    lines += ["### Top-level switches", ""]
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    lines += [row for row in _rows("", config_schema) if row.split("`")[1].split(".")[0] in singles]
    required = set(samples_schema.get("required", []))
    lines += ["", "## Sample-sheet columns", "", _cell(samples_schema["description"]), ""]
    lines += ["| column | required | values | what it means |", "|---|---|---|---|"]
    for column, node in samples_schema["properties"].items():
        lines.append(
            f"| `{column}` | {'yes' if column in required else 'no'} | {_type(node)} "
            f"| {_cell(node.get('description', ''))} |"
        )
    return "\n".join([*lines, "", END])


def render(readme_text: str, schemas: Path) -> str:
    """readme_text with its reference part written anew from the schemas folder."""
    config_schema = yaml.safe_load((schemas / "config.schema.yaml").read_text())
    samples_schema = yaml.safe_load((schemas / "samples.schema.yaml").read_text())
    if BEGIN not in readme_text or END not in readme_text:
        raise ValueError(f"config/README.md lacks the markers {BEGIN!r} ... {END!r}")
    head, rest = readme_text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    return head + reference(config_schema, samples_schema) + tail


if __name__ == "__main__":
    readme = Path("config/README.md")
    readme.write_text(render(readme.read_text(), Path("config/schemas")))

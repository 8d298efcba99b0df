"""The user's pages: a README that fits a first hour, links that lead somewhere, and
words that speak of the product (formats by what they are, not by internal document
numbers or who worked on what)."""

import re

import pytest

from conftest import REPO

PAGES = [REPO / "README.md", REPO / "config" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")
# words that belong to how the product was made, not to the product
INTERNAL = re.compile(
    r"\bseed 00\d|\bseeds/|\b(this|these|that) sessions?\b|\blent to\b|\bnot met\b|\bthe issue\b",
    re.I,
)


def test_readme_is_a_first_hour():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    headings = [line for line in lines if line.startswith("## ")]
    for wanted in ("## Install", "## Quick start", "## On a cluster (Slurm)", "## GPU"):
        assert wanted in headings


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_lead_to_files(page):
    text = page.read_text()
    for target, _ in LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.relative_to(REPO)}: {target}"


def user_texts():
    yield from PAGES
    yield from sorted((REPO / "config" / "schemas").glob("*.yaml"))
    yield from sorted((REPO / "rules" / "report").glob("*.rst"))


@pytest.mark.parametrize("path", list(user_texts()), ids=lambda p: str(p.relative_to(REPO)))
def test_pages_speak_of_the_product(path):
    text = path.read_text()
    found = [m.group(0) for m in INTERNAL.finditer(text)]
    assert not found, f"{path.relative_to(REPO)}: {found}"

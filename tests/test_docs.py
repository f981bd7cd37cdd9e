"""The manual holds together: links resolve, the site shows every page and fetches nothing.

README.md links into docs/; docs/index.md and docs/development.md include sections of README.md
(pymdownx.snippets), so the README stays the one source of the install, the quick start and the
development notes. ``mkdocs build --strict`` (in .ci/run) checks the same links and anchors on
the built site; these tests say which link broke without building it.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', flags=re.M)


def prose(markdown: str) -> str:
    """Markdown without its code: fenced blocks and inline code spans hold no links."""
    markdown = re.sub(r"^( *)```.*?^\1```", "", markdown, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", markdown)


def slug(heading: str) -> str:
    """A heading's anchor, as Python-Markdown's toc (and, for these headings, GitHub) makes it."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, those of the README sections it includes too."""
    text = page.read_text(encoding="utf-8")
    for target in SNIPPET.findall(text):
        text += "\n" + snippet_text(target)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", prose(text), flags=re.M)}


def snippet_text(target: str) -> str:
    """What ``--8<-- "FILE:SECTION"`` includes: the lines between the section's markers."""
    name, _, part = target.partition(":")
    text = (ROOT / name).read_text(encoding="utf-8")
    if not part:
        return text
    start, end = (
        rf"^[^\n]*--8<-- \[{edge}:{re.escape(part)}\][^\n]*\n" for edge in ("start", "end")
    )
    match = re.search(start + "(.*?)" + end, text, flags=re.S | re.M)
    assert match, f"{name} has no section {part!r} (<!-- --8<-- [start:{part}] --> ... [end])"
    return match.group(1)


LINKS = [
    (page, target)
    for page in PAGES
    for target in LINK.findall(prose(page.read_text(encoding="utf-8")))
    if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: are not ours
]


@pytest.mark.parametrize(
    ("page", "target"),
    LINKS,
    ids=[f"{page.relative_to(ROOT).as_posix()}->{target}" for page, target in LINKS],
)
def test_every_relative_link_resolves(page: Path, target: str) -> None:
    path, _, anchor = target.partition("#")
    resolved = (page.parent / path).resolve() if path else page
    assert resolved.exists(), f"{page.relative_to(ROOT)} links to {target}: no such file"
    if anchor:
        assert resolved.suffix == ".md", f"{target}: an anchor into a file that is not a page"
        assert anchor in anchors(resolved), (
            f"{page.relative_to(ROOT)} links to {target}: {resolved.name} has no heading "
            f"#{anchor}; it has {sorted(anchors(resolved))}"
        )


def test_the_readme_links_to_every_page_of_the_manual() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for target in LINK.findall(prose(readme))}
    pages = {page.relative_to(ROOT).as_posix() for page in DOCS.rglob("*.md")}
    assert sorted(pages - linked - {"docs/development.md"}) == []  # Development: in the README


def test_the_pages_include_sections_the_readme_has() -> None:
    included = [
        (page, target)
        for page in DOCS.rglob("*.md")
        for target in SNIPPET.findall(page.read_text(encoding="utf-8"))
    ]
    assert {target for _, target in included} >= {
        "README.md:intro",
        "README.md:install",
        "README.md:quickstart",
        "README.md:development",
    }
    for _, target in included:
        assert snippet_text(target).strip()


def mkdocs_config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_the_site_shows_every_page() -> None:
    def pages(nav: object) -> list[str]:
        if isinstance(nav, str):
            return [nav]
        if isinstance(nav, list):
            return [page for item in nav for page in pages(item)]
        if isinstance(nav, dict):
            return [page for value in nav.values() for page in pages(value)]
        raise AssertionError(nav)

    listed = pages(mkdocs_config()["nav"])
    on_disk = sorted(page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md"))
    assert sorted(listed) == on_disk


def test_the_site_is_built_and_read_without_the_network() -> None:
    """No Google fonts, no social cards (they fetch fonts and need cairo), no object inventories
    from other sites: ``mkdocs build`` runs offline and the pages load nothing from elsewhere."""
    config = mkdocs_config()
    assert config["theme"]["name"] == "material"
    assert config["theme"]["font"] is False
    plugins = [next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]]
    assert sorted(plugins) == ["autorefs", "mkdocstrings", "search"]
    handlers = next(p for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    for handler in handlers["mkdocstrings"]["handlers"].values():
        assert "inventories" not in handler and "import" not in handler
    assert "extra_javascript" not in config
    for sheet in config.get("extra_css", []):  # the site's own files, not another site's
        assert (DOCS / sheet).is_file(), sheet


@pytest.mark.parametrize("name", ["layers", "models", "tasks", "data", "anomaly", "interop"])
def test_an_api_page_per_subpackage(name: str) -> None:
    text = (DOCS / "api" / f"{name}.md").read_text(encoding="utf-8")
    assert re.search(r"^::: cnnlstm\.", text, flags=re.M), name

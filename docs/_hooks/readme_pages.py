"""mkdocs hook: the site's guide is the README, one page per ``##`` section (and its intro the
home page), so the README stays the one source; the runbook comes from ``ops/RUNBOOK.md``.

Links inside the README to its own headings (``#live-sessions``) are pointed at the page that
now holds the heading; links to repository files that the site also carries (the runbook) at
their page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from markdown.extensions.toc import slugify
from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[2]
_HEADING = re.compile(r"^(#{2,4}) (.+)$", re.MULTILINE)
_LINK = re.compile(r"\]\((#[^)]+|ops/RUNBOOK\.md)\)")


def sections() -> list[tuple[str, str, str]]:
    """(page path, title, markdown) of the README: the intro, then each ``##`` section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    parts = re.split(r"^(?=## )", text, flags=re.MULTILINE)
    pages = [("index.md", "Home", parts[0])]
    for part in parts[1:]:
        title = part.splitlines()[0].removeprefix("## ").strip()
        pages.append((f"guide/{slugify(title, '-')}.md", title, part))
    anchors = {
        slugify(heading, "-"): path for path, _, body in pages for _, heading in _HEADING.findall(body)
    }

    def relink(path: str, body: str) -> str:
        up = "../" * path.count("/")

        def point(found: re.Match[str]) -> str:
            target = found[1]
            if target == "ops/RUNBOOK.md":
                return f"]({up}runbook.md)"
            page = anchors.get(target[1:])
            if page is None or page == path:
                return found[0]
            return f"]({up}{page}{target})"

        return _LINK.sub(point, body)

    return [(path, title, relink(path, body)) for path, title, body in pages]


def on_config(config: Any) -> Any:
    guide = [{title: path} for path, title, _ in sections()[1:]]
    config["nav"] = [
        {"Home": "index.md"},
        {"Guide": guide},
        {"Architecture": "architecture.md"},
        {"Sharded runs": "sharding.md"},
        {"Decisions": "decisions.md"},
        {"Runbook": "runbook.md"},
        {"CLI reference": "cli.md"},
        {"API reference": "api.md"},
    ]
    return config


def on_files(files: Files, config: Any) -> Files:
    for path, _, body in sections():
        files.append(File.generated(config, path, content=body))
    runbook = (REPO / "ops" / "RUNBOOK.md").read_text(encoding="utf-8")
    files.append(File.generated(config, "runbook.md", content=runbook))
    return files

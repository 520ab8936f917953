"""MkDocs hooks of the documentation site (``mkdocs.yml``: ``hooks``).

``on_page_markdown``: in table rows, ``\\|`` inside a code span becomes ``|``. GitHub needs the escape
(a bare pipe in a code span splits the cell there), Python-Markdown does not (it keeps code spans
whole) and would show the backslash.
"""

from __future__ import annotations

import re
from typing import Any

_CODE = re.compile(r"`[^`\n]*`")


def unescape_table_pipes(markdown: str) -> str:
    """``markdown`` with ``\\|`` replaced by ``|`` inside the code spans of table rows."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|") and "\\|" in line:
            lines[i] = _CODE.sub(lambda match: match.group(0).replace("\\|", "|"), line)
    return "\n".join(lines)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return unescape_table_pipes(markdown)

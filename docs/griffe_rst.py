"""Griffe extension of the documentation site: actseg's docstrings as written, rendered by mkdocstrings.

The docstrings follow the Google style with a few reStructuredText constructs (Sphinx habits) that
Markdown does not know. This extension rewrites them in the text that griffe parses; the source files
are unchanged:

- ``Example:`` → ``Examples:`` (griffe renders only ``Examples:`` as code; ``Example:`` would be an
  admonition whose ``>>>`` lines read as nested block quotes);
- ``.. math::`` + indented block (or ``.. math:: formula`` + indented continuation lines) → ``$$ … $$``,
  and ``:math:`x``` → ``$x$`` (``pymdownx.arithmatex`` + MathJax);
- ``:func:`x```, ``:class:`x```, ``:meth:``, ``:attr:``, ``:mod:``, ``:data:``, ``:exc:``, ``:obj:`` →
  the code span ``x`` (the bare name inside a formula);
- ``.. versionadded:: X`` / ``.. versionchanged:: X`` → *New in X.* / *Changed in X.*

Loaded by ``mkdocs.yml`` (``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|attr|mod|data|exc|obj):`~?([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_VERSION = re.compile(r"^(\s*)\.\. version(added|changed)::\s*(.*)$")
_MATH_BLOCK = re.compile(r"^(\s*)\.\. math::\s*(.*?)\s*$")
_EXAMPLE = re.compile(r"^(\s*)Example:\s*$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rewrite(text: str) -> str:
    """The docstring ``text`` with its reStructuredText constructs in Markdown (see the module docstring)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        math = _MATH_BLOCK.match(line)
        if math:
            pad, inline = math.groups()
            body = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(pad)):
                body.append(lines[i])
                i += 1
            while body and not body[-1].strip():
                body.pop()
            depth = min((_indent(b) for b in body if b.strip()), default=0)
            body = [pad + _ROLE.sub(r"\1", b[depth:]) if b.strip() else "" for b in body]  # roles: bare names
            out += [f"{pad}$$", *([pad + inline] if inline else []), *body, f"{pad}$$", ""]
            continue
        version = _VERSION.match(line)
        if version:
            pad, kind, what = version.groups()
            out.append(f"{pad}*{'New' if kind == 'added' else 'Changed'} in {what.strip()}*")
        else:
            line = _EXAMPLE.sub(r"\1Examples:", line)
            line = _MATH_ROLE.sub(r"$\1$", line)
            out.append(_ROLE.sub(r"`\1`", line))
        i += 1
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring with :func:`rewrite` as griffe loads it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)

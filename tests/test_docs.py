"""Every docstring example runs as a doctest, and every Python block of README.md and docs/*.md runs.

Docstrings: every module of the ``actseg`` package (private ones too) is imported and its examples
(``>>>``) are collected with :class:`doctest.DocTestFinder`; each docstring is one test, run with
``ELLIPSIS`` and ``NORMALIZE_WHITESPACE`` from a temporary working directory.

Markdown: the fenced blocks marked ````` ```python ````` (or ````` ```py `````) of ``README.md`` and
``docs/**/*.md`` run in order, in one namespace per file (a later block may use the names of an earlier
one), from a temporary working directory in which ``examples/`` and ``tests/`` of the repository are
reachable through symbolic links (so ``examples/data/...`` paths work as they do from the repository
root). One test per file; a failure names the file and the line of the block.

Skip marker (the one convention for blocks that cannot run standalone, e.g. they need a dataset, a
checkpoint or a GPU): put the HTML comment ``<!-- no-test -->`` on the line immediately before the
opening fence (it is invisible in rendered Markdown). Such a block is not run, and its names are
not defined for the blocks after it. Blocks in other languages (``bash``, ``json``, none) are never run.
A Python block whose first line starts with ``>>>`` is run as a doctest: its shown output must match.
Every block of a file runs even after one fails, and the failure lists all failing blocks.
"""

from __future__ import annotations

import doctest
import importlib
import io
import os
import pkgutil
import re
import traceback
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import actseg

ROOT = Path(__file__).resolve().parents[1]
SKIP_MARKER = "<!-- no-test -->"
_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
_PYTHON = {"python", "py", "python3"}
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


# ---------------------------------------------------------------------------------------------- doctests


def _module_names() -> list[str]:
    names = [actseg.__name__]
    for info in pkgutil.walk_packages(actseg.__path__, prefix=f"{actseg.__name__}."):
        names.append(info.name)
    return sorted(names)


def _doctests() -> list:
    finder = doctest.DocTestFinder(exclude_empty=True)
    cases = []
    for name in _module_names():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and (test.name == name or test.name.startswith(f"{name}.")):
                cases.append(pytest.param(test, id=test.name))
    return sorted(cases, key=lambda case: case.id)


@pytest.mark.parametrize("test", _doctests())
def test_docstring_examples(test, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    report = io.StringIO()
    result = runner.run(test, out=report.write, clear_globs=True)
    assert result.failed == 0, f"{test.name} ({test.filename}:{test.lineno}):\n{report.getvalue()}"


def test_every_module_is_collected():
    names = _module_names()
    assert {"actseg.io", "actseg.cli", "actseg._checks", "actseg.metrics", "actseg.__main__"} <= set(names)
    assert len([case for case in _doctests() if case.id.startswith("actseg.io.")]) >= 5


# ---------------------------------------------------------------------------------------------- markdown


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every Python fenced block of a Markdown text, without the skipped ones.

    ``line`` is the 1-based line of the opening fence. A block whose fence is immediately preceded
    by the line ``<!-- no-test -->`` is skipped. Fences inside a list keep their indentation, which
    is removed from the code.
    """
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, language = match.groups()
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        skipped = i > 0 and lines[i - 1].strip() == SKIP_MARKER
        if language.lower() in _PYTHON and not skipped:
            body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : end]]
            blocks.append((i + 1, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


def _markdown_files() -> list:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    cases = []
    for path in files:
        key = str(path.relative_to(ROOT))
        if python_blocks(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(path, id=key))
    return cases


def test_python_blocks_parser():
    text = "\n".join([
        "# title", "```python", "a = 1", "```", "", "<!-- no-test -->", "```python", "b = 2", "```",
        "```bash", "ls", "```", "- item", "  ```py", "  c = a + 1", "  ```", "````python", "```", "````",
    ])
    assert python_blocks(text) == [(2, "a = 1\n"), (14, "c = a + 1\n"), (17, "```\n")]


def _run_block(code: str, where: str, namespace: dict) -> str | None:
    """Run one block in ``namespace``; the failure text, or ``None``.

    A block whose first line starts with ``>>>`` is a doctest (its printed output is compared);
    any other block is executed as a script (its output is discarded).
    """
    if code.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(code, namespace, where, where, 0)
        report = io.StringIO()
        result = doctest.DocTestRunner(optionflags=_FLAGS).run(test, out=report.write, clear_globs=False)
        namespace.update(test.globs)  # DocTest copies its globals: names it defines serve the next blocks
        return report.getvalue() if result.failed else None
    try:
        with redirect_stdout(io.StringIO()):
            exec(compile(code, where, "exec"), namespace)
    except Exception:
        return traceback.format_exc(limit=-2)
    return None


@pytest.mark.parametrize("path", _markdown_files())
def test_markdown_python_blocks(path, tmp_path, monkeypatch):
    for name in ("examples", "tests"):
        os.symlink(ROOT / name, tmp_path / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    failures = []
    for line, code in python_blocks(path.read_text(encoding="utf-8")):
        where = f"{path.relative_to(ROOT)}:{line}"
        error = _run_block(code, where, namespace)
        if error is not None:
            failures.append(f"the Python block at {where} failed:\n{error}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)


# ---------------------------------------------------------------------------------------------- site


def _nav_pages(text: str | None = None) -> list[str]:
    """The pages named in ``mkdocs.yml``'s ``nav`` (paths relative to ``docs/``), commented lines left out.

    Read line by line (every nav entry is ``- [Title: ]path.md``), so that the test needs neither
    mkdocs nor PyYAML.
    """
    pages = []
    in_nav = False
    if text is None:
        text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith((" ", "-")):
            in_nav = line.startswith("nav:")
            continue
        match = re.fullmatch(r"\s*-\s*(?:[^:]+:\s*)?([\w./-]+\.md)\s*", line)
        if in_nav and match:
            pages.append(match.group(1))
    return pages


def test_every_docs_page_is_in_the_site_nav():
    pages = _nav_pages()
    assert "index.md" in pages and "papers/rtk.md" in pages and "benchmarks.md" in pages
    assert len(pages) == len(set(pages)), "a page is listed twice in mkdocs.yml's nav"
    on_disk = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md")}
    assert sorted(on_disk - set(pages)) == [], "docs pages missing from mkdocs.yml's nav"
    assert sorted(set(pages) - on_disk) == [], "mkdocs.yml's nav names pages that do not exist"


def test_nav_parser():
    text = "\n".join([
        "site_name: x", "exclude_docs: |", "  notes.md", "nav:", "  - Home: index.md", "  - Modules:",
        "      - actseg.io: io.md", "      # - actseg.data: data.md", "  - papers/rtk.md", "plugins:", "  - a.md",
    ])
    assert _nav_pages(text) == ["index.md", "io.md", "papers/rtk.md"]


def test_paper_pages_map_every_paper():
    """One page per paper of ``shared/papers``, each with its equation table."""
    papers = ROOT / "docs" / "papers"
    assert {p.name for p in papers.glob("*.md")} >= {
        "rtk.md", "interact.md", "transparser.md", "skeleton-heatmaps.md", "gsmt.md"}
    for page in papers.glob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert "## Equation → API" in text, page.name
        assert "| paper | what | actseg |" in text, page.name


def test_griffe_rst_rewrite():
    pytest.importorskip("griffe")
    import importlib.util

    spec = importlib.util.spec_from_file_location("griffe_rst", ROOT / "docs" / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "\n".join([
        "Sum (:func:`foo`, :class:`~a.Bar`, :math:`x^2`).", "", ".. math::", "    a = b", "        + c", "",
        "Example:", "    >>> 1", "    1", "", ".. versionadded:: 0.1.0", ".. math:: P = 1,", "          R = 2", "",
        "Text.",
    ])
    assert module.rewrite(text).splitlines() == [
        "Sum (`foo`, `a.Bar`, $x^2$).", "", "$$", "a = b", "    + c", "$$", "",
        "Examples:", "    >>> 1", "    1", "", "*New in 0.1.0*", "$$", "P = 1,", "R = 2", "$$", "", "Text.",
    ]


def test_citation_file():
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    assert text.startswith("cff-version: 1.2.0\n")
    yaml = pytest.importorskip("yaml")
    data = yaml.safe_load(text)
    assert {"cff-version", "message", "title", "authors"} <= set(data)
    import actseg

    assert data["version"] == actseg.__version__
    assert len(data["references"]) >= 5


def test_site_hook_unescapes_pipes_in_table_code_only():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "docs" / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "| `a \\| b` | c \\| d |\n`e \\| f`\n"
    assert module.unescape_table_pipes(text) == "| `a | b` | c \\| d |\n`e \\| f`\n"

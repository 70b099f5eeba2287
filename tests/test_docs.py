"""The docs cannot drift from the code: every table that mirrors code is compared with it.

Each test parses a markdown table from the README or ``docs/`` and compares it with what the
code itself says (its classes, constants, ``--help``, Makefile comments), never with a list
kept here. No database, no server.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import get_args

import pytest

import server.errors
from server import __main__ as cli
from server.live import events
from server.live.stream import reset
from server.sync import rules
from server.sync.schemas import SyncConflict
from tests.sync.test_conflicts import TABLE as CONFLICT_TESTS

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def markdown_table(path: Path, header: tuple[str, ...]) -> list[list[str]]:
    """The rows of the table in ``path`` whose header row is ``header`` (cells as written)."""
    lines = path.read_text().splitlines()
    for at, line in enumerate(lines):
        if line.startswith("|") and tuple(_cells(line)) == header:
            rows = []
            for row in lines[at + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    raise AssertionError(f"{path.relative_to(ROOT)} has no table headed {header}")


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]


def plain(text: str) -> str:
    """Text as read: no code marks, single spaces."""
    return " ".join(text.replace("`", "").split())


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_the_readme_stays_short() -> None:
    assert len(README.read_text().splitlines()) < 400


# Settings: see tests/test_settings.py, beside the .env.example check.


def _error_classes() -> Iterator[type[server.errors.ApiError]]:
    pending: list[type[server.errors.ApiError]] = [server.errors.ApiError]
    while pending:
        cls = pending.pop(0)
        yield cls
        pending += cls.__subclasses__()


def _names_used(paths: list[Path]) -> set[str]:
    """Names a module's code uses (not its docstrings or comments)."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return names


def _place(name: str) -> list[Path]:
    if (ROOT / "server" / name).is_file():
        return [ROOT / "server" / name]
    package = ROOT / "server" / name
    assert (package / "__init__.py").exists(), f"{name} is not a module or package of server/"
    return sorted(package.rglob("*.py"))


def test_every_error_code_is_in_the_docs_as_the_code_says() -> None:
    rows = markdown_table(
        DOCS / "api.md", ("code", "status", "title", "class", "raised in (`server/…`)")
    )
    documented = {plain(row[0]): row for row in rows}
    assert len(documented) == len(rows), "a code has two rows"
    classes: dict[str, list[type[server.errors.ApiError]]] = {}
    for cls in _error_classes():
        classes.setdefault(cls.code, []).append(cls)
    assert sorted(documented) == sorted(classes)
    for code, (_, status, title, class_names, places) in documented.items():
        assert code_names(class_names) == [cls.__name__ for cls in classes[code]]
        assert {(cls.status, cls.title) for cls in classes[code]} == {(int(status), title)}
        for place in code_names(places):
            used = _names_used(_place(place))
            assert any(cls.__name__ in used for cls in classes[code]), f"{place} raises none"


def _sync_failure_codes() -> set[str]:
    """Codes of ``MutationRejected(code, …)`` and ``Outcome.failed(id, code, …)`` in sync."""
    codes: set[str] = set()
    for path in (ROOT / "server" / "sync").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            callee = node.func
            if isinstance(callee, ast.Name) and callee.id == "MutationRejected":
                argument = node.args[0]
            elif isinstance(callee, ast.Attribute) and callee.attr == "failed":
                argument = node.args[1]
            else:
                continue
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                codes.add(argument.value)
    return codes


def test_the_sync_failure_codes_are_those_sync_gives() -> None:
    rows = markdown_table(DOCS / "sync.md", ("code", "when"))
    assert {plain(code) for code, _ in rows} == _sync_failure_codes()


def _rst_table(docstring: str) -> list[tuple[str, str]]:
    """The two-column simple table of a docstring, continuation lines joined."""
    lines = inspect.cleandoc(docstring).splitlines()
    borders = [i for i, line in enumerate(lines) if re.fullmatch(r"=+ +=+", line)]
    second_column = lines[borders[0]].index(" =") + 1
    rows: list[tuple[str, str]] = []
    for line in lines[borders[1] + 1 : borders[-1]]:
        left, right = line[:second_column].strip(), line[second_column:].strip()
        if left:
            rows.append((left, right))
        else:
            rows[-1] = (rows[-1][0], f"{rows[-1][1]} {right}")
    return [(plain(left), plain(right)) for left, right in rows]


def test_the_conflict_table_is_the_one_the_rules_and_their_tests_follow() -> None:
    rows = markdown_table(DOCS / "sync.md", ("situation", "outcome"))
    assert rules.__doc__ is not None
    assert [(plain(s), plain(o)) for s, o in rows] == _rst_table(rules.__doc__)

    named = {name for _, outcome in rows for name in re.findall(r"`(\w+)`", outcome)}
    conflicts = {name for _, o in rows if o.startswith("conflict") for name in code_names(o)}
    assert conflicts == set(get_args(SyncConflict.model_fields["reason"].annotation))
    tested = {row.reason for row in CONFLICT_TESTS.values() if row.reason is not None}
    receipts = {row.receipt for row in CONFLICT_TESTS.values()}
    assert tested <= named <= tested | receipts


def test_the_live_events_are_those_the_stream_sends() -> None:
    rows = markdown_table(DOCS / "live.md", ("event", "when", "to whom"))
    documented = [plain(event) for event, _, _ in rows]
    assert sorted(documented) == sorted(events.EVENT_NAMES)
    assert reset(0, "history_compacted").name in documented


def test_the_commands_are_those_of_the_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per command in --help
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    helped = dict(re.findall(r"^ {4}(\S+) +(.+)$", capsys.readouterr().out, re.MULTILINE))
    rows = markdown_table(DOCS / "operations.md", ("command", "what it does"))
    documented = {plain(command).split()[0]: plain(what) for command, what in rows}
    assert sorted(documented) == sorted(helped)
    for command, what in documented.items():
        assert what.startswith(plain(helped[command])), command


def _makefile() -> tuple[set[str], dict[str, str]]:
    """The targets a user can run (phony, with a rule), and the ``## target: text`` of each."""
    text = (ROOT / "Makefile").read_text()
    variables = dict(re.findall(r"^(\w+) \?= (.*)$", text, re.MULTILINE))
    phony = {
        name for line in re.findall(r"^\.PHONY: (.*)$", text, re.MULTILINE) for name in line.split()
    }
    ruled = set(re.findall(r"^([a-z][\w-]*):", text, re.MULTILINE))
    described: dict[str, str] = {}
    target = ""
    for line in text.splitlines():
        if match := re.match(r"^## ([\w-]+): (.*)$", line):
            target, described[target] = match[1], match[2]
        elif line.startswith("## ") and target:
            described[target] += " " + line[3:]
        else:
            target = ""
    for name, value in variables.items():
        described = {t: d.replace(f"$({name})", value) for t, d in described.items()}
    return phony & ruled, described


def test_the_make_targets_are_those_of_the_makefile() -> None:
    targets, described = _makefile()
    rows = markdown_table(README, ("target", "what it does"))
    documented = {plain(target).removeprefix("make "): plain(what) for target, what in rows}
    assert sorted(documented) == sorted(targets)
    for target, text in described.items():
        assert documented[target].startswith(plain(text)), target


def test_the_architecture_tree_names_every_package_and_module() -> None:
    readme = README.read_text()
    tree = readme.split("## Architecture", 1)[1].split("```", 2)[1]
    drawn = re.findall(r"^  (\w+/|\w+\.py) ", tree, re.MULTILINE)
    server_dir = ROOT / "server"
    actual = [f"{p.parent.name}/" for p in server_dir.glob("*/__init__.py")]
    actual += [p.name for p in server_dir.glob("*.py") if p.name != "__init__.py"]
    assert sorted(drawn) == sorted(actual)


DOC_FILES = [README, ROOT / "SECURITY.md", *sorted(DOCS.glob("*.md"))]
GENERATED = ("cdn/dist",)


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_named_exists(doc: Path) -> None:
    named = re.findall(r"`((?:server|tests|cdn|benchmarks)/[\w./-]*)", doc.read_text())
    missing = [
        path
        for path in named
        if not path.startswith(GENERATED) and not (ROOT / path.rstrip("./")).exists()
    ]
    assert missing == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_leads_somewhere(doc: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)|src=\"([^\"]+)\"", doc.read_text()):
        link = "".join(target)
        if re.match(r"\w+:", link):
            continue  # http(s), mailto
        file_part, _, anchor = link.partition("#")
        path = (doc.parent / file_part).resolve() if file_part else doc
        if not path.exists():
            broken.append(link)
        elif anchor and path.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
            if anchor not in {_anchor(h) for h in headings}:
                broken.append(link)
    assert broken == []

"""The bulk import: records of every kind, one a line, applied in the order they come as
they arrive, and answered line by line, in that order.

The same processing serves ``POST /api/integration/v1/import`` (NDJSON streamed in and
out) and ``python -m server import FILE`` (NDJSON, or CSV with a header row). A line that
cannot apply (broken JSON, a bad record, an unknown reference, a kind the key may not
write, a line over :data:`MAX_LINE_BYTES`) fails alone; the others go on. Jobs are upserted
:data:`JOB_BATCH` at a time, one transaction each (:func:`server.integration.jobs.upsert_jobs`);
branches, teams, staff and customers one at a time through their own upserts, since each
may set off more (a person deactivated is signed out) and a file has far fewer of them.
Memory holds one batch, whatever the size of the file.

What the import creates or changes is audited as the CRM's key's acts in the request (jobs,
staff), or as the system's from the command line.
"""

from __future__ import annotations

import csv
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel

from server.audit import service as audit
from server.errors import (
    ApiError,
    MalformedJson,
    PayloadTooLarge,
    ScopeForbidden,
    UnsupportedMediaType,
    ValidationFailed,
    as_api_error,
)
from server.http.json_io import validate
from server.integration import people
from server.integration.jobs import JobUpsert, Outcome, upsert_jobs
from server.integration.keys import Scope
from server.integration.schemas import (
    BranchRecord,
    CustomerRecord,
    JobRecord,
    StaffRecord,
    TeamRecord,
)
from server.integration.upserts import Upserted

log = logging.getLogger("tinedy.integration")

NDJSON = "application/x-ndjson"
MAX_LINE_BYTES = 64 * 1024
MAX_IMPORT_BYTES = 512 * 1024 * 1024
"""The most one import may send. Sanic's ``REQUEST_MAX_SIZE`` (the largest JSON or photo
body) does not hold for a streamed route; this does, counted as the body arrives."""
JOB_BATCH = 500
FILE_CHUNK = 1 << 20
SPOOL_BYTES = 1 << 20
ANSWER_CHUNK = 1 << 16
LIST_COLUMNS = frozenset({"checklist", "assigneeExternalIds"})
INTEGER_COLUMNS = frozenset({"durationMinutes"})
BOOLEAN_COLUMNS = frozenset({"active"})
TRUTH = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

MayWrite = Callable[[str], bool]
PersonUpsert = Callable[..., Awaitable[Upserted]]


@dataclass(frozen=True, slots=True)
class Kind:
    """What a line of one kind holds, the scope a key needs to write it, and (for people)
    the upsert that writes it, told who acts when it is ``audited``; jobs go through the
    batch upsert instead."""

    model: type[BaseModel]
    scope: Scope
    upsert: PersonUpsert | None = None
    audited: bool = False


KINDS: dict[str, Kind] = {
    "branch": Kind(BranchRecord, Scope.PEOPLE_WRITE, people.upsert_branch),
    "team": Kind(TeamRecord, Scope.PEOPLE_WRITE, people.upsert_team),
    "staff": Kind(StaffRecord, Scope.PEOPLE_WRITE, people.upsert_staff, audited=True),
    "customer": Kind(CustomerRecord, Scope.PEOPLE_WRITE, people.upsert_customer),
    "job": Kind(JobRecord, Scope.JOBS_WRITE),
}


@dataclass(slots=True)
class Line:
    """One input line: what it says, and once applied (or refused), its outcome."""

    number: int
    kind: str | None = None
    external_id: str | None = None
    record: BaseModel | None = None
    outcome: Outcome | None = None

    @property
    def is_job(self) -> bool:
        return self.kind == "job" and self.outcome is None

    def answer(self) -> dict[str, Any]:
        """The line's answer: ``{line, kind, externalId, status[, code, message]}``."""
        answer: dict[str, Any] = {
            "line": self.number,
            "kind": self.kind,
            "externalId": self.external_id,
        }
        if isinstance(self.outcome, ApiError):
            answer.update(status="failed", code=self.outcome.code, message=self.outcome.detail)
        else:
            answer["status"] = self.outcome
        return answer


def check_upload(content_type: str | None, content_length: str | None) -> None:
    """Before a byte is read: 415 unless NDJSON, 413 when the declared length is over the
    import's cap."""
    if (content_type or "").split(";")[0].strip().lower() != NDJSON:
        raise UnsupportedMediaType(f"Send the records as {NDJSON}, one JSON object a line.")
    if content_length and content_length.isdigit() and int(content_length) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"An import may send at most {MAX_IMPORT_BYTES} bytes.")


async def import_stream(
    chunks: AsyncIterable[bytes], may_write: MayWrite, by: audit.AuditActor
) -> AsyncIterator[bytes]:
    """The NDJSON answer to an NDJSON body, sent once the body has been read; its writes are
    audited as done ``by`` (the CRM's key).

    Lines are applied as the body arrives, but their answers wait in a spooled temporary
    file (memory up to :data:`SPOOL_BYTES`, then disk): most HTTP/1.1 clients read nothing
    of the answer before they have sent the whole request, and a server writing into a
    socket no one reads would stop reading the body, so both would wait for ever."""
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as answers:
        async for applied in apply_lines(ndjson_lines(chunks, may_write), by):
            answers.write(b"".join(orjson.dumps(line.answer()) + b"\n" for line in applied))
        answers.seek(0)
        while chunk := answers.read(ANSWER_CHUNK):
            yield chunk


async def apply_lines(
    lines: AsyncIterable[Line], by: audit.AuditActor = audit.SYSTEM
) -> AsyncIterator[list[Line]]:
    """Apply lines in their order, audited as done ``by``; yields them in that order, a batch
    at a time, once their outcomes are known. A job line waits for its batch; a person's line
    first writes the jobs before it, then itself (a later job may name that customer)."""
    held: list[Line] = []
    held_jobs: set[str] = set()
    async for line in lines:
        if held and (
            (line.is_job and line.external_id in held_jobs)
            or (line.outcome is None and not line.is_job)
        ):
            yield await apply_jobs(held, by)
            held, held_jobs = [], set()
        if line.outcome is None and not line.is_job:
            await apply_person(line, by)
            yield [line]
            continue
        held.append(line)
        if line.is_job:
            held_jobs.add(str(line.external_id))
        if len(held) >= JOB_BATCH:
            yield await apply_jobs(held, by)
            held, held_jobs = [], set()
    if held:
        yield await apply_jobs(held, by)


async def apply_jobs(lines: list[Line], by: audit.AuditActor) -> list[Line]:
    """Upsert the job lines among ``lines`` (distinct external ids) in one transaction."""
    waiting = [line for line in lines if line.is_job]
    if not waiting:
        return lines
    upserts = [JobUpsert(str(line.external_id), _job(line.record)) for line in waiting]
    try:
        outcomes = await upsert_jobs(upserts, by)
    except Exception as exc:  # the database failed: these lines fail, later ones may not
        log.exception("importing %d jobs failed", len(upserts))
        outcomes = [as_api_error(exc)] * len(upserts)
    for line, outcome in zip(waiting, outcomes, strict=True):
        line.outcome = outcome
    return lines


async def apply_person(line: Line, by: audit.AuditActor) -> None:
    kind = KINDS[str(line.kind)]
    assert kind.upsert is not None
    acting = {"by": by} if kind.audited else {}
    try:
        line.outcome = (await kind.upsert(line.external_id, line.record, **acting)).status
    except ApiError as refused:
        line.outcome = refused
    except Exception as exc:
        log.exception("importing %s %s failed", line.kind, line.external_id)
        line.outcome = as_api_error(exc)


def _job(record: BaseModel | None) -> JobRecord:
    assert isinstance(record, JobRecord)
    return record


def read_line(number: int, data: Any, may_write: MayWrite, default_kind: str | None = None) -> Line:
    """A line's record, checked: its kind, external id, the key's scope for the kind, and
    the record's fields (a failure is the line's outcome)."""
    line = Line(number)
    if not isinstance(data, dict):
        line.outcome = ValidationFailed([("line", "each line is one JSON object")])
        return line
    fields = dict(data)
    kind = fields.pop("kind", default_kind)
    external_id = fields.pop("externalId", None)
    line.kind = kind if isinstance(kind, str) else None
    line.external_id = external_id if isinstance(external_id, str) else None
    try:
        spec = KINDS.get(str(kind))
        if spec is None:
            raise ValidationFailed([("kind", f"must be one of {', '.join(KINDS)}")])
        line.external_id = people.valid_external_id(external_id)
        if not may_write(spec.scope):
            raise ScopeForbidden(f"This key may not write {kind} records: it needs {spec.scope}.")
        line.record = validate(spec.model, fields)
    except ApiError as refused:
        line.outcome = refused
    return line


async def ndjson_lines(
    chunks: AsyncIterable[bytes], may_write: MayWrite, default_kind: str | None = None
) -> AsyncIterator[Line]:
    """The lines of an NDJSON body, read; blank lines are skipped (and still counted). A
    body over :data:`MAX_IMPORT_BYTES` ends with a failed line saying so."""
    number = 0
    try:
        async for number, raw in numbered_lines(chunks):
            if raw is None:
                too_long = PayloadTooLarge(f"A line may hold at most {MAX_LINE_BYTES} bytes.")
                yield Line(number, outcome=too_long)
            elif raw.strip():
                yield _json_line(number, raw, may_write, default_kind)
    except PayloadTooLarge as too_large:
        yield Line(number + 1, outcome=too_large)


def _json_line(number: int, raw: bytes, may_write: MayWrite, default_kind: str | None) -> Line:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Line(number, outcome=MalformedJson(f"The line is not valid JSON: {exc.msg}."))
    return read_line(number, data, may_write, default_kind)


async def numbered_lines(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """Each line of the body with its number from 1 (None for one over MAX_LINE_BYTES,
    whose bytes are dropped as they come); PayloadTooLarge once the body passes
    :data:`MAX_IMPORT_BYTES`."""
    number, total, too_long = 0, 0, False
    buffer = bytearray()
    async for chunk in chunks:
        total += len(chunk)
        if total > MAX_IMPORT_BYTES:
            raise PayloadTooLarge(f"The import stopped: at most {MAX_IMPORT_BYTES} bytes.")
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            if not too_long:
                buffer += chunk[start:end]
            number += 1
            yield number, None if too_long or len(buffer) > MAX_LINE_BYTES else bytes(buffer)
            buffer.clear()
            too_long, start = False, end + 1
        if not too_long:
            buffer += chunk[start:]
            if len(buffer) > MAX_LINE_BYTES:
                buffer.clear()
                too_long = True
    if buffer or too_long:
        yield number + 1, None if too_long else bytes(buffer)


# The command line ---------------------------------------------------------------------


async def import_file(path: str, kind: str | None) -> int:
    """``python -m server import FILE [--kind KIND]``: apply a .ndjson/.jsonl or .csv file,
    print the counts, and each failed line to stderr; the exit status is 1 when a line
    failed."""
    source = Path(path)
    counts: Counter[str] = Counter()
    try:
        lines = (
            csv_lines(source, kind)
            if source.suffix.lower() == ".csv"
            else ndjson_lines(file_chunks(source), _anything, kind)
        )
        async for applied in apply_lines(lines):
            for line in applied:
                answer = line.answer()
                counts[answer["status"]] += 1
                if answer["status"] == "failed":
                    print(_failure(answer), file=sys.stderr)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        print(f"Cannot read {path}: {exc}", file=sys.stderr)
        return 1
    statuses = ("created", "updated", "unchanged", "failed")
    print(", ".join(f"{status} {counts[status]}" for status in statuses))
    return 1 if counts["failed"] else 0


def _anything(_scope: str) -> bool:
    """The command line runs on the server itself: every kind may be written."""
    return True


def _failure(answer: dict[str, Any]) -> str:
    what = " ".join(str(part) for part in (answer["kind"], answer["externalId"]) if part)
    where = f"line {answer['line']}" + (f" ({what})" if what else "")
    return f"{where}: {answer['code']}: {answer['message']}"


async def file_chunks(source: Path) -> AsyncIterator[bytes]:
    with source.open("rb") as file:
        while chunk := file.read(FILE_CHUNK):
            yield chunk


async def csv_lines(source: Path, kind: str | None) -> AsyncIterator[Line]:
    """The rows of a CSV file as lines (numbered by the file's lines, the header being 1)."""
    for number, data in csv_rows(source):
        if isinstance(data, ApiError):
            yield Line(number, outcome=data)
        else:
            yield read_line(number, data, _anything, kind)


def csv_rows(source: Path) -> Iterator[tuple[int, dict[str, Any] | ApiError]]:
    """Each row as the JSON line it stands for: columns named as the fields (camelCase),
    ``checklist`` and ``assigneeExternalIds`` split on ``|``, ``lat``/``lng`` as the
    ``location``; an empty cell is a field left out."""
    with source.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.DictReader(file)
        for row in reader:
            if None in row:
                extra = ValidationFailed([("line", "more cells than the header has columns")])
                yield reader.line_num, extra
                continue
            yield reader.line_num, csv_record(row)


def csv_record(row: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for column, cell in row.items():
        name, value = column.strip(), (cell or "").strip()
        if not value:
            continue
        if name in LIST_COLUMNS:
            data[name] = [part.strip() for part in value.split("|") if part.strip()]
        elif name in ("lat", "lng"):
            data.setdefault("location", {})[name] = _typed(float, value)
        elif name in INTEGER_COLUMNS:
            data[name] = _typed(int, value)
        elif name in BOOLEAN_COLUMNS:
            data[name] = TRUTH.get(value.lower(), value)
        else:
            data[name] = value
    return data


def _typed(kind: Callable[[str], Any], value: str) -> Any:
    """``value`` as a number, or as written (so the record's check names the field)."""
    try:
        return kind(value)
    except ValueError:
        return value

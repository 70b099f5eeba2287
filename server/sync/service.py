"""Offline sync: a phone's queued changes applied at most once, each on its own.

One batch is one write transaction. It first takes the user's sync lock (so copies of a batch
racing on parallel connections queue up), reads the stored receipts of its mutation ids, and
locks the jobs the new mutations touch. Each new mutation is then decided by the rules of
:mod:`server.sync.rules` and its outcome stored as a receipt in the same
transaction as its effect: a replay returns the stored outcome and changes nothing, and the
same ``mutationId`` with a different body is refused (``mutation_id_reused``).

Check-ins apply before pending updates: a phone that checked in (moving its job to
``in_progress``) and also queued "en route" finds the latter already passed, not refused.
Problems and remarks apply last: a job reported on hold after its last step stays on hold.
A mutation refused outright (``failed``) is also logged as a ``sync.rejected`` fact, once,
so the office hears of work a phone could not deliver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.changes import queries as change_queries
from server.changes.service import record_unscoped
from server.checkins import queries as check_in_queries
from server.checkins.schemas import CheckInRequest
from server.checkins.service import (
    Geofence,
    check_in_answer,
    check_in_fact,
    check_in_row,
    corrected_time,
)
from server.core.access import Principal
from server.core.inputs import as_uuid
from server.core.metrics import count_sync_outcomes
from server.db.engine import write_transaction
from server.errors import InvalidTransition, JobNotFound, MutationIdReused, ValidationFailed
from server.jobs import queries as job_queries
from server.jobs import report_queries
from server.jobs import states as job_states
from server.jobs.crews import is_lead
from server.jobs.reports import (
    BatchProblem,
    BatchRemark,
    ProblemRequest,
    problem_fact,
    problem_row,
    remark_row,
)
from server.jobs.service import job_fields, job_state, may_see, visible_scope
from server.jobs.writes import Actor, JobWriter, lock_jobs
from server.photos import queries as photo_queries
from server.sync import queries as sync_queries
from server.sync.mutations import (
    BatchCheckIn,
    BatchPhoto,
    PendingUpdate,
    SyncBatch,
    body_hash,
    read_mutation,
)
from server.sync.rules import (
    RESOLUTION,
    MutationRejected,
    Rights,
    Superseded,
    history_since,
    plan_update,
    receipt_outcome,
)
from server.sync.schemas import MutationKind

SYNCED, CONFLICTS, FAILED = "synced", "conflicts", "failed"


def job_left(job_id: str) -> dict[str, Any]:
    """What a former crew member is shown of a job taken from them: that it left them."""
    return {"id": job_id, "removed": True}


Mutation = PendingUpdate | BatchCheckIn | BatchPhoto | BatchProblem | BatchRemark
MUTATION_MODELS: dict[MutationKind, type[Mutation]] = {
    "update": PendingUpdate,
    "checkin": BatchCheckIn,
    "photo": BatchPhoto,
    "issue": BatchProblem,
    "remark": BatchRemark,
}
SYNC_REJECTED = "sync.rejected"
REPORTED_REFUSALS = frozenset(
    {"invalid_transition", "unknown_checklist_item", "photo_not_found", "invalid_base_version"}
)
"""The refusals the office hears of (``sync.rejected``): work the field did on its own job
that the job's state turned away. A job that is not theirs, a reused key or a malformed
entry is the sender's to fix, and would let anyone fill the office's alerts."""


@dataclass
class Entry:
    """One mutation of a batch: as sent, read (or why it cannot be), and its fingerprint."""

    kind: MutationKind
    raw: dict[str, Any]
    mutation_id: str
    read: Mutation | MutationRejected
    hash: str

    @classmethod
    def of(cls, kind: MutationKind, raw: dict[str, Any]) -> Entry:
        """Fingerprint what the entry means, not how it was spelt (``5`` or ``5.0``, ``Z`` or
        ``+00:00``), so a retry through another route is still the same mutation."""
        try:
            model = read_mutation(MUTATION_MODELS[kind], raw)
        except MutationRejected as rejected:
            return cls(kind, raw, str(raw["mutationId"]), rejected, body_hash(kind, raw))
        meaning = model.model_dump(mode="json", by_alias=True)
        return cls(kind, raw, str(raw["mutationId"]), model, body_hash(kind, meaning))


@dataclass
class Outcome:
    """What became of one mutation: the list it is answered in and its receipt."""

    mutation_id: str
    answer: str  # SYNCED | CONFLICTS | FAILED
    receipt: str  # applied | merged | superseded | rejected
    code: str | None = None
    message: str = ""
    entry: dict[str, Any] | None = None  # the conflicts/failed entry
    check_in: dict[str, Any] | None = None
    change_id: int | None = None
    client_time: datetime | None = None

    def result(self) -> dict[str, Any]:
        return {"answer": self.answer, "entry": self.entry, "checkIn": self.check_in}

    @classmethod
    def stored(cls, receipt: dict[str, Any]) -> Outcome:
        result = receipt["result"] or {}
        return cls(
            receipt["mutation_id"],
            result["answer"],
            receipt["outcome"],
            receipt["code"],
            receipt["reason"],
            result.get("entry"),
            result.get("checkIn"),
            receipt["change_id"],
        )

    @classmethod
    def failed(cls, mutation_id: str, code: str, message: str) -> Outcome:
        entry = {"mutationId": mutation_id, "code": code, "message": message}
        return cls(mutation_id, FAILED, "rejected", code, message, entry)


@dataclass(frozen=True)
class SyncClock:
    """The server's time at receipt and the device's measured skew (device minus server)."""

    received: datetime
    skew_seconds: float | None

    @classmethod
    def measure(cls, device_time: datetime | None) -> SyncClock:
        now = datetime.now(UTC)
        skew = None if device_time is None else (device_time - now).total_seconds()
        return cls(now, skew)


async def sync_batch(principal: Principal, batch: SyncBatch, geofence: Geofence) -> dict[str, Any]:
    """Apply a batch; answer ``{synced, conflicts, failed, cursor}``."""
    entries = [Entry.of("checkin", raw) for raw in batch.check_ins]
    entries += [Entry.of("update", raw) for raw in batch.pending_updates]
    entries += [Entry.of("photo", raw) for raw in batch.photos]
    entries += [Entry.of("issue", raw) for raw in batch.issues]
    entries += [Entry.of("remark", raw) for raw in batch.remarks]
    clock = SyncClock.measure(batch.device_time)
    outcomes = await apply_entries(principal, entries, clock, geofence)
    answer: dict[str, Any] = {SYNCED: [], CONFLICTS: [], FAILED: []}
    for outcome in outcomes:
        answer[outcome.answer].append(
            outcome.mutation_id if outcome.answer == SYNCED else outcome.entry
        )
    own = [o.change_id for o in outcomes if o.change_id is not None]
    answer["cursor"] = max(own) if own else await change_queries.newest_change_id()
    return answer


async def apply_entries(
    principal: Principal,
    entries: list[Entry],
    clock: SyncClock,
    geofence: Geofence,
    *,
    batch: bool = True,
) -> list[Outcome]:
    """Apply ``entries`` in one transaction; one outcome per entry, in order. Outside a
    ``batch`` (one direct request) a refusal is the request's answer, not the office's news."""
    async with write_transaction():
        await sync_queries.lock_user_mutations(principal.user_id)
        stored = await sync_queries.receipts_for(
            principal.user_id, sorted({e.mutation_id for e in entries})
        )
        work = BatchWork(principal, clock, geofence, refusals_reported=batch)
        await work.load([e for e in entries if e.mutation_id not in stored])
        outcomes = [await work.settle(entry, stored) for entry in entries]
        await sync_queries.record_device_contact(
            principal.device_id, principal.user_id, clock.received, clock.skew_seconds
        )
        await work.commit()
        count_sync_outcomes(entries, outcomes, stored)
        return outcomes


@dataclass
class BatchWork:
    """The state of one batch inside its transaction: locked jobs, their checklists and
    history, and what is to be written at the end."""

    principal: Principal
    clock: SyncClock
    geofence: Geofence
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    checklists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seen: dict[str, tuple[str, Outcome]] = field(default_factory=dict)
    changed_by: list[Outcome] = field(default_factory=list)
    decided: list[tuple[Entry, Outcome]] = field(default_factory=list)
    check_ins: list[dict[str, Any]] = field(default_factory=list)
    moved_away: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    left: dict[str, dict[str, Any]] = field(default_factory=dict)
    photos: dict[str, dict[str, Any]] = field(default_factory=dict)
    attached: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)
    remarks: list[dict[str, Any]] = field(default_factory=list)
    refusals_reported: bool = True  # a batch's are; a direct request's are answered to it
    writer: JobWriter = field(init=False)

    def __post_init__(self) -> None:
        actor = Actor(self.principal.user_id, self.principal.device_id)
        self.writer = JobWriter(actor, self.clock.received)

    async def settle(self, entry: Entry, stored: dict[str, dict[str, Any]]) -> Outcome:
        """The outcome of ``entry``: stored before, seen earlier in this batch, or new."""
        before = stored.get(entry.mutation_id)
        if before is not None:
            return self._replayed(entry, before["body_hash"], Outcome.stored(before))
        if entry.mutation_id in self.seen:
            return self._replayed(entry, *self.seen[entry.mutation_id])
        outcome = await self._apply(entry)
        self.seen[entry.mutation_id] = (entry.hash, outcome)
        self.decided.append((entry, outcome))
        return outcome

    def _replayed(self, entry: Entry, first_hash: str, first: Outcome) -> Outcome:
        if first_hash == entry.hash:
            return first
        return Outcome.failed(
            entry.mutation_id,
            "mutation_id_reused",
            "This mutationId was already used for a different change; nothing was applied.",
        )

    async def load(self, fresh: list[Entry]) -> None:
        """Lock the jobs the batch's new mutations name that the caller may see; read their
        checklists, and the history of those some mutation saw at an older version (a phone
        in step with the server needs none). Of the rest, note which left the caller after
        the version their mutation saw: a reassignment they could not know of."""
        named = {job_id for e in fresh if (job_id := as_uuid(e.raw.get("jobId"))) is not None}
        self.jobs = await lock_jobs(sorted(named), visible_scope(self.principal))
        self.checklists = await job_queries.checklists_by_job(list(self.jobs))
        behind = {
            entry.read.job_id
            for entry in fresh
            if isinstance(entry.read, PendingUpdate)
            and entry.read.job_id in self.jobs
            and entry.read.base_version < self.jobs[entry.read.job_id]["version"]
        }
        for row in await change_queries.job_histories(sorted(behind)):
            self.history.setdefault(str(row["job_id"]), []).append(row)
        self.photos = await photo_queries.photos_by_id(
            [
                photo_id
                for e in fresh
                if isinstance(e.read, BatchPhoto | BatchProblem)
                and (photo_id := as_uuid(e.read.photo_id))
            ]
        )
        gone = sorted(named - set(self.jobs))
        if gone:
            self.moved_away = await change_queries.moved_away_from(self.principal.user_id, gone)
            self.left = {str(j["id"]): j for j in await job_queries.get_jobs(list(self.moved_away))}

    async def _apply(self, entry: Entry) -> Outcome:
        try:
            if isinstance(entry.read, MutationRejected):
                raise entry.read
            if isinstance(entry.read, PendingUpdate):
                return await self._update(entry.read)
            if entry.read.job_id in self.left:
                return await self._after_leaving(entry.read)
            if isinstance(entry.read, BatchCheckIn):
                return await self._check_in(entry.read)
            if isinstance(entry.read, BatchPhoto):
                return self._attach(entry.read)
            if isinstance(entry.read, BatchProblem):
                return self._report_problem(entry.read)
            return self._remark(entry.read)
        except MutationRejected as rejected:
            return Outcome.failed(entry.mutation_id, rejected.code, rejected.message)

    def _visible_job(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise MutationRejected("job_not_found", "No such job.")
        return job

    async def _update(self, update: PendingUpdate) -> Outcome:
        left = self.left.get(update.job_id)
        if left is not None and self.moved_away[update.job_id][0] > update.base_version:
            # Theirs at the version they edited: tell them it left.
            return self._reassigned(update.mutation_id, left)
        job = self._visible_job(update.job_id)
        checklist = {
            str(item["id"]): item["done"] for item in self.checklists.get(update.job_id, [])
        }
        history = history_since(
            self.history.get(update.job_id, []),
            update.base_version,
            job["version"],
            self.principal.device_id,
        )
        rights = Rights(
            moves=is_lead(job, self.principal.user_id),
            cancels=self.principal.audience.family == "office",
        )
        try:
            plan = plan_update(job, checklist, update, history, rights)
        except Superseded as superseded:
            return self._conflict(update.mutation_id, job, superseded.reason)
        outcome = Outcome(update.mutation_id, SYNCED, receipt_outcome(history, plan))
        outcome.client_time = corrected_time(
            update.client_timestamp, self.clock.skew_seconds, self.clock.received
        )
        if plan.writes:
            kind = "job.status_changed" if "status" in plan.values else "job.updated"
            self._change(job, plan.values, kind, outcome, plan.items)
        return outcome

    async def _check_in(self, check_in: BatchCheckIn) -> Outcome:
        """Recorded on any job the caller may see; only the lead's arrival moves it."""
        job = self._visible_job(check_in.job_id)
        outcome = self._record_visit(job, check_in)
        moves_to = job_states.status_after_check_in(job["status"], check_in.type)
        if moves_to is not None and is_lead(job, self.principal.user_id):
            self._change(job, {"status": moves_to}, "job.status_changed", outcome)
        return outcome

    def _attach(self, attachment: BatchPhoto) -> Outcome:
        """A photo of the job that this person uploaded (or asked an upload URL for: the bytes
        travel their own lane and may land later)."""
        self._visible_job(attachment.job_id)
        photo = self.photos.get(as_uuid(attachment.photo_id) or "")
        if (
            photo is None
            or str(photo["job"]) != attachment.job_id
            or str(photo["user_id"]) != self.principal.user_id
        ):
            raise MutationRejected(
                "photo_not_found", "No such photo of this job; ask for an upload URL first."
            )
        # Bytes that turned out to be another photo of the job's: attach that one.
        self.attached.append(str(photo["duplicate_of"] or photo["id"]))
        return Outcome(attachment.mutation_id, SYNCED, "applied")

    async def _after_leaving(
        self, done: BatchCheckIn | BatchPhoto | BatchProblem | BatchRemark
    ) -> Outcome:
        """Work done offline on a job taken off the caller's crew meanwhile. A check-in made
        before it was taken is kept (proof they were there; it moves nothing), one made after
        is not theirs to make; a photo, problem or remark is the new crew's business now: a
        ``job_reassigned`` conflict, as for their edits."""
        left = self.left[done.job_id]
        if not isinstance(done, BatchCheckIn):
            return self._reassigned(done.mutation_id, left)
        removed_at = self.moved_away[done.job_id][1]
        if removed_at.tzinfo is None:  # SQLite gives times back without their zone (UTC)
            removed_at = removed_at.replace(tzinfo=UTC)
        made = corrected_time(done.timestamp, self.clock.skew_seconds, self.clock.received)
        if made > removed_at:
            raise MutationRejected("job_not_found", "No such job.")
        outcome = self._record_visit(left, done)
        # The verdict is measured against the job as it is now: told to them, distances
        # from places they name would give away where it went. The office still sees it.
        assert outcome.check_in is not None
        outcome.check_in.update(distanceMeters=None, withinGeofence=None)
        return outcome

    def _record_visit(self, job: dict[str, Any], check_in: BatchCheckIn) -> Outcome:
        """Keep a check-in on ``job`` (written at commit) and answer it."""
        row = check_in_row(
            job,
            check_in,
            mutation_id=check_in.mutation_id,
            user_id=self.principal.user_id,
            device_id=self.principal.device_id,
            received=self.clock.received,
            skew_seconds=self.clock.skew_seconds,
            geofence=self.geofence,
        )
        self.check_ins.append(row)
        outcome = Outcome(check_in.mutation_id, SYNCED, "applied", check_in=check_in_answer(row))
        outcome.client_time = row["recorded_time"]
        return outcome

    def _reassigned(self, mutation_id: str, left: dict[str, Any]) -> Outcome:
        """A ``job_reassigned`` conflict that says only that the job left the caller: not
        as it is now, nor as the change that took it left it (that names the new crew)."""
        return self._conflict(mutation_id, left, "job_reassigned", job_left(str(left["id"])))

    def _report_problem(self, report: BatchProblem) -> Outcome:
        """Anyone who may see the job reports a problem on it: it goes (or stays) on hold,
        and its log row carries the report for the office's alert."""
        job = self._visible_job(report.job_id)
        if not job_states.can_report_problem(job["status"]):
            raise MutationRejected(
                "invalid_transition", f"A job that is {job['status']} cannot be put on hold."
            )
        if report.photo_id is not None:
            photo = self.photos.get(as_uuid(report.photo_id) or "")
            if photo is None or str(photo["job"]) != report.job_id:
                raise MutationRejected("photo_not_found", "No such photo of this job.")
        row = problem_row(
            report.job_id,
            report,
            mutation_id=report.mutation_id,
            user_id=self.principal.user_id,
            device_id=self.principal.device_id,
            reported_at=self.clock.received,
        )
        self.problems.append(row)
        outcome = Outcome(report.mutation_id, SYNCED, "applied")
        values = {} if job["status"] == job_states.ON_HOLD else {"status": job_states.ON_HOLD}
        self._change(
            job, values, "job.problem_reported", outcome, about={"problem": problem_fact(row)}
        )
        return outcome

    def _remark(self, remark: BatchRemark) -> Outcome:
        """A remark joins the job's others; the job moves a version up (so every copy of its
        detail is fetched again) but none of its fields change, so nothing conflicts."""
        job = self._visible_job(remark.job_id)
        row = remark_row(remark, user_id=self.principal.user_id, created_at=self.clock.received)
        self.remarks.append(row)
        outcome = Outcome(remark.mutation_id, SYNCED, "applied")
        about = {"remark": {"id": row["id"], "authorId": row["author_id"], "text": row["text"]}}
        self._change(job, {}, "job.remark_added", outcome, about=about)
        return outcome

    def _change(
        self,
        job: dict[str, Any],
        values: dict[str, Any],
        kind: str,
        outcome: Outcome,
        items: dict[str, bool] | None = None,
        about: dict[str, Any] | None = None,
    ) -> None:
        row = self.writer.change(job, values, kind, items, about)
        self.changed_by.append(outcome)
        self.history.setdefault(str(job["id"]), []).append(row)
        for item in self.checklists.get(str(job["id"]), []):
            if str(item["id"]) in (items or {}):
                item["done"] = items[str(item["id"])]  # type: ignore[index]
                item["done_at"] = self.clock.received if item["done"] else None

    def _conflict(
        self,
        mutation_id: str,
        job: dict[str, Any],
        reason: str,
        shown: dict[str, Any] | None = None,
    ) -> Outcome:
        entry = {
            "mutationId": mutation_id,
            "jobId": str(job["id"]),
            "reason": reason,
            "resolution": RESOLUTION,
            "job": shown or job_state(job, self.checklists.get(str(job["id"]), [])),
        }
        return Outcome(mutation_id, CONFLICTS, "superseded", reason, reason, entry)

    def _receipt(self, entry: Entry, outcome: Outcome) -> dict[str, Any]:
        return {
            "user_id": self.principal.user_id,
            "device_id": self.principal.device_id,
            "mutation_id": entry.mutation_id,
            "kind": entry.kind,
            "job_id": as_uuid(entry.raw.get("jobId")),
            "body_hash": entry.hash,
            "outcome": outcome.receipt,
            "code": outcome.code,
            "reason": outcome.message,
            "result": outcome.result(),
            "change_id": outcome.change_id,
            "client_time": outcome.client_time,
            "received_at": self.clock.received,
        }

    def _rejection(self, entry: Entry, outcome: Outcome) -> dict[str, Any]:
        """A mutation refused outright, as a fact for the office's alerts."""
        job_id = as_uuid(entry.raw.get("jobId"))
        job = self.jobs.get(job_id or "")
        return {
            "kind": SYNC_REJECTED,
            "branch_id": job["branch"] if job else self.principal.branch_id,
            "actor_id": self.principal.user_id,
            "device_id": self.principal.device_id,
            "payload": {
                "userId": self.principal.user_id,
                "deviceId": self.principal.device_id,
                "mutationId": entry.mutation_id,
                "kind": entry.kind,
                "jobId": job_id,
                "code": outcome.code,
                "message": outcome.message,
            },
        }

    async def commit(self) -> None:
        """Write the check-ins, log rows (each new check-in's own fact among them, for the
        CRM's events) and receipts of the mutations decided here.

        The last thing a batch does: the log rows' ids become readable only once every
        smaller id is settled (``server/changes/publish.py``), so the transaction stays short
        after them: only the receipts, which need the change ids, are written after it.
        """
        if self.check_ins:
            await check_in_queries.insert_check_ins(self.check_ins)
        await photo_queries.attach(self.attached, self.clock.received)
        ids = await self.writer.commit()
        for outcome, change_id in zip(self.changed_by, ids, strict=True):
            outcome.change_id = change_id
        await report_queries.insert_problems(self.problems)
        await report_queries.insert_remarks(self.remarks)
        facts = [
            check_in_fact(r, self.jobs.get(r["job"]) or self.left[r["job"]]) for r in self.check_ins
        ]
        if self.refusals_reported:
            facts += [
                self._rejection(e, o)
                for e, o in self.decided
                if o.answer == FAILED and o.code in REPORTED_REFUSALS
            ]
        if facts:
            await record_unscoped(facts)
        if self.decided:
            await sync_queries.insert_receipts([self._receipt(*pair) for pair in self.decided])


async def check_in(
    principal: Principal, job_id: str, request: CheckInRequest, key: str, geofence: Geofence
) -> dict[str, Any]:
    """One check-in outside a batch, idempotent by ``key``: ``{"checkIn": ...}``."""
    raw = {
        **request.model_dump(mode="json", by_alias=True, exclude={"mutation_id"}),
        "mutationId": key,
        "jobId": job_id,
    }
    outcome = await _apply_one(principal, Entry.of("checkin", raw), geofence)
    assert outcome.check_in is not None, outcome
    return {"checkIn": outcome.check_in}


async def report_problem(
    principal: Principal, job_id: str, request: ProblemRequest, geofence: Geofence
) -> dict[str, Any]:
    """One problem report outside a batch, idempotent by its ``mutationId``: ``{"job"}``,
    the job as it is now (on hold)."""
    raw = {**request.model_dump(mode="json", by_alias=True), "jobId": job_id}
    await _apply_one(principal, Entry.of("issue", raw), geofence)
    job = await job_queries.get_job(job_id)
    if job is None or not may_see(principal, job):  # taken off the crew since: not theirs
        raise JobNotFound()
    return {"job": job_fields(job)}


async def _apply_one(principal: Principal, entry: Entry, geofence: Geofence) -> Outcome:
    """One mutation sent on its own (not in a batch): applied as a batch of one, its refusal
    the request's answer."""
    clock = SyncClock(datetime.now(UTC), await sync_queries.device_skew(principal.device_id))
    outcome = (await apply_entries(principal, [entry], clock, geofence, batch=False))[0]
    if outcome.answer != FAILED:
        return outcome
    if outcome.code == "job_not_found":
        raise JobNotFound()
    if outcome.code == "mutation_id_reused":
        raise MutationIdReused(outcome.message)
    if outcome.code == "invalid_transition":
        raise InvalidTransition(outcome.message)
    field = "photoId" if outcome.code == "photo_not_found" else "body"
    raise ValidationFailed([(field, outcome.message)])

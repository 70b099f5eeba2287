"""Who may see what: the one place the product decides it.

A caller is a :class:`Principal` (as their access token says); from it an :class:`Audience`
is worked out once, and every domain asks the audience: the feed's filter, the version
scope an ETag hangs on, which live streams hear a change, whether a job, a branch's team or
a staff member's phone is theirs to see or manage.

- **staff** see the jobs assigned to them (and their team's updates);
- **dispatchers** see everything in their branch; one with no branch sees nothing;
- **admins** see everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

Family = Literal["field", "office"]

ALL_SCOPE = "all"
NO_BRANCH = "00000000-0000-0000-0000-000000000000"
"""A branch filter that matches no row: what a dispatcher without a branch is shown."""


class Role(StrEnum):
    STAFF = "staff"
    DISPATCHER = "dispatcher"
    ADMIN = "admin"

    @property
    def family(self) -> Family:
        """Which app a role gets: the field's (jobs, offline) or the office's (the board)."""
        return "field" if self is Role.STAFF else "office"


ANY_ROLE: tuple[Role, ...] = tuple(Role)
OFFICE_ROLES: tuple[Role, ...] = (Role.DISPATCHER, Role.ADMIN)
ADMINS: tuple[Role, ...] = (Role.ADMIN,)


def family_of(role: str | None) -> Family:
    """The app family of a role, or of a signed-out visitor (the field's)."""
    return "field" if role is None else Role(role).family


def user_scope(user_id: str) -> str:
    return f"user:{user_id}"


def branch_scope(branch_id: str) -> str:
    return f"branch:{branch_id}"


@dataclass(frozen=True, slots=True)
class Audience:
    """What one principal may see, worked out once from their role and branch."""

    role: Role
    user_id: str
    branch_id: str | None
    team_id: str | None

    @property
    def everything(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def family(self) -> Family:
        return self.role.family

    @property
    def branch_filter(self) -> str | None:
        """The branch a listing is narrowed to: none for admins, and for a caller without a
        branch one that matches nothing."""
        return None if self.everything else (self.branch_id or NO_BRANCH)

    @property
    def version_scope(self) -> str:
        """The one change-log scope whose version covers everything this audience sees."""
        if self.everything:
            return ALL_SCOPE
        if self.role is Role.DISPATCHER:
            return branch_scope(self.branch_id or NO_BRANCH)
        return user_scope(self.user_id)

    def office_of(self, branch_id: object) -> bool:
        """Whether this audience runs the office of ``branch_id`` (admins run every one)."""
        if self.everything:
            return True
        return (
            self.role is Role.DISPATCHER
            and self.branch_id is not None
            and branch_id is not None
            and str(branch_id) == self.branch_id
        )

    def sees_job(self, branch_id: object, assignee_ids: tuple[object, ...]) -> bool:
        """A job of ``branch_id`` assigned to ``assignee_ids`` (None where unassigned)."""
        if self.role is Role.STAFF:
            return any(a is not None and str(a) == self.user_id for a in assignee_ids)
        return self.office_of(branch_id)

    def hears_team(self, team_id: object) -> bool:
        """A team update: the office of its branch hears it (checked apart), staff of the
        team do."""
        return self.team_id is not None and team_id == self.team_id


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as the access token says."""

    user_id: str
    device_id: str
    role: Role
    branch_id: str | None
    team_id: str | None
    audience: Audience = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        role = Role(self.role)
        object.__setattr__(self, "role", role)
        audience = Audience(role, self.user_id, self.branch_id, self.team_id)
        object.__setattr__(self, "audience", audience)

"""Reading assessed work: each learner's assignments with their dates. Flush only."""

from __future__ import annotations

import difflib
import hashlib
import math
import unicodedata
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from blinker import Namespace
from flask import current_app, has_app_context
from sqlalchemy import Select, false, null, or_, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from lms.accounts.models import User
from lms.cohorts.enrolment import Carried, hold_enrolment
from lms.cohorts.models import Cohort
from lms.coursework.models import EDITABLE, Assignment, Attachment, DiffKind, Rubric, Submission, SubmissionStatus, SubmissionVersion
from lms.coursework.sharing import groups_of, member_score, sharers
from lms.database import DbSession, among, insert_unless_there, rowcount
from lms.learning.services import Close, Schedule, deadline_that_applies
from lms.storage.backends import Storage, as_storage
from lms.web.downloads import shortened
from lms.web.page_cache import fingerprint


def active_assignments(session: DbSession) -> list[Assignment]:
    return list(session.scalars(
        select(Assignment).where(Assignment.retired_at.is_(None)).order_by(Assignment.position)
        .options(selectinload(Assignment.module), selectinload(Assignment.phase), selectinload(Assignment.objectives))))


class ScoreSource(Protocol):
    """A feature that grades work (lms.grading, right of this one) gives, for the work
    list's one statement, the released score and its maximum of the ``Submission`` row in
    hand: two correlated scalar columns, null while no grade is released."""

    def released_score(self) -> tuple[ColumnElement[float | None], ColumnElement[float | None]]: ...


_SCORES: dict[str, ScoreSource] = {}


def register_scores(name: str, source: ScoreSource) -> None:
    """Called from a feature's ``init_app`` (again for every app: the same name replaces)."""
    _SCORES[name] = source


_STATE_WORDS = {SubmissionStatus.DRAFT: "draft", SubmissionStatus.SUBMITTED: "submitted",
                SubmissionStatus.RETURNED: "returned for revision", SubmissionStatus.RELEASED: "graded"}


@dataclass(frozen=True)
class WorkState:
    """Where one learner's work on one assignment stands, for the work list."""

    status: SubmissionStatus | None  # None: not started
    score: float | None = None       # the released score (a team member's own: their share may be adjusted)
    max_score: float | None = None
    shared: bool = False

    @property
    def words(self) -> str:
        if self.status is None:
            return "not started"
        if self.status is SubmissionStatus.RELEASED and self.score is not None and self.max_score is not None:
            return f"graded: {self.score:g} of {self.max_score:g} points"
        return _STATE_WORDS[self.status]


NOT_STARTED = WorkState(None)


def work_states(session: DbSession, user_id: int) -> dict[int, WorkState]:
    """Assignment id -> where ``user_id``'s work stands (their own, or their team's, which
    wins), with the released score (a team member's own: the team's moved by their
    adjustment): one statement whatever the number of assignments."""
    source = next(iter(_SCORES.values()), None)
    score, max_score = source.released_score() if source is not None else (null(), null())
    shared_rows = sharers([user_id])  # only this learner's rows: one a shared submission at most
    is_shared = shared_rows.c.submission_id.is_not(None) if shared_rows is not None else false()
    moved = shared_rows.c.points if shared_rows is not None else null()
    stmt = select(Submission.assignment_id, Submission.status, score, max_score, is_shared, moved)
    if shared_rows is not None:
        stmt = stmt.outerjoin(shared_rows, shared_rows.c.submission_id == Submission.id)
    found: dict[int, WorkState] = {}
    for assignment_id, status, points, out_of, shared, adjustment in session.execute(
            stmt.where(or_(Submission.user_id == user_id, is_shared))):
        if shared or assignment_id not in found:
            mine = member_score(points, out_of, adjustment) if shared and out_of is not None else points
            found[assignment_id] = WorkState(status, mine, out_of, shared=bool(shared))
    return found


def get_assignment(session: DbSession, key: str) -> Assignment | None:
    return session.scalar(select(Assignment).where(Assignment.key == key, Assignment.retired_at.is_(None)).options(
        selectinload(Assignment.rubric).selectinload(Rubric.versions), selectinload(Assignment.objectives)))


REVISION_DAYS = 7  # the default of config's REVISION_DAYS: returned work is due again a week after its return


def revision_days() -> int:
    """Days returned work has to be handed in again: the app's setting, or the default."""
    if has_app_context():
        return int(current_app.config.get("REVISION_DAYS", REVISION_DAYS))
    return REVISION_DAYS


@dataclass(frozen=True)
class Dates:
    opens_on: date
    due_on: date
    is_open: bool
    extended: bool
    revision: bool = False  # due_on is the revision window's end: the work was returned
    zone: str = "UTC"  # the cohort's time zone, where the due day ends (as the schedule reads it)
    close: Close | None = None  # when the learner's program closes: past due after it, nothing is handed in

    def closed(self, now: datetime) -> str | None:
        """Why nothing can be handed in at ``now``: the learner's program has closed and this
        is past due (an extension or a return for revision running to today keeps it open)."""
        return self.close.refuses(self.due_on, now, "work") if self.close is not None else None

    def late(self, when: datetime | date) -> bool:
        return handed_in_late(when, self.due_on, self.zone)

    @property
    def deadline(self) -> datetime:
        """The moment work handed in is late from (``late``): the end of the due day in the
        cohort's zone, which a learner elsewhere reads at another hour (``localdeadline``)."""
        return datetime.combine(self.due_on + timedelta(days=1), time(0), tzinfo=ZoneInfo(self.zone))


def handed_in_late(when: datetime | date, due_on: date, zone: str) -> bool:
    """Handed in after the due day, as the cohort's schedule counts days in its time zone
    (lms.progress.completion: overdue once the cohort's today is past it), not as the UTC
    date does."""
    day = when.astimezone(ZoneInfo(zone)).date() if isinstance(when, datetime) else when
    return day > due_on


def dates_for(assignment: Assignment, plan: Schedule, work: Submission | None = None) -> Dates | None:
    """Open and due dates in one learner's schedule (their own dates if they joined late):
    open with the phase (sooner with early access, which moves no due date: the learner
    may hand in early but is due with their classmates), due ``due_after_days`` after the
    phase's regular opening, later if the learner was granted an extension for that
    phase; and, given the learner's ``work`` returned for revision, due ``revision_days()``
    after its return (in the cohort's time zone) when that is later still, the rule their
    schedule follows (lms.progress.completion), so a revision handed in within that window
    is not late."""
    slot = plan.slot_for(assignment.phase_id)
    if slot is None:
        return None
    due = plan.timeline.item_dates(slot.phase.month, 0, assignment.due_after_days)[1]
    applies = deadline_that_applies(due, slot.extension)  # an extension ending before the phase does counts too
    dates = Dates(opens_on=slot.opens_on, due_on=applies, is_open=slot.is_open, extended=applies > due,
                  zone=plan.cohort.timezone, close=plan.close)
    if work is not None and work.status == SubmissionStatus.RETURNED and work.returned_at is not None:
        again = work.returned_at.astimezone(ZoneInfo(plan.cohort.timezone)).date() + timedelta(days=revision_days())
        if again > dates.due_on:
            return replace(dates, due_on=again, revision=True)
    return dates


# --------------------------------------------------------------------------- submissions

events = Namespace()
# Sent with ``session=``, ``now=`` and ``submission=`` each time a learner submits a version
# (the sender is the new SubmissionVersion). xAPI listens to it.
work_submitted = events.signal("work-submitted")
# Sent by ``carry_work`` once a moved learner's own submissions are the new cohort's, with
# ``session=``, ``submission_ids=``, ``source_id=`` and ``target_id=`` (the cohorts); the
# sender is the learner's id. The API records that they left the old cohort's lists.
work_carried = events.signal("work-carried")

ALLOWED_EXTENSIONS = {
    "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg",
    "gif": "image/gif", "txt": "text/plain", "md": "text/markdown", "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 10
MAX_BODY_CHARS = 100_000
MAX_FILENAME_CHARS = 120  # a file's name as shown; an archive cuts it further to its bytes (lms.web.downloads)


def upload_name(filename: str) -> tuple[str, str]:
    """The name an uploaded file is shown by, and its extension (lower case), both from the
    name as uploaded: its letters kept, in any script (NFC, as one character each); path
    separators and control and format characters (Unicode Cc, Cf; Cs, which no text can
    store) removed; whitespace collapsed; "file.<ext>" when nothing but the extension is
    left. Files are stored under a uuid, so this name is only ever shown (and named in a
    download's header or an archive, through lms.web.downloads)."""
    kept = "".join(" " if ch.isspace() else "" if ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cf", "Cs") else ch
                   for ch in unicodedata.normalize("NFC", filename))
    name = " ".join(kept.split())
    stem, dot, extension = name.rpartition(".")
    if not dot:
        return shortened(name or "file", chars=MAX_FILENAME_CHARS), ""
    return shortened(f"{stem.strip() or 'file'}.{extension}", chars=MAX_FILENAME_CHARS), extension.lower()


class SubmissionError(ValueError):
    """A problem the learner can fix; nothing was changed. ``field``: the work form's field
    it is about (``"body"``, ``"file"``), when it is about one, for the page to show it
    there and mark that field invalid."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StaleDraft(SubmissionError):
    """The draft was saved (from another tab or window) after the page saving it was opened."""

    def __init__(self) -> None:
        super().__init__("Your draft was saved from another tab or window after you opened this page, and this save "
                         "would have overwritten it: the draft saved there is shown below to copy from.")


def draft_mark(body: str) -> str:
    """What the work page sends back with a save: the draft text it showed, as a short digest
    (``save_draft`` refuses a save from a page whose draft has been replaced since)."""
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def _submission_of(assignment: Assignment, user_id: int) -> Select[Submission]:
    return (select(Submission).where(Submission.assignment_id == assignment.id, Submission.user_id == user_id)
            .options(selectinload(Submission.versions), selectinload(Submission.attachments)))


def submission_for(session: DbSession, assignment: Assignment, user_id: int) -> Submission | None:
    return session.scalar(_submission_of(assignment, user_id))


def start_submission(session: DbSession, assignment: Assignment, user_id: int, cohort_id: int | None, now: datetime) -> Submission:
    """The learner's submission for ``assignment``, started (a blank draft) when they have
    none; two requests starting it at once (a double click on Save) share one."""
    submission = submission_for(session, assignment, user_id)
    if submission is not None:
        return submission
    insert_unless_there(session, Submission, {"assignment_id": assignment.id, "user_id": user_id, "cohort_id": cohort_id,
                                              "created_at": now, "updated_at": now}, ("assignment_id", "user_id"))
    return session.scalars(_submission_of(assignment, user_id)).one()  # made above, or by the request that won


def start_own_submission(session: DbSession, assignment: Assignment, user_id: int, now: datetime) -> Submission:
    """The learner's own submission for ``assignment``, started (``start_submission``) when
    they have none in the cohort they are enrolled in as it is made, their enrolment held
    for this unit of work (``hold_enrolment``): an org admin moving them at that moment
    either waits and then carries it with their other work, or is waited for, so it never
    lands in the cohort they were moved out of. Work they already have was carried by the
    move that made them the new cohort's."""
    submission = submission_for(session, assignment, user_id)
    if submission is not None:
        return submission
    enrolment = hold_enrolment(session, user_id)
    return start_submission(session, assignment, user_id, enrolment.cohort_id if enrolment else None, now)


def _editable(session: DbSession, submission: Submission, dates: Dates | None, now: datetime) -> None:
    """Refuse a change unless the assignment is open and the work is still the learner's
    (``EDITABLE``). The check is a conditional write that takes the submission's row for
    this unit of work: a save and a hand-in sent at once (two tabs) are made one after the
    other, so a save that comes second is refused instead of changing a draft nobody will
    read, and a hand-in that comes second hands in what the save wrote (what was loaded
    before is read again)."""
    if dates is None or not dates.is_open:
        raise SubmissionError("This assignment is not open for you yet.")
    if (closed := dates.closed(now)) is not None:
        raise SubmissionError(closed)
    loaded = list(submission.__dict__.get("attachments") or ())
    taken = rowcount(session.execute(
        update(Submission).where(Submission.id == submission.id, Submission.status.in_(EDITABLE))
        .values(updated_at=now).execution_options(synchronize_session=False)))
    session.expire(submission)
    for attachment in loaded:
        session.expire(attachment)
    if not taken:
        raise SubmissionError("Your work is submitted; you can change it again if your instructor returns it for revision.")


def save_draft(session: DbSession, submission: Submission, body: str, dates: Dates | None, now: datetime,
               expected: str | None = None) -> None:
    """Replace the draft's text; given ``expected`` (``draft_mark`` of the draft the page
    showed), only if the draft is still that one: a page left open in one tab does not
    silently overwrite what was saved since from another (``StaleDraft``)."""
    _editable(session, submission, dates, now)
    if expected is not None and draft_mark(submission.draft_body or "") != expected:
        raise StaleDraft()
    if len(body) > MAX_BODY_CHARS:
        raise SubmissionError(f"Keep the text under {MAX_BODY_CHARS:,} characters; attach longer documents as files.",
                              field="body")
    submission.draft_body, submission.updated_at = body, now
    session.flush()


def add_attachment(session: DbSession, submission: Submission, filename: str, data: bytes, dates: Dates | None,
                   storage: Storage | Path, now: datetime) -> Attachment:
    """Store an uploaded file in ``storage`` (lms/storage: the upload folder inside instance/,
    never static, or the database, in this session's transaction); a folder means local disk."""
    _editable(session, submission, dates, now)
    name, extension = upload_name(filename)
    if extension not in ALLOWED_EXTENSIONS:
        raise SubmissionError(f"{filename!r}: files of this type are not accepted. Allowed: {', '.join(sorted(ALLOWED_EXTENSIONS))}.",
                              field="file")
    if len(data) > MAX_ATTACHMENT_BYTES:
        # its size rounded up, so a file a few bytes over is not said to be "10.0 MB" against a 10 MB limit
        size = math.ceil(len(data) * 10 / 1024 / 1024) / 10
        raise SubmissionError(f"{filename!r} is {size:.1f} MB, over the {MAX_ATTACHMENT_BYTES // 1024 // 1024} MB limit.",
                              field="file")
    if not data:
        raise SubmissionError(f"{filename!r} is empty.", field="file")
    if len(submission.current_attachments) >= MAX_ATTACHMENTS:
        raise SubmissionError(f"At most {MAX_ATTACHMENTS} files; remove one first.", field="file")
    stored = f"{submission.id}/{uuid.uuid4().hex}.{extension}"
    as_storage(storage).save(stored, data, session)
    attachment = Attachment(submission=submission, filename=name, stored_name=stored,
                            content_type=ALLOWED_EXTENSIONS[extension], size=len(data), uploaded_at=now)
    session.add(attachment)
    submission.updated_at = now
    session.flush()
    return attachment


def remove_attachment(session: DbSession, submission: Submission, attachment_id: int, dates: Dates | None, now: datetime) -> None:
    _editable(session, submission, dates, now)
    attachment = next((a for a in submission.current_attachments if a.id == attachment_id), None)
    if attachment is None:
        raise SubmissionError("That file is not part of your draft.")
    attachment.removed_at = now  # the file stays for the versions that included it
    session.flush()


def submit(session: DbSession, submission: Submission, dates: Dates | None, now: datetime) -> SubmissionVersion:
    _editable(session, submission, dates, now)
    body = submission.draft_body.strip()
    files = [a.id for a in submission.current_attachments]
    if not body and not files:
        raise SubmissionError("There is nothing to submit yet: write your answer or attach a file.", field="body")
    number = len(submission.versions) + 1
    version = SubmissionVersion(submission=submission, number=number, body=submission.draft_body, attachment_ids=files,
                                submitted_at=now, due_on=dates.due_on if dates else None,
                                late=bool(dates and dates.late(now)))
    session.add(version)
    submission.status, submission.submitted_at, submission.updated_at = SubmissionStatus.SUBMITTED, now, now
    session.flush()
    work_submitted.send(version, session=session, now=now, submission=submission)
    return version


@dataclass(frozen=True)
class DiffLine:
    kind: DiffKind
    text: str


def compare(old: SubmissionVersion, new: SubmissionVersion) -> list[DiffLine]:
    """Line by line, what changed in the text between two submitted versions."""
    kinds = {" ": DiffKind.SAME, "+": DiffKind.ADDED, "-": DiffKind.REMOVED}
    return [DiffLine(kinds[line[0]], line[2:]) for line in
            difflib.ndiff(old.body.splitlines(), new.body.splitlines()) if line[0] in kinds]


def return_for_revision(session: DbSession, submission: Submission, now: datetime) -> None:
    """The learner may edit and resubmit; the submitted versions stay as they were."""
    if submission.status != SubmissionStatus.SUBMITTED:
        raise SubmissionError("Only submitted work can be returned for revision.")
    submission.status, submission.updated_at = SubmissionStatus.RETURNED, now
    session.flush()


# --------------------------------------------------------------------------- a learner moving


@dataclass(frozen=True)
class CarriedWork:
    moved: int   # the learner's own submissions, now the new cohort's
    stayed: int  # a team's submissions they hold, left with the team in the old cohort


def carry_work(session: DbSession, user_id: int, source_id: int, target_id: int) -> CarriedWork:
    """A learner moved from cohort ``source_id`` to ``target_id``: their own submissions
    there, in every status, become the new cohort's (its gradebook, grading queue, grade
    exports and staff; the grades, grade history, peer reviews, attachments and versions
    hang on the submission and go with it). A team's submission they hold stays with the
    team, whose other members are still in the old cohort. One UPDATE whatever the number
    of submissions, and it carries whatever is the learner's in the old cohort when it
    runs, so nothing committed meanwhile is left behind; three statements before it."""
    own = list(session.scalars(select(Submission.id).where(Submission.user_id == user_id,
                                                           Submission.cohort_id == source_id)))
    if not own:
        return CarriedWork(0, 0)
    shared = sorted(groups_of(session, own))  # a team's work: every member's, graded with the team
    where = [Submission.user_id == user_id, Submission.cohort_id == source_id]
    if shared:
        where.append(~among(Submission.id, shared))
    moved = session.scalars(update(Submission).where(*where).values(cohort_id=target_id)
                            .returning(Submission.id).execution_options(synchronize_session="fetch")).all()
    if moved:
        work_carried.send(user_id, session=session, submission_ids=list(moved), source_id=source_id, target_id=target_id)
    return CarriedWork(len(moved), len(shared))


def on_learner_moved(user: User, *, session: DbSession, source: Cohort, target: Cohort, **_: object) -> Carried | None:
    """``learner_moved``'s receiver: carry the learner's work (``carry_work``) and say what moved and what stayed."""
    work = carry_work(session, user.id, source.id, target.id)
    said = []
    if work.moved:
        said.append(f"Their work on {_assignments(work.moved)} moved with them, with its grades and feedback.")
    if work.stayed:
        said.append(f"Team work on {_assignments(work.stayed)} stays with the team in {source.name}.")
    return Carried(" ".join(said)) if said else None


def _assignments(n: int) -> str:
    return f"{n} assignment{'s' * (n != 1)}"


def attachment_bytes(storage: Storage | Path, attachment: Attachment) -> bytes | None:
    """The stored file's content, or None if it is missing (or its name points outside the upload folder)."""
    return as_storage(storage).read(attachment.stored_name)


def page_stamp(user_id: ColumnElement[int], now: ColumnElement[datetime]) -> list[ColumnElement[Any]]:
    """What a learner's cached pages (``lms.web.page_cache``) show from this feature: their
    submissions."""
    return [select(fingerprint(Submission.id, Submission.assignment_id, Submission.cohort_id, Submission.status,
                               Submission.updated_at, Submission.submitted_at))
            .where(Submission.user_id == user_id).scalar_subquery()]

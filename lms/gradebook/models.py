"""The gradebook's kinds and statuses. It stores nothing of its own: every value is read
from grading, coursework, assessment and progress, and every bulk action writes through
their services."""

from __future__ import annotations

from enum import StrEnum


class ColumnKind(StrEnum):
    """What an assessed item (a column) is."""

    CHECK = "check"            # a weekly unit's practice check
    QUIZ = "quiz"              # a module quiz
    ASSIGNMENT = "assignment"  # case study, hands-on, capstone, critique
    PORTFOLIO = "portfolio"    # a level's portfolio review
    EXAM = "exam"              # a level's exam


class CellStatus(StrEnum):
    """Where one learner stands with one item."""

    NOT_OPEN = "not_open"        # opens later in their schedule
    NOT_STARTED = "not_started"  # open, nothing done yet
    IN_PROGRESS = "in_progress"  # a draft or an attempt not handed in
    OVERDUE = "overdue"          # past its due date with nothing handed in
    SUBMITTED = "submitted"      # handed in, waiting for a grade (work, or essays of an attempt)
    DRAFTED = "drafted"          # a grade drafted, the learner sees nothing yet
    RETURNED = "returned"        # returned for revision
    RELEASED = "released"        # graded, the grade released
    PASSED = "passed"            # a quiz, check or exam at or above its passing score
    FAILED = "failed"            # below it


class RowFilter(StrEnum):
    """The gradebook's row filters (never stored)."""

    ALL = "all"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"
    UNGRADED = "ungraded"


class BulkAction(StrEnum):
    RELEASE = "release"    # release the drafted grades of a column
    EXTEND = "extend"      # grant an extension for a column's part of the program
    REMOVE_EXTENSION = "remove_extension"  # remove those extensions (a confirmation page first)
    MESSAGE = "message"    # mail the learners
    DOWNLOAD = "download"  # every submission of an assignment as a zip with a manifest


class Scope(StrEnum):
    """Which learners a bulk action applies to."""

    SELECTED = "selected"  # the rows ticked
    SHOWN = "shown"        # every row the current filter shows

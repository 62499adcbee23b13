"""The kinds of question. Apart from the rest of ``lms.assessment.models`` because the
question specs (``lms.assessment.questions``) name them and the models store those specs."""

from __future__ import annotations

from enum import StrEnum


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUE_FALSE = "true_false"
    SHORT = "short"
    NUMERICAL = "numerical"
    MATCHING = "matching"
    ORDERING = "ordering"
    ESSAY = "essay"
    SCENARIO = "scenario"  # a case with sub-questions of the other kinds
    DESCRIPTION = "description"  # text shown in the quiz: no answer, no points (GIFT's description item)

    def __repr__(self) -> str:
        # Content authors read this in pydantic's "expected tags: 'single', 'multiple', ..."
        return repr(self.value)

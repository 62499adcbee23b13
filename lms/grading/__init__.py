"""Grading assessed work with rubrics: the instructors' queue, draft / release / return,
refusal of stale saves, and an audit trail of every change."""

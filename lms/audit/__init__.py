"""The audit log (issue 17 point 5): an append-only record of every administrative,
enrolment and grading action — who, what, when, from where, before and after."""

"""Module discussions (issue 13 point 6): threads and replies per module within a cohort,
with an instructor's moderation (answer, pin, lock, hide with a reason) kept in a log."""

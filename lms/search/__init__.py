"""Search: one box for lessons and templates by full text (what the user may read), and
for staff the learners of their cohorts by name or email."""

"""Demo data: an organization with a cohort five months in, its staff and learners."""

"""The gradebook: a cohort's learners against every assessed item, with bulk actions."""

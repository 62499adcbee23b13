"""The learner's side of a cohort: the schedule that turns program months into dates,
extensions and early access, the calendar feed, homes, and lessons gated by release."""

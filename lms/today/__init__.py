"""What's due: the learner's to-do list and the instructor's cohorts at a glance, on the home page."""

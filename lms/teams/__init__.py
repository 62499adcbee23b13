"""Team projects: one submission per team, graded once, with teammates' contribution ratings."""

"""Progress and competency: evidence against the eleven objectives and each learner's
mastery, updated as evidence arrives (a rebuild recomputes it all to the same numbers)."""

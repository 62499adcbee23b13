"""Learners' data rights (issue 17 point 6): a learner downloads everything kept about them
(JSON plus their files, as a zip); a site admin erases a learner on request; uploads of
cohorts archived long ago are purged by ``flask lms purge-uploads``."""

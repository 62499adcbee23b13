"""Expert evaluation: an outside expert rates a submission against its rubric through a single-use link."""

"""Backup and restore: ``flask lms backup`` writes a consistent snapshot of the database,
the uploads and a manifest (row counts, checksums); ``flask lms restore`` verifies a
backup and loads it into an empty database."""

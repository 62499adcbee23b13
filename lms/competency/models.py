"""Competency has no tables of its own: it reads evidence and mastery from lms.progress."""

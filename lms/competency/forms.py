"""Competency has no forms: its pages and exports only read, filtered by query string."""

"""Stakeholder feedback through single-use links, counted as evidence."""

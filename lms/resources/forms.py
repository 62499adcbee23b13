"""The template pages take no input: they read a template id from the URL and nothing else."""

from __future__ import annotations

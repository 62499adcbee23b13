"""The HTTP shell every feature builds on: layout, error pages, access rules, Markdown."""

"""The catalog has no forms: its pages only show the curriculum."""

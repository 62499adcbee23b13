"""The demo has no forms: it is the `flask lms demo` command (lms/demo/cli.py)."""

"""The demo has no pages: it is the `flask lms demo` command (lms/demo/cli.py)."""

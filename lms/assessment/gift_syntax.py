"""What GIFT's reader and writer share: its escapes and its text-format prefixes."""

from __future__ import annotations

import re

# Escaped characters become private-use placeholders while the reader takes a question
# apart, so that only unescaped characters act as syntax; text that already holds one of
# these characters can be neither read nor written.
ESCAPES = {"\\": "\ue000", "~": "\ue001", "=": "\ue002", "#": "\ue003", "{": "\ue004",
           "}": "\ue005", ":": "\ue006", "n": "\ue007", ">": "\ue008"}
PLACEHOLDER = re.compile("[\ue000-\ue008]")

# ``[markdown]``, ``[html]``, ``[plain]`` or ``[moodle]`` at the start of a text.
FORMAT_PREFIX = re.compile(r"^\s*\[(markdown|html|plain|moodle)\]", re.IGNORECASE)

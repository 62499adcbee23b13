"""LTI 1.3 Advantage tool: the program launches from inside Moodle, Canvas or another LMS."""

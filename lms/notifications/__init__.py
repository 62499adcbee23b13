"""Notifications: an in-app notification centre, email through the outbox, daily digests
and the reminders of ``flask lms send-reminders`` (issue 13 point 1)."""

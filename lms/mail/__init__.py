"""Outgoing mail: every message is kept in an outbox table and handed to one transport
(the log in development and tests, SMTP when configured)."""

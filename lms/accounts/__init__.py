"""People's accounts: sign-in, passwords, resets, time zones, site admins."""

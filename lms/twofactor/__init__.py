"""Two-factor sign-in (issue 17 point 3): TOTP, recovery codes, remembered devices."""

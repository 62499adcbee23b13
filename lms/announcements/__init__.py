"""Announcements (issue 13 point 5): staff post to a cohort, now or at a chosen time; learners
see them on their home until they dismiss them, and are notified as each becomes visible."""

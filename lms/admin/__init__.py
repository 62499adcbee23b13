"""The site admin console and the audit log's pages (issue 17 point 5)."""

"""Mail has no forms: it has no pages."""

"""Templates: the fill-in documents (Markdown or CSV) that lessons and assignments ask
learners to produce, loaded from ``content/templates/`` and offered for download."""

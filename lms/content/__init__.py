"""Loading the curriculum files into the database: parsing with line numbers, a registry
of content sections (catalog, quizzes, ...), idempotent sync that retires instead of deleting."""

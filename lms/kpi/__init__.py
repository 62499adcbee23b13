"""Key performance indicators: learners record their business figures against the program's targets."""

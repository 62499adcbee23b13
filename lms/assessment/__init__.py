"""Quizzes and exams: the question bank as files, attempts, scoring, review and statistics."""

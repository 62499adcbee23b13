"""Assessed work: case studies, hands-on assignments and the capstone, with their rubrics
(versioned, so grades keep the rubric they were given with)."""

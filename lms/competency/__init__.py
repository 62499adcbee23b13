"""Cohort competency for instructors and organizations: heat map, trend, ratings, exports."""

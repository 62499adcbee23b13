"""Organizations, their cohorts, instructors and learners: enrolment by invitation or
CSV, moving learners between cohorts, and who may see which cohort."""

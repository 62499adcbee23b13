"""The inbox: a private conversation per staff message sent to a learner, where the learner
replies and the cohort's staff answer, each reply notified to the other side."""

"""Each learner's portfolio per level: released work gathered by framework and objective,
curated with a reflection per objective, submitted for the level's portfolio review (an
assignment graded like any other) and shared read-only through a revocable link."""

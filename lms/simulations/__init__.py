"""Branching simulations: scenarios of decision points, scored by the path taken (issue 12 point 5)."""

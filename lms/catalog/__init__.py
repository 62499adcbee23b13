"""The curriculum as learners browse it: program, levels, objectives, modules, lessons."""

"""heron.agents: the planner, the step loop, task automation and the run store."""

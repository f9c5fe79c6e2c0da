"""The read side: projectors and checkpoints, the runner, live feed, rebuilds, row cache."""

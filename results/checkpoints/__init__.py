"""The small trained checkpoints of results/checkpoints/, installed with smoothbench as the package
smoothbench_checkpoints (pyproject.toml), so that the registered models resolve outside a source checkout."""

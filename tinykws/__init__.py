"""tinykws: keyword spotting from Speech Commands to a Cortex-M4."""

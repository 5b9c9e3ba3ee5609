"""tinykws data stage."""

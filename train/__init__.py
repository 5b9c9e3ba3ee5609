"""tinykws train stage."""

"""tinykws features stage."""

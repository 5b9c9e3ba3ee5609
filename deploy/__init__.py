"""tinykws deploy stage."""

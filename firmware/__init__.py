"""tinykws firmware stage."""

"""Demo and test material: realistic sample mail and real media files (not used by the daemon itself)."""

"""Small helpers only."""

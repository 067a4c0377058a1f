"""The warehouse table of good movies and the analytic view over it."""

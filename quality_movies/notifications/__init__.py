"""Success and failure messages about pipeline runs."""

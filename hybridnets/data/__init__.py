"""placeholder: filled by the data work."""

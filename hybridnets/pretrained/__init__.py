"""placeholder: filled by the pretrained work."""

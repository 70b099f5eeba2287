"""Object storage for photos: local files by default, S3-compatible for several instances."""

"""What the field reports on a job besides its progress: problems and remarks."""

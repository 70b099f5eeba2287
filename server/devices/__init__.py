"""Staff phones as the office sees them: last contact, clock skew, what they synced, and
signing one out."""

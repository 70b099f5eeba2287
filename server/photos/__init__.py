"""Photos: upload URLs, checks and variants, evidence, processing, object storage."""

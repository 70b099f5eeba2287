"""A person's data under Thailand's PDPA: everything held about them, exported or erased."""

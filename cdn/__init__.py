"""The app shell's sources and their build (hashed, precompressed assets and icons)."""

"""The change log, the spine: every write appends to it; readers resume after an id."""

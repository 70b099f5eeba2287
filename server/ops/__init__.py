"""Operations: health, readiness, metrics, retention."""

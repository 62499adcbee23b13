"""The demo has no tables of its own: it fills the other features' tables."""

"""Writes of the redemption app: keyword-only `<noun>_<verb>` functions (see README)."""

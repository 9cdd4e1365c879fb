"""Bundled SGZ weights (plain state_dicts); see docs/default_weights.md for how they were trained."""

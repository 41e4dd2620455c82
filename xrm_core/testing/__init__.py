"""Test and benchmark helpers for xRM (not used at runtime)."""

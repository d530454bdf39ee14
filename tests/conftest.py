"""Shared fixtures: each fixture module owns one kind of generated test data."""

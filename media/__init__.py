"""Tandem media package."""

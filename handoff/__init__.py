"""Tandem handoff package."""

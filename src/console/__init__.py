"""Infusion monitoring console for intravenous ketamine sessions."""

__version__ = "0.1.0"

"""Bundled device simulator: a patient under a ketamine infusion and an infusion pump, speaking ICL/1."""

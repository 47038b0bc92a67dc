"""Bundled device simulator: a patient under a ketamine infusion and a pump, speaking ICL/1."""

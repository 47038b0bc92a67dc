"""Wire formats: ICL/1 and Masimo ASCII 1 decoders (pure functions and small state machines, no I/O)."""

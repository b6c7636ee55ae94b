"""Fixtures that run the Goofish simulator in-process (filled in by the simulator work)."""

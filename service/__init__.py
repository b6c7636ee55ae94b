"""Wiring of the whole process: settings, logging, and the running service."""

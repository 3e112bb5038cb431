"""Runtimes, one module each. Never imports torch at module import time."""

"""edgekit's version, in a module of its own so any module can read it without importing the
package's public API (which would make every importer depend on the whole package)."""
__version__ = "0.1.0"

"""The version of finops-flows, at the bottom of the library so every layer may name it."""

__version__ = "0.1.0"

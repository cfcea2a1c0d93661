"""Adapters for the seed APIs (CONTRACT section 7): one module per API."""

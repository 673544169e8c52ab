"""Pricing a graph: the op registry, cost rules, per-level analysis and activation memory."""

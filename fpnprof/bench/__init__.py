"""Latency: bench specs and timers, paired rounds, statistics, peaks, breakdowns, workers."""

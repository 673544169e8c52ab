"""Latency without timing every design: a per-op latency model of this machine, fitted once by
``fpnprof calibrate``, that prices any neck in milliseconds (``fpnprof predict``)."""

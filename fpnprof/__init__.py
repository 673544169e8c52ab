"""fpnprof: a profiler for feature-pyramid necks (FPN, PAFPN, BiFPN) over ResNet18."""

__version__ = "0.1.0"

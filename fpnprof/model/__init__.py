"""The model as data: configuration, graph, builder, backbone and the neck registry (no framework)."""

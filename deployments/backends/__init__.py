"""Provisioning backends: one module per Target.kind, each registered with @register_backend.
Backends speak the dataclasses in base.py and never import the ORM or know about HTTP requests."""

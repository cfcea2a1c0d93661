import service  # noqa: F401  - before anything imports grpc: it turns grpc's fork handlers off (service/__init__.py)

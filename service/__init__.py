"""userservice: reads and updates users over gRPC, REST (Envoy) and grpcurl.

The generated protobuf modules live in ``generated/`` and are importable as ``userservice.v1``.
"""

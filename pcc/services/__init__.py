"""ASGI services: relay, gateway, issuer, transparency log, witness."""

"""Exceptions raised by pcc.

Every error pcc raises derives from :class:`PccError`. Errors from decryption and verification
carry a fixed message and no detail, so they cannot serve as an oracle.
"""


class PccError(Exception):
    """Base class of every pcc error."""


class InvalidArgument(PccError, ValueError):
    """An argument has the wrong type, length or value."""


class FormatError(PccError, ValueError):
    """Input is malformed or truncated."""


class VerifyError(PccError):
    """A signature, proof or attestation did not verify."""


class DecryptError(PccError):
    """Authenticated decryption failed (wrong key, tampered or truncated ciphertext)."""


class CryptoError(PccError):
    """An underlying cryptographic primitive failed unexpectedly."""


class StateError(PccError):
    """An object was used in a state that does not allow it (e.g. sequence number exhausted)."""


class LimitError(PccError):
    """A size or count limit was exceeded."""


class UnsupportedError(PccError):
    """The algorithm or suite is not supported or not offered."""


class UnknownKeyError(PccError, KeyError):
    """A key identifier is not known to the receiver."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "unknown key"


class PeerError(PccError):
    """Another service (a witness, a log, a gateway) answered outside the caller's limits: too
    slow for the call's deadline, a body or decompressed body above its cap, or unreachable.

    ``peer`` names the service, ``limit`` the limit it broke (``"deadline"``, ``"max_body"``,
    ``"max_decoded"``, ``"encoding"`` or ``"connect"``); the message never quotes the body.
    """

    def __init__(self, peer: str, problem: str, limit: str = "connect") -> None:
        super().__init__(f"{peer}: {problem}")
        self.peer = peer
        self.problem = problem
        self.limit = limit

    def __reduce__(self):
        return (type(self), (self.peer, self.problem, self.limit))


class OutOfMemory(PccError, MemoryError):
    """Secure memory could not be allocated."""


__all__ = [
    "PccError", "InvalidArgument", "FormatError", "VerifyError", "DecryptError", "CryptoError",
    "StateError", "LimitError", "UnsupportedError", "UnknownKeyError", "OutOfMemory",
    "PeerError",
]

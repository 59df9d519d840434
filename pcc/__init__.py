"""pcc: an open, verifiable private-inference cloud.

The C engine (``pcc._core``) does the cryptography, secure memory and inference; the modules here
are typed wrappers over it. Everything raises :mod:`pcc.errors` types.
"""

__version__ = "0.1.0"

"""The compute node: an enclave process (identity key, HPKE keys, registers), a host process
(model mapped once, one sandboxed worker per request, forked ahead in a small pool) and this
service, which moves only ciphertext. See docs/node.md.

- :func:`load_config` reads and checks a ``node.json``; :meth:`NodeConfig.measured` is the frozen
  configuration a release logs as its ``node-config`` component.
- :func:`create_app` returns the node's ASGI service (a :class:`pcc.services._app.Service`);
  starting it boots the node: the release leaf and its proof (fetched from the transparency log,
  or read from files) are verified against the log's and witnesses' keys, every component is
  measured and compared, the identity key is certified by the provisioning CA, the registers are
  extended and locked, and the first attestation bundle is signed. While it serves, the proof
  is refreshed and the bundle signed again, and a proof about to go stale fails ``/healthz``.
"""
from pcc.node._boot import BootError
from pcc.node._config import NodeConfig, load as load_config, parse as parse_config
from pcc.node._service import ANSWER_TYPE, ATTESTATION_TYPE, create_app

__all__ = ["NodeConfig", "load_config", "parse_config", "create_app", "BootError",
           "ANSWER_TYPE", "ATTESTATION_TYPE"]

# pcc._core: request workers (csrc/py/py_worker.c).
from typing import Any, Sequence, Tuple, Union

_Buf = Union[bytes, bytearray, memoryview]

WORKER_EXIT_SANDBOX: int
WORKER_EXIT_INVOKE: int
WORKER_EXIT_KEY: int
WORKER_EXIT_IO: int

class WorkerHost:
    def spawn(self, chan_fd: int, enclave_fd: int) -> int: ...

def worker_host(model_path: str, node_id: _Buf, layers: int = ..., optional: int = ...,
                netns_fd: int = ..., max_payload: int = ..., threads: int = ...) -> WorkerHost: ...
def worker_unwrap_reply(fd: int, keys: Sequence[Tuple[_Buf, Any, int, int, int]],
                        node_id: _Buf) -> None: ...

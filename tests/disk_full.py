"""A full disk on demand, for tests that show an interrupted save leaves the old file whole."""

import resource
import signal
from contextlib import contextmanager


@contextmanager
def disk_fills_after(n_bytes: int):
    """Within the block, a file cannot grow past `n_bytes`: a longer write fails part-way (EFBIG), as on a full disk."""
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead of killing the process
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)

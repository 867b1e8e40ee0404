"""Child processes that respect file permissions even when the test suite runs as root.

Root ignores a directory's missing write bit (CAP_DAC_OVERRIDE), so a test of
read-only installs or caches would test nothing in CI, which runs as root.
Dropping the file-permission capabilities from the bounding set before exec
makes root an ordinary owner: a 0o555 directory is read-only to it.

`unprivileged(argv)` runs `argv` through this file as a launcher (drop, then
exec) rather than as a ``preexec_fn``: that would fork the test process, whose
threads (JAX's, Numba's) make a fork unsafe.
"""

import ctypes
import os
import sys

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def drop_file_privileges() -> None:
    """From now on this process and what it execs (as root or not) obey file permissions."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def unprivileged(argv: list[str]) -> list[str]:
    """The command line that runs `argv` without root's right to ignore file permissions."""
    return [sys.executable, os.path.abspath(__file__), *argv]


if __name__ == "__main__":
    drop_file_privileges()
    os.execv(sys.argv[1], sys.argv[1:])

"""Child processes that respect file permissions even when the test suite runs as root.

Root ignores a directory's missing write bit (CAP_DAC_OVERRIDE), so a test of
read-only installs or caches would test nothing in CI, which runs as root.
Dropping the file-permission capabilities from the child's bounding set before
exec makes root an ordinary owner: a 0o555 directory is read-only to it.
"""

import ctypes
import os

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER = 1, 2, 3


def drop_file_privileges() -> None:
    """A ``preexec_fn``: the child (as root or not) obeys file permissions."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

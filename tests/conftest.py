"""Suite-wide settings.

hypothesis draws the same examples on every run (CI is deterministic);
ADJIT_HYPOTHESIS_PROFILE=thorough draws many more, at random.

Generated modules go to a temporary cache directory of this run, never to the
user's ``~/.cache/adjit`` (subprocesses inherit it through ADJIT_CACHE_DIR).
ADJIT_TEST_CACHE_DIR names a directory to keep between runs instead.
"""

import atexit
import os
import shutil
import tempfile

from hypothesis import settings

settings.register_profile("adjit", max_examples=50, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=1500, deadline=None)
settings.load_profile(os.environ.get("ADJIT_HYPOTHESIS_PROFILE", "adjit"))

if os.environ.get("ADJIT_TEST_CACHE_DIR"):
    os.environ["ADJIT_CACHE_DIR"] = os.environ["ADJIT_TEST_CACHE_DIR"]
else:
    _cache = tempfile.mkdtemp(prefix="adjit-test-cache-")
    os.environ["ADJIT_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)


def pytest_addoption(parser):
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="run the cases marked slow at full size (by default: the same code, smaller)",
    )


def pytest_generate_tests(metafunc):
    """A test marked slow that takes `size` runs with size "full" under --runslow and
    "small" otherwise: the same code at a size this machine compiles quickly."""
    if metafunc.definition.get_closest_marker("slow") and "size" in metafunc.fixturenames:
        metafunc.parametrize(
            "size", ["full" if metafunc.config.getoption("--runslow") else "small"]
        )

"""Suite-wide settings: hypothesis draws the same examples on every run (CI is
deterministic); ADJIT_HYPOTHESIS_PROFILE=thorough draws many more, at random."""

import os

from hypothesis import settings

settings.register_profile("adjit", max_examples=50, deadline=None, derandomize=True)
settings.register_profile("thorough", max_examples=1500, deadline=None)
settings.load_profile(os.environ.get("ADJIT_HYPOTHESIS_PROFILE", "adjit"))

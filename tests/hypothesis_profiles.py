"""Hypothesis profiles for the property tests, chosen by the environment.

`dev` (the default) explores a fresh sample on every run; `ci` is smaller and derandomized, so
`make test` stays fast and a failure on CI reproduces exactly from the printed blob; `long` is
for a deliberate hunt (`HYPOTHESIS_PROFILE=long`). CI=true selects `ci` unless a profile is named.
"""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=timedelta(seconds=2))
settings.register_profile(
    "ci",
    max_examples=50,
    derandomize=True,
    deadline=timedelta(seconds=2),
    print_blob=True,
    # A shared CI machine may be slow to generate large examples; that is not a failure.
    suppress_health_check=[HealthCheck.too_slow],
    # Derandomized runs need no example database, and CI clones start without one anyway.
    database=None,
)
settings.register_profile("long", max_examples=5000, deadline=None)


def load_profile() -> str:
    """Load the profile the environment names and return its name."""
    default = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
    name = os.environ.get("HYPOTHESIS_PROFILE") or default
    settings.load_profile(name)
    return name

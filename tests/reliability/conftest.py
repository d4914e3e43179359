"""Shared pieces of the reliability suite (issue 11)."""

import os

from hypothesis import HealthCheck, settings

# `make test` runs a bounded number of examples; `make test-long` sets RELIABILITY_EXAMPLES.
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "25"))
STEPS = int(os.environ.get("RELIABILITY_STEPS", "30"))

settings.register_profile(
    "reliability",
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

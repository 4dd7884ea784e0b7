"""socklab's performance benchmark: ratios against baselines measured in the same run.

Run it from the repository root with ``python -m tests.benchmarks`` (see the README).
Nothing here is part of the default test run, and nothing asserts a wall-clock
time: every figure is compared with a baseline measured in the same invocation.
"""

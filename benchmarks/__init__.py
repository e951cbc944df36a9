"""Benchmarks, run from the repository root as modules: `python -m benchmarks.pipeline`, `python -m benchmarks.load`.

A package so that the tests import what they share with it by name, with no sys.path edits: `benchmarks.synthetic`
(the drawn face and the encoded clips made from it) and `benchmarks.load` (a real `serve` process started and
stopped). pytest puts the repository root on sys.path (`pythonpath` in pyproject's [tool.pytest.ini_options]).
"""

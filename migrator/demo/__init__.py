"""A deterministic demo "global deployment" (database, model files, feature flags) to split with migrator.

Run ``python -m migrator.demo.generate demo`` from the repository root, then the plan ``plans/demo.yaml``.
"""

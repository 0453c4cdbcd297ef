"""Where a run's table units execute: in this process (engine/parallel.py, `--executor local`) or on
a Dask cluster (`--executor dask`, executors/dask.py, the one module that imports distributed)."""

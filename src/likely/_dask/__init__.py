"""Fitting on Dask collections: per-partition sums of score and Hessian, Newton on the driver."""

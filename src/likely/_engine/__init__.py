"""The one engine every model walks: parameters, data, solvers, information, results."""

"""Order statistics for the benchmark's samples."""

import math
import statistics


def percentile(ordered, fraction):
    """Return the nearest-rank percentile of an already sorted list."""
    if not ordered:
        raise ValueError("percentile of no samples")
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class Summary:
    """Median, p99 and maximum of a list of samples, in the samples' unit."""

    def __init__(self, samples):
        ordered = sorted(samples)
        self.count = len(ordered)
        self.median = statistics.median(ordered)
        self.p99 = percentile(ordered, 0.99)
        self.max = ordered[-1]
        self.min = ordered[0]


def spread(values):
    """Return (min, max) of a list of per-run figures."""
    return min(values), max(values)


def ratio(value, reference):
    """Return value / reference, or None when the reference is zero or missing."""
    if reference is None or value is None or reference == 0:
        return None
    return value / reference

"""Bootstrap confidence intervals over videos, and paired comparisons of two runs.

A resample draws as many videos as the benchmark has, with replacement (seeded, so the same
benchmark gives the same intervals); each headline number is recomputed on every resample
and its interval is the percentile interval. Two runs on the same videos are compared on the
same resamples (paired): their difference is outside the noise when its interval excludes 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

RESAMPLES = 1000
SEED = 0
LEVEL = 0.95


@dataclass(frozen=True)
class Bootstrap:
    resamples: int = RESAMPLES
    seed: int = SEED
    level: float = LEVEL

    def weights(self, videos: int) -> np.ndarray:
        """(resamples, videos): how many times each resample drew each video."""
        rng = np.random.default_rng(self.seed)
        return rng.multinomial(videos, np.full(videos, 1.0 / videos), size=self.resamples).astype(float)

    def interval(self, samples: np.ndarray) -> tuple[float, float]:
        """The percentile interval of the resamples where the number is defined (not NaN)."""
        tail = (1 - self.level) / 2 * 100
        samples = samples[~np.isnan(samples)]
        if not len(samples):
            return float("nan"), float("nan")
        low, high = np.percentile(samples, [tail, 100 - tail])
        return float(low), float(high)

    def describe(self) -> dict:
        return {"resamples": self.resamples, "seed": self.seed, "level": self.level, "over": "videos"}


Statistic = Callable[[np.ndarray], dict[str, float]]


def intervals(statistic: Statistic, videos: int, bootstrap: Bootstrap
              ) -> tuple[dict[str, list[float | None]], dict[str, int]]:
    """The interval over the resamples of each number ``statistic(weights)`` returns, and for
    each number undefined on some resamples (AP where a resample drew no truth), how many."""
    draws = [statistic(w) for w in bootstrap.weights(videos)]
    found, undefined = {}, {}
    for name in draws[0]:
        samples = np.array([d[name] for d in draws])
        found[name] = [rounded(v) for v in bootstrap.interval(samples)]
        if missing := int(np.isnan(samples).sum()):
            undefined[name] = missing
    return found, undefined


def rounded(value: float | None) -> float | None:
    """4 decimals; None for None and for NaN (an AP without truth), which JSON cannot hold."""
    return None if value is None or np.isnan(value) else round(float(value), 4)


def paired_difference(candidate: Statistic, baseline: Statistic, videos: int, bootstrap: Bootstrap) -> dict[str, dict]:
    """For each number: candidate minus baseline on all videos, its interval on the same
    resamples, and whether that interval excludes 0."""
    full = np.ones(videos)
    point = {name: candidate(full)[name] - value for name, value in baseline(full).items()}
    draws = [(candidate(w), baseline(w)) for w in bootstrap.weights(videos)]
    out = {}
    for name, delta in point.items():
        low, high = bootstrap.interval(np.array([c[name] - b[name] for c, b in draws]))
        out[name] = {"difference": rounded(delta), "interval": [rounded(low), rounded(high)],
                     "outside_noise": bool(low > 0 or high < 0)}
    return out

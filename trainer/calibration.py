"""Confidence calibration fitted on the validation slice: temperature scaling or isotonic.

A confidence is a probability that a suggestion is right; ``correct`` says whether it was.
``fit_calibrator(method="auto")`` chooses:

* identity when the slice has no points or only one class (all right or all wrong): there is
  nothing to calibrate against, and any fit would push every confidence to 0 or 1;
* isotonic regression when it has at least ``ISOTONIC_MIN_POINTS`` (50) points of both
  classes together — flexible, monotone, needs data;
* temperature scaling otherwise — one parameter, safe on small slices.

Every calibrator has ``apply(confidences) -> np.ndarray`` (values in [0, 1]), ``to_dict()``
and ``from_dict()``; ``calibrator_from_dict`` rebuilds any of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

ISOTONIC_MIN_POINTS = 50
EPSILON = 1e-6
LOG_T_RANGE = (math.log(0.05), math.log(20.0))


def _arrays(confidences: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=np.float64).reshape(-1)
    hits = np.asarray(correct, dtype=np.float64).reshape(-1)
    if conf.shape != hits.shape:
        raise ValueError(f"{conf.size} confidences but {hits.size} correctness labels")
    if not np.all(np.isfinite(conf)):
        raise ValueError("confidences must be finite")
    return conf, hits


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPSILON, 1 - EPSILON)
    return np.asarray(np.log(p) - np.log1p(-p), dtype=np.float64)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.exp(-np.logaddexp(0.0, -z)), dtype=np.float64)


class IdentityCalibrator:
    """Leaves confidences as they are (clipped to [0, 1])."""

    method = "identity"

    def __init__(self, note: str | None = None) -> None:
        self.note = note

    def apply(self, confidences: Any) -> np.ndarray:
        """Return the confidences clipped to [0, 1]."""
        return np.clip(np.asarray(confidences, dtype=np.float64), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"method": self.method, "note": self.note}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IdentityCalibrator:
        """Rebuild from :meth:`to_dict` output."""
        return cls(note=data.get("note"))


class TemperatureScaler:
    """p' = σ(logit(p) / T), or σ(z / T) for logits, with T fitted by minimising the NLL.

    T > 1 softens over-confident scores, T < 1 sharpens under-confident ones. T is searched on
    a log scale in [0.05, 20] (golden-section search; the binary NLL is unimodal in log T).
    """

    method = "temperature"

    def __init__(self, temperature: float = 1.0, from_logits: bool = False) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)
        self.from_logits = from_logits

    def _logits(self, values: np.ndarray) -> np.ndarray:
        return values if self.from_logits else _logit(values)

    def fit(self, confidences: Any, correct: Any) -> TemperatureScaler:
        """Fit T on validation confidences (or logits) and 0/1 correctness; returns self."""
        conf, hits = _arrays(confidences, correct)
        if conf.size == 0:
            raise ValueError("cannot fit a temperature on no points")
        logits = self._logits(conf)

        def nll(log_t: float) -> float:
            z = logits / math.exp(log_t)
            return float(np.mean(np.logaddexp(0.0, z) - hits * z))

        low, high = LOG_T_RANGE
        ratio = (math.sqrt(5) - 1) / 2
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        fa, fb = nll(a), nll(b)
        for _ in range(80):
            if fa <= fb:
                high, b, fb = b, a, fa
                a = high - ratio * (high - low)
                fa = nll(a)
            else:
                low, a, fa = a, b, fb
                b = low + ratio * (high - low)
                fb = nll(b)
        self.temperature = math.exp((low + high) / 2)
        return self

    def apply(self, confidences: Any) -> np.ndarray:
        """Calibrated probabilities for confidences (or logits, if fitted on logits)."""
        values = np.asarray(confidences, dtype=np.float64)
        return _sigmoid(self._logits(values) / self.temperature)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"method": self.method, "temperature": self.temperature,
                "from_logits": self.from_logits}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TemperatureScaler:
        """Rebuild from :meth:`to_dict` output."""
        return cls(temperature=float(data["temperature"]),
                   from_logits=bool(data.get("from_logits", False)))


def pool_adjacent_violators(values: Any, weights: Any | None = None) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    y = np.asarray(values, dtype=np.float64).reshape(-1)
    w = np.ones_like(y) if weights is None else np.asarray(weights, dtype=np.float64)
    means: list[float] = []
    masses: list[float] = []
    lengths: list[int] = []
    for value, weight in zip(y, w, strict=True):
        means.append(float(value))
        masses.append(float(weight))
        lengths.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            mass = masses[-2] + masses[-1]
            mean = (means[-2] * masses[-2] + means[-1] * masses[-1]) / mass
            length = lengths[-2] + lengths[-1]
            del means[-1], masses[-1], lengths[-1]
            means[-1], masses[-1], lengths[-1] = mean, mass, length
    return np.repeat(np.asarray(means), lengths)


class IsotonicCalibrator:
    """Monotone step fit of correctness on confidence (pool adjacent violators).

    Equal confidences are pooled first; predictions interpolate linearly between the fitted
    points, stay flat beyond the fitted range, and are clipped to [0, 1].
    """

    method = "isotonic"

    def __init__(self, x: Sequence[float] = (), y: Sequence[float] = ()) -> None:
        self.x = np.asarray(x, dtype=np.float64)
        self.y = np.asarray(y, dtype=np.float64)

    def fit(self, confidences: Any, correct: Any) -> IsotonicCalibrator:
        """Fit on validation confidences and 0/1 correctness; returns self."""
        conf, hits = _arrays(confidences, correct)
        if conf.size == 0:
            raise ValueError("cannot fit isotonic regression on no points")
        distinct, inverse, counts = np.unique(conf, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=hits) / counts
        fitted = pool_adjacent_violators(means, counts)
        keep = np.ones(len(distinct), dtype=bool)
        # Inside a flat run only its two ends matter for interpolation.
        keep[1:-1] = ~((fitted[1:-1] == fitted[:-2]) & (fitted[1:-1] == fitted[2:]))
        self.x, self.y = distinct[keep], fitted[keep]
        return self

    def apply(self, confidences: Any) -> np.ndarray:
        """Calibrated probabilities in [0, 1]."""
        if self.x.size == 0:
            raise ValueError("IsotonicCalibrator is not fitted")
        values = np.asarray(confidences, dtype=np.float64)
        return np.clip(np.interp(values, self.x, self.y), 0.0, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {"method": self.method, "x": self.x.tolist(), "y": self.y.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IsotonicCalibrator:
        """Rebuild from :meth:`to_dict` output."""
        return cls(x=data["x"], y=data["y"])


Calibrator = IdentityCalibrator | TemperatureScaler | IsotonicCalibrator
_BY_METHOD: dict[str, Any] = {c.method: c for c in
                              (IdentityCalibrator, TemperatureScaler, IsotonicCalibrator)}


def calibrator_from_dict(data: Mapping[str, Any]) -> Calibrator:
    """Rebuild any calibrator from its ``to_dict`` output."""
    method = data.get("method")
    if method not in _BY_METHOD:
        raise ValueError(f"unknown calibration method {method!r}")
    return _BY_METHOD[method].from_dict(data)  # type: ignore[no-any-return]


def fit_calibrator(confidences: Any, correct: Any, method: str = "auto") -> Calibrator:
    """Fit a calibrator on validation points; ``method`` is auto, isotonic, temperature or
    identity (see the module docstring for what auto picks). An explicit isotonic or
    temperature fit needs both classes and raises ValueError otherwise."""
    conf, hits = _arrays(confidences, correct)
    right = int(np.sum(hits > 0.5))
    both = 0 < right < conf.size
    if method == "auto":
        if not both:
            return IdentityCalibrator(
                note=f"{conf.size} validation points, {right} correct: one class missing")
        method = "isotonic" if conf.size >= ISOTONIC_MIN_POINTS else "temperature"
    if method == "identity":
        return IdentityCalibrator()
    if method not in ("isotonic", "temperature"):
        raise ValueError(f"method must be auto, isotonic, temperature or identity: {method!r}")
    if not both:
        raise ValueError(f"{method} calibration needs both correct and wrong points")
    if method == "isotonic":
        return IsotonicCalibrator().fit(conf, hits)
    return TemperatureScaler().fit(conf, hits)


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: [lower, upper), its size, mean confidence and accuracy."""

    lower: float
    upper: float
    count: int
    mean_conf: float | None
    accuracy: float | None


def reliability_bins(confidences: Any, correct: Any, bins: int = 10) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1] (the last one includes 1.0); empty bins have None means."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    conf, hits = _arrays(confidences, correct)
    conf = np.clip(conf, 0.0, 1.0)
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    out = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        out.append(ReliabilityBin(
            lower=b / bins, upper=(b + 1) / bins, count=count,
            mean_conf=float(conf[members].mean()) if count else None,
            accuracy=float(hits[members].mean()) if count else None,
        ))
    return out


def expected_calibration_error(confidences: Any, correct: Any, bins: int = 10) -> float:
    """Σ_b (n_b / n)·|accuracy_b - mean confidence_b| over equal-width bins."""
    table = reliability_bins(confidences, correct, bins)
    total = sum(b.count for b in table)
    if total == 0:
        raise ValueError("expected_calibration_error needs at least one point")
    return float(sum(b.count / total * abs(b.accuracy - b.mean_conf)  # type: ignore[operator]
                     for b in table if b.count))

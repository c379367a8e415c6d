"""Calibration: PAV, isotonic and temperature fits, the auto choice, ECE and reliability."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from trainer.calibration import (
    IdentityCalibrator,
    IsotonicCalibrator,
    TemperatureScaler,
    calibrator_from_dict,
    expected_calibration_error,
    fit_calibrator,
    pool_adjacent_violators,
    reliability_bins,
)


def test_pool_adjacent_violators_by_hand() -> None:
    # [1, 3, 2] pools 3 and 2 into 2.5; [4, 3] pools into 3.5.
    np.testing.assert_allclose(pool_adjacent_violators([1, 3, 2, 4, 3, 5]),
                               [1, 2.5, 2.5, 3.5, 3.5, 5])
    np.testing.assert_allclose(pool_adjacent_violators([3, 2, 1]), [2, 2, 2])
    np.testing.assert_allclose(pool_adjacent_violators([1, 0], weights=[3, 1]), [0.75, 0.75])
    np.testing.assert_allclose(pool_adjacent_violators([0, 1, 1]), [0, 1, 1])


def test_isotonic_fit_and_interpolation_by_hand() -> None:
    # correctness 0 1 0 0 1 1 -> PAV: 0, then 1,0,0 pooled to 1/3, then 1, 1.
    calibrator = IsotonicCalibrator().fit([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [0, 1, 0, 0, 1, 1])
    np.testing.assert_allclose(calibrator.x, [0.1, 0.2, 0.4, 0.5, 0.6])  # 0.3 is mid-run
    np.testing.assert_allclose(calibrator.y, [0, 1 / 3, 1 / 3, 1, 1])
    np.testing.assert_allclose(calibrator.apply([0.05, 0.15, 0.3, 0.45, 0.9]),
                               [0, 1 / 6, 1 / 3, 2 / 3, 1])


def test_isotonic_pools_equal_confidences_first() -> None:
    # x=0.5 holds (0, 1) -> 0.5 with weight 2; [1, 0.5] pools to (1 + 2*0.5) / 3 = 2/3.
    calibrator = IsotonicCalibrator().fit([0.2, 0.5, 0.5, 0.8], [1, 0, 1, 1])
    np.testing.assert_allclose(calibrator.apply([0.2, 0.5, 0.8]), [2 / 3, 2 / 3, 1])


def test_temperature_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.05, 0.95, 20_000)
    correct = rng.uniform(size=truth.size) < truth
    logit = np.log(truth / (1 - truth))
    overconfident = 1 / (1 + np.exp(-2 * logit))  # reported as if T were 1/2
    scaler = TemperatureScaler().fit(overconfident, correct)
    assert scaler.temperature == pytest.approx(2.0, rel=0.1)
    np.testing.assert_allclose(scaler.apply(overconfident), truth, atol=0.05)
    # On logits, the same temperature.
    on_logits = TemperatureScaler(from_logits=True).fit(2 * logit, correct)
    assert on_logits.temperature == pytest.approx(scaler.temperature, rel=1e-3)


def test_temperature_minimises_the_nll_on_a_grid() -> None:
    conf = np.array([0.9, 0.8, 0.7, 0.95, 0.6, 0.3])
    correct = np.array([1, 0, 1, 1, 0, 0])
    scaler = TemperatureScaler().fit(conf, correct)

    def nll(t: float) -> float:
        z = np.log(conf / (1 - conf)) / t  # NLL in logit form, stable for tiny T
        return float(np.mean(np.logaddexp(0, z) - correct * z))

    grid = np.exp(np.linspace(math.log(0.05), math.log(20), 4001))
    assert nll(scaler.temperature) <= min(nll(t) for t in grid) + 1e-9


def test_auto_choice_follows_size_and_classes() -> None:
    rng = np.random.default_rng(3)
    conf = rng.uniform(size=60)
    correct = rng.uniform(size=60) < conf
    assert isinstance(fit_calibrator(conf, correct), IsotonicCalibrator)
    assert isinstance(fit_calibrator(conf[:50], correct[:50]), IsotonicCalibrator)
    assert isinstance(fit_calibrator(conf[:49], correct[:49]), TemperatureScaler)
    all_right = fit_calibrator(conf, np.ones(60, dtype=bool))
    assert isinstance(all_right, IdentityCalibrator)
    assert "one class missing" in (all_right.note or "")
    assert isinstance(fit_calibrator([], []), IdentityCalibrator)
    assert isinstance(fit_calibrator(conf[:5], correct[:5], method="isotonic"),
                      IsotonicCalibrator)
    with pytest.raises(ValueError, match="both correct and wrong"):
        fit_calibrator(conf, np.zeros(60), method="temperature")
    with pytest.raises(ValueError, match="method must be"):
        fit_calibrator(conf, correct, method="platt")


@pytest.mark.parametrize("method", ["isotonic", "temperature", "identity"])
def test_calibrators_round_trip_and_stay_in_range(method: str) -> None:
    rng = np.random.default_rng(4)
    conf = rng.uniform(size=80)
    correct = rng.uniform(size=80) < conf ** 2
    calibrator = fit_calibrator(conf, correct, method=method)
    again = calibrator_from_dict(json.loads(json.dumps(calibrator.to_dict())))
    probe = np.array([-0.5, 0.0, 0.25, 0.5, 0.999, 1.0, 1.5])  # out-of-range input too
    np.testing.assert_allclose(again.apply(probe), calibrator.apply(probe))
    out = calibrator.apply(probe)
    assert np.all((out >= 0) & (out <= 1))
    with pytest.raises(ValueError, match="unknown calibration method"):
        calibrator_from_dict({"method": "magic"})


def test_ece_on_four_points_by_hand() -> None:
    conf, correct = [0.9, 0.8, 0.3, 0.35], [1, 0, 0, 1]
    # bins of 0.1: 0.9 -> |1 - 0.9|, 0.8 -> |0 - 0.8|, {0.3, 0.35} -> |0.5 - 0.325| twice
    assert expected_calibration_error(conf, correct) == pytest.approx((0.1 + 0.8 + 0.35) / 4)
    # two bins: [0, .5) -> |0.5 - 0.325|, [.5, 1] -> |0.5 - 0.85|, half the points each
    assert expected_calibration_error(conf, correct, bins=2) == pytest.approx(0.2625)
    assert expected_calibration_error([1.0, 0.0], [1, 0]) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        expected_calibration_error([], [])


def test_reliability_bins_report_count_confidence_and_accuracy() -> None:
    table = reliability_bins([0.9, 0.8, 0.3, 0.35, 1.0], [1, 0, 0, 1, 1], bins=4)
    assert [(b.lower, b.upper) for b in table] == [(0, 0.25), (0.25, 0.5), (0.5, 0.75),
                                                   (0.75, 1.0)]
    assert [b.count for b in table] == [0, 2, 0, 3]
    assert table[0].mean_conf is None and table[0].accuracy is None
    assert table[1].mean_conf == pytest.approx(0.325) and table[1].accuracy == pytest.approx(0.5)
    assert table[3].mean_conf == pytest.approx(0.9) and table[3].accuracy == pytest.approx(2 / 3)

"""`likely tour` and the CLI: the lesson's numbers, the plot, exit codes."""

import os
import subprocess
import sys

import pytest

from likely.tour import run


def test_tour_reproduces_the_lesson(tmp_path):
    lines: list[str] = []
    res = run(str(tmp_path), say=lines.append)
    # the coin example of the lesson: 0.117, 0.267, 0.057
    assert res["L(0.5)"] == pytest.approx(120 * 0.5**10, rel=1e-12)
    assert round(res["L(0.5)"], 3) == 0.117
    assert round(res["L(0.7)"], 3) == 0.267
    assert round(res["L(0.9)"], 3) == 0.057
    assert res["p_hat"] == pytest.approx(0.7)
    assert os.path.getsize(res["plot"]) > 10_000
    # the MLE of the variance divides by n
    from likely._datasets import goog_log_returns

    r = goog_log_returns()
    assert res["normal_var"] == pytest.approx(r.var(ddof=0), rel=1e-12)
    assert res["se_mu"] == pytest.approx(r.std(ddof=0) / len(r) ** 0.5, rel=1e-9)
    assert res["bernoulli_p"] == pytest.approx((r > 0).mean())
    assert res["bce"] == pytest.approx(0.692789, abs=1e-6)
    text = "\n".join(lines)
    assert "Invariance" in text and "MAP" in text


def test_cli_tour_and_errors(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "likely.cli", "tour", "--out", str(tmp_path / "t")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "L(0.7) = 0.2668" in out.stdout
    assert (tmp_path / "t" / "coin_likelihood.png").exists()
    bad = subprocess.run(
        [sys.executable, "-m", "likely.cli", "nonsense"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode != 0 and "invalid choice" in bad.stderr

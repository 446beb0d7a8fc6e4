"""The sweep report: tables, statistics, figures, and the HTML page rendered in headless Chromium."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from synthgrade.errors import SynthgradeError
from synthgrade.experiment import SyntheticSpec, TrialSpec, read_split, run_sweep, sweep_config_from_dict, synthetic_path
from synthgrade.io import write_json
from synthgrade.metrics import paired_bootstrap_diff, t_interval
from synthgrade.report import write_report
from synthgrade.report.tables import cell_table, tidy_results

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FIGURES = ["metric_vs_share", "seed_spread", "teacher_vs_students", "synthetic_diagnostics"]


def report_synthetic(spec: SyntheticSpec) -> dict:
    path = synthetic_path(spec.run_dir, spec.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"id": spec.key, "text": "x", "label": "correct", "synthetic": True}) + "\n")
    write_json(
        path.with_name(f"{spec.key}.diagnostics.json"),
        {
            "key": spec.key,
            "params": spec.params,
            "diagnostics": {"rows_kept": 40 - 10 * spec.temperature, "distinct_2": spec.temperature},
        },
    )
    return {}


def report_trial(spec: TrialSpec) -> dict:
    """Deterministic fake results: hybrid helps, high temperature is noisier."""
    test = read_split(spec.run_dir, "test")
    labels = test.attrs["labels"]
    truth = [labels.index(v) for v in test["label"]]
    p = spec.params
    # hash() of a tuple holding None differs between processes on Python 3.11: seed from the numbers instead.
    rng = np.random.default_rng([p["seed"], round(p["ratio"] * 100), round((p["temperature"] or 0) * 100)])
    noise = 0.02 + 0.1 * (p["temperature"] or 0)
    value = 0.6 + 0.2 * p["ratio"] + rng.normal(0, noise)
    predictions = [t if rng.random() < value else 1 - t for t in truth]

    def entry(v: float, speed: float) -> dict:
        return {
            "metrics": {m: {"value": v, "ci_low": v - 0.1, "ci_high": v + 0.1} for m in ("accuracy", "macro_f1")},
            "speed": {"responses_per_s": speed, "latency_ms": {"p50": 1000 / speed}},
            "parameters": 1000,
            "predictions": predictions,
        }

    return {
        "teacher": entry(value, 150.0),
        "students": [{"name": "static", **entry(value - 0.05, 3000.0)}],
        "counts": {"human": 10, "synthetic": int(40 * p["ratio"])},
    }


@pytest.fixture
def run_dir(tmp_path, fixtures) -> Path:
    config = sweep_config_from_dict(
        {
            "name": "report-test",
            "data": {"path": str(fixtures / "civics.csv"), "split": {"test": 0.3}},
            "generation": {"temperatures": [0.3, 0.9]},
            "mix": {"ratios": [0.0, 0.5, 0.8]},
            "seeds": [0, 1, 2],
        }
    )
    out = tmp_path / "run"
    run_sweep(config, out, trial_fn=report_trial, synthetic_fn=report_synthetic, show_progress=False)
    return out


def test_t_interval_and_paired_bootstrap():
    mean, low, high = t_interval([0.5, 0.6, 0.7])
    assert mean == pytest.approx(0.6) and low < 0.6 < high
    assert high - low == pytest.approx(2 * 4.302653 * 0.1 / math.sqrt(3), rel=1e-4)
    assert math.isnan(t_interval([0.5])[1])
    truth = [0, 1] * 50
    better = list(truth)
    worse = [1 - t if i % 4 == 0 else t for i, t in enumerate(truth)]
    diff, low, high = paired_bootstrap_diff("accuracy", truth, better, worse, 2, rounds=300)
    assert diff == pytest.approx(0.25) and 0 < low <= diff <= high


def test_cells_pair_each_hybrid_with_the_human_only_model_of_the_same_seed(run_dir):
    rows = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    tidy = tidy_results(rows)
    cells = cell_table(tidy, "macro_f1")
    teacher = cells[cells["model"] == "teacher"]
    assert len(teacher) == 5 and set(teacher["seeds"]) == {3}
    hybrid = teacher[(teacher["ratio"] == 0.8) & (teacher["temperature"] == 0.3)].iloc[0]
    human = tidy[(tidy["model"] == "teacher") & (tidy["ratio"] == 0)].set_index("seed")["macro_f1"]
    mine = tidy[(tidy["model"] == "teacher") & (tidy["ratio"] == 0.8) & (tidy["temperature"] == 0.3)].set_index("seed")[
        "macro_f1"
    ]
    expected = t_interval((mine - human).tolist())
    assert hybrid["diff"] == pytest.approx(expected[0]) and hybrid["diff_low"] == pytest.approx(expected[1])
    assert hybrid["ci_method"] == "seeds (t)"
    students = cells[cells["model"] == "static"]
    assert len(students) == 5 and students["throughput"].iloc[0] == pytest.approx(3000.0)


def test_report_files_and_self_contained_html(run_dir):
    report = write_report(run_dir)
    out = run_dir / "report"
    assert report.path == out / "index.html"
    for name in FIGURES:
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = report.path.read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", page)
    assert "<script" not in page and "@import" not in page
    summary = json.loads((out / "summary.json").read_text())
    assert [h["setting"] for h in summary["headline"]] == ["human only", "best hybrid"]
    assert "diff vs human only" in page
    assert (out / "results.csv").read_text().count("\n") == len(report.cells) + 1


def test_report_plots_are_drawn_not_blank_and_on_the_expected_axes(run_dir):
    """Each PNG holds a drawn figure (not a blank canvas), and each figure plots what its axes say."""
    import matplotlib.image as mpimg

    from synthgrade.experiment import ResultsStore
    from synthgrade.report.plots import (
        metric_vs_share_figure,
        seed_spread_figure,
        synthetic_diagnostics_figure,
        teacher_vs_students_figure,
    )

    report = write_report(run_dir)
    assert [f.name for f in report.figures] == FIGURES
    for figure in report.figures:
        pixels = mpimg.imread(figure.path)[..., :3]
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100, figure.name
        assert pixels.var() > 0, f"{figure.name} is a blank image"
        assert (pixels < 0.9).any(axis=2).mean() > 0.01, f"{figure.name} has almost nothing drawn"

    share = metric_vs_share_figure(report.cells, "macro_f1")
    for ax in share.get_axes():
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("synthetic share of training set (%)", "macro F1 (test)")
        assert {line.get_label() for line in ax.get_lines()} >= {"T=0.3", "T=0.9"}
        assert max(max(line.get_xdata()) for line in ax.get_lines()) == pytest.approx(80.0)  # shares in percent

    tidy = tidy_results(ResultsStore(run_dir / "trials.jsonl").rows())
    left, right = seed_spread_figure(tidy, "macro_f1").get_axes()
    assert (left.get_xlabel(), left.get_ylabel()) == ("generation temperature", "macro F1 (each seed)")
    assert (right.get_xlabel(), right.get_ylabel()) == ("generation temperature", "SD of macro F1 across seeds")
    assert sum(len(c.get_offsets()) for c in left.collections) == 2 * 2 * 3  # shares x temperatures x seeds

    (speed,) = teacher_vs_students_figure(report.cells, "macro_f1").get_axes()
    assert speed.get_xlabel().startswith("throughput (responses per second") and speed.get_xscale() == "log"
    assert {text.get_text() for text in speed.get_legend().get_texts()} == {"teacher (150/s)", "static (3,000/s)"}

    sets = [json.loads(p.read_text()) for p in sorted((run_dir / "synthetic").glob("*.diagnostics.json"))]
    panels = [ax for ax in synthetic_diagnostics_figure(sets).get_axes() if ax.axison]
    assert [ax.get_title() for ax in panels] == ["rows kept", "distinct 2"]
    assert all(ax.get_xlabel() == "temperature" and ax.get_lines() for ax in panels)


def test_report_with_one_seed_uses_paired_bootstrap(tmp_path, fixtures):
    config = sweep_config_from_dict(
        {"data": {"path": str(fixtures / "civics.csv"), "split": {"test": 0.3}}, "mix": {"ratios": [0.0, 0.8]}, "seeds": [0]}
    )
    run_sweep(config, tmp_path / "run", trial_fn=report_trial, synthetic_fn=report_synthetic, show_progress=False)
    report = write_report(tmp_path / "run")
    hybrid = report.cells[(report.cells["model"] == "teacher") & (report.cells["ratio"] > 0)].iloc[0]
    assert hybrid["ci_method"] == "test bootstrap" and hybrid["diff_method"] == "paired test bootstrap"
    assert hybrid["diff_low"] <= hybrid["diff"] <= hybrid["diff_high"]


def test_report_errors(tmp_path):
    with pytest.raises(SynthgradeError, match="no trials.jsonl"):
        write_report(tmp_path)
    (tmp_path / "trials.jsonl").write_text("")
    with pytest.raises(SynthgradeError, match="no finished trials"):
        write_report(tmp_path)


CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const out = [];
  for (const img of document.querySelectorAll('figure img')) {
    const box = img.getBoundingClientRect();
    const style = getComputedStyle(img);
    out.push({id: img.closest('figure').id, complete: img.complete, natural: img.naturalWidth,
              width: box.width, height: box.height, visible: style.visibility === 'visible' && style.display !== 'none'});
  }
  const pre = document.createElement('pre');
  pre.id = 'render-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (make test-setup installs it)")
def test_report_renders_in_headless_chromium(run_dir, tmp_path):
    report = write_report(run_dir)
    # The report itself has no script; a copy gets one that records what the browser rendered.
    probe = tmp_path / "probe.html"
    probe.write_text(report.path.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--virtual-time-budget=5000",
        "--dump-dom",
        probe.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="render-check">(.*?)</pre>', result.stdout, re.S)
    assert match, f"chromium did not render the page: {result.stderr[-500:]}"
    import html as html_lib

    rendered = json.loads(html_lib.unescape(match.group(1)))
    assert [r["id"] for r in rendered] == FIGURES
    for figure in rendered:
        assert figure["complete"] and figure["natural"] > 100, figure
        assert figure["width"] > 100 and figure["height"] > 100 and figure["visible"], figure

    screenshot = tmp_path / "page.png"
    subprocess.run(
        [*command[:-2], f"--screenshot={screenshot}", "--window-size=1200,2400", report.path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert screenshot.exists() and screenshot.stat().st_size > 10_000


def test_report_templates_ship_as_package_data():
    """The templates are installed with the package (a wheel holds only files package-data names)."""
    import fnmatch
    import tomllib

    import synthgrade

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["synthgrade"]
    package = Path(synthgrade.__file__).parent
    templates = sorted((package / "report" / "templates").glob("*"))
    assert {t.name for t in templates} >= {"base.html", "macros.html", "sweep.html", "build.html"}
    for template in templates:
        assert any(fnmatch.fnmatch(template.relative_to(package).as_posix(), p) for p in patterns), template
    assert any(dep.startswith("jinja2") for dep in pyproject["project"]["dependencies"])

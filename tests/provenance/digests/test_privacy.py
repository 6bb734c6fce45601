"""Differential privacy as provenance: the epsilon spent after each epoch is a leaf of that
epoch's tree, verification checks the history, and an edited epsilon is named."""

from __future__ import annotations

import json
import shutil

import pytest

from provenance.digests import privacy
from provenance.digests.context import value_leaf
from provenance.errors import ConfigError
from provenance.training import TrainOptions, run_training
from tests.support.cli import cli

OFFLINE = {"blockchain": {"enabled": False}}


@pytest.fixture(scope="session")
def dp_run(tmp_path_factory):
    """Two epochs of DP-SGD (Opacus, default PRV accountant) with provenance, anchored locally."""
    base = tmp_path_factory.mktemp("dp-runs")
    result = run_training(TrainOptions(epochs=2, dp=True, target_epsilon=3.0, delta=1e-5, max_grad_norm=1.0,
                                       base_dir=str(base), run_id="dp"))
    assert result.verification and result.verification["ok"], [c for c in result.verification["checks"] if not c["ok"]]
    return result


@pytest.fixture
def dp_copy(dp_run, tmp_path):
    return shutil.copytree(dp_run.run_dir, tmp_path / "dp")


def verify_json(run_dir):
    done = cli("verify", str(run_dir), "--json")
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


def test_each_epoch_tree_holds_the_privacy_spent_so_far(dp_run):
    record = json.loads((dp_run.run_dir / "record.json").read_text())
    stages = {s["name"]: s for s in record["stages"]}
    assert record["config"]["dp"] == {"target_epsilon": 3.0, "delta": 1e-5, "max_grad_norm": 1.0, "accountant": "prv",
                                           "sampling": "poisson", "clipping": "flat", "secure_mode": False}
    epsilons = []
    for name in ("epoch-1", "epoch-2", "post"):
        accounting = stages[name]["metrics"]["privacy"]
        leaves = {l[1]: l for l in stages[name]["leaves"] if l[0] == "privacy"}
        assert set(leaves) == {"epsilon", "delta", "accountant", "noise_multiplier", "sample_rate", "steps"}
        # each leaf is the blake3 of the canonical JSON value the metrics hold
        assert leaves["epsilon"] == value_leaf("privacy", "epsilon", accounting["epsilon"]).to_json()
        assert "privacy" not in {l[1] for l in stages[name]["leaves"] if l[0] in ("metrics", "results")}
        epsilons.append(accounting["epsilon"])
    assert 0 < epsilons[0] < epsilons[1] == epsilons[2] <= 3.0
    assert stages["epoch-2"]["metrics"]["privacy"]["steps"] == 2 * stages["epoch-1"]["metrics"]["privacy"]["steps"]
    assert [p["epsilon"] for p in dp_run.privacy] == epsilons[:2]
    # the post tree's results also carry the whole history, so the final root commits to it directly
    history = stages["post"]["metrics"]["history"]
    assert [h["privacy"]["epsilon"] for h in history] == epsilons[:2]


def test_verification_checks_and_reports_the_history(dp_run):
    checks = {c["name"]: c for c in dp_run.verification["checks"]}
    for name in ("privacy history non-decreasing", "privacy within target", "privacy accounting matches config",
                 "privacy recomputed", "epoch-1 privacy", "epoch-2 privacy", "post privacy"):
        assert checks[name]["ok"], checks[name]
    assert [h["stage"] for h in dp_run.verification["privacy"]] == ["epoch-1", "epoch-2", "post"]
    report = json.loads(dp_run.report_path.read_text())
    assert report["privacy"]["target"]["target_epsilon"] == 3.0
    assert [h["epsilon"] for h in report["privacy"]["history"]] == [h["epsilon"] for h in dp_run.verification["privacy"]]
    markdown = dp_run.report_path.with_suffix(".md").read_text()
    assert "## Differential privacy (target epsilon 3.0" in markdown and "| epoch-2 |" in markdown


def test_edited_epsilon_in_the_stage_metrics_is_named(dp_copy):
    record = json.loads((dp_copy / "record.json").read_text())
    record["stages"][1]["metrics"]["privacy"]["epsilon"] = 0.5  # epoch-1 claims less privacy loss
    (dp_copy / "record.json").write_text(json.dumps(record))
    code, report = verify_json(dp_copy)
    assert code == 1
    assert [(c["stage"], c["kind"], c["name"], c["change"]) for c in report["changes"]] == [("epoch-1", "privacy", "epsilon", "changed")]
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert {"epoch-1 privacy", "privacy recomputed"} <= failed  # and 0.5 is not what its noise gives


def test_epsilon_edited_in_leaf_and_metrics_breaks_the_tree(dp_copy):
    record = json.loads((dp_copy / "record.json").read_text())
    stage = record["stages"][2]  # epoch-2
    stage["metrics"]["privacy"]["epsilon"] = 1.0
    forged = value_leaf("privacy", "epsilon", 1.0).to_json()
    stage["leaves"] = [forged if l[:2] == ["privacy", "epsilon"] else l for l in stage["leaves"]]
    (dp_copy / "record.json").write_text(json.dumps(record))
    code, report = verify_json(dp_copy)
    assert code == 1
    failed = {c["name"]: c["detail"] for c in report["checks"] if not c["ok"]}
    assert "tree epoch-2" in failed  # the leaves no longer give the anchored root
    assert "privacy recomputed" in failed and "epoch-2 records 1.000000" in failed["privacy recomputed"]


def test_history_checks_name_what_is_wrong():
    good = privacy.Accounting(1.0, 1e-5, "rdp", 1.1, 0.05, 20)
    later = privacy.Accounting(privacy.epsilon_for("rdp", 1.1, 0.05, 40, 1e-5), 1e-5, "rdp", 1.1, 0.05, 40)
    first = privacy.Accounting(privacy.epsilon_for("rdp", 1.1, 0.05, 20, 1e-5), 1e-5, "rdp", 1.1, 0.05, 20)
    target = {"target_epsilon": later.epsilon, "delta": 1e-5, "accountant": "rdp"}
    assert all(ok for _, ok, _ in privacy.check_history([("epoch-1", first), ("epoch-2", later)], target))

    results = {name: (ok, detail) for name, ok, detail in privacy.check_history([("epoch-1", later), ("epoch-2", first)], target)}
    assert not results["privacy history non-decreasing"][0] and "epoch-1 to epoch-2" in results["privacy history non-decreasing"][1]
    results = {name: (ok, detail) for name, ok, detail in privacy.check_history([("epoch-1", first), ("epoch-2", later)],
                                                                                target | {"target_epsilon": first.epsilon})}
    assert not results["privacy within target"][0] and "epoch-2" in results["privacy within target"][1]
    results = {name: (ok, detail) for name, ok, detail in privacy.check_history([("epoch-1", good)], target)}
    assert not results["privacy recomputed"][0] and "epoch-1 records 1.000000" in results["privacy recomputed"][1]
    assert not privacy.check_history([], target)[0][1]


def test_dp_run_is_reproducible_with_its_seed(tmp_path):
    """Poisson sampling and noise come from seeded generators: the same seed gives the same trees
    (every leaf but the run's own nonce, so the roots differ, as two runs' roots always do)."""
    from provenance.record import Record

    def trees(result):
        return [s.content() for s in Record.load(result.run_dir / "record.json").stages]

    options = dict(epochs=1, dp=True, accountant="rdp", base_dir=str(tmp_path), config=OFFLINE, verify=False)
    first = run_training(TrainOptions(run_id="a", **options))
    second = run_training(TrainOptions(run_id="b", **options))
    assert trees(first) == trees(second) and len(first.roots) == 3
    assert first.roots["pre"] != second.roots["pre"]
    other = run_training(TrainOptions(run_id="c", seed=1, **options))
    assert trees(other)[-1] != trees(first)[-1]


def test_dp_refuses_bad_budgets_and_sharded_runs(tmp_path):
    with pytest.raises(ConfigError, match="delta: expected a number in"):
        run_training(TrainOptions(dp=True, delta=2.0, base_dir=str(tmp_path)))
    with pytest.raises(ConfigError, match="DP with gradient shards"):
        run_training(TrainOptions(dp=True, gradient_shards=2, base_dir=str(tmp_path)))
    done = cli("train", "--target-epsilon", "1", "--base-dir", str(tmp_path))
    assert done.returncode == 2 and "expected together with --dp" in done.stderr and "Traceback" not in done.stderr


def test_training_curves_draw_the_epsilon_history(dp_run):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from provenance.verification import plots

    fig = plots.training_curves(dp_run.history, dp_run.privacy)
    panel = fig.axes[2]
    assert panel.get_title() == "privacy spent (epsilon)"
    assert list(panel.lines[0].get_ydata()) == [p["epsilon"] for p in dp_run.privacy]
    plt.close(fig)

"""The Dask engine on a real `distributed.LocalCluster` of 2 worker processes: the same roots as
the in-process build for every source type, a worker killed mid-job, an unreadable shard, a
changed sample named through its shard, a spot check, and the CLI against the cluster's
scheduler."""

from __future__ import annotations

import json

import pytest

from provenance.digests.engines import DaskEngine, LocalEngine, hash_dataset, set_env
from provenance.digests.shards import KILL_ENV
from provenance.digests.shards import ShardError, array_shards, discover
from provenance.verification.shards import miss_probability, spot_check, verify_shards
from tests.support import shard_sources as src
from tests.support.cli import cli


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture
def dask(client):
    return DaskEngine(client=client)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    base = tmp_path_factory.mktemp("sources")
    return {
        "files": discover(src.write_files_subfolders(base / "files"))[1],
        "flat": discover(src.write_files_flat(base / "flat"), shard_size=6)[1],
        "tar": discover(src.write_tars(base / "tar"))[1],
        "parquet": discover(src.write_parquet(base / "parquet"))[1],
        "arrays": array_shards(*src.arrays(300), "train", shard_size=64),
    }


@pytest.mark.parametrize("kind", ["files", "flat", "tar", "parquet", "arrays"])
def test_same_root_as_the_in_process_build(dask, sources, kind):
    local = hash_dataset(sources[kind], LocalEngine())
    remote = hash_dataset(sources[kind], dask)
    assert remote.root == local.root
    assert remote.shards == local.shards and len(remote.shards) == len(sources[kind])


def test_a_worker_killed_mid_job_changes_nothing(client, dask, sources, tmp_path):
    marker = tmp_path / "kill-once"
    marker.write_text("the first shard task to find this file deletes it and SIGKILLs its worker")
    expected = hash_dataset(sources["arrays"], LocalEngine())
    before = set(client.scheduler_info()["workers"])
    client.run(set_env, KILL_ENV, str(marker))
    try:
        result = hash_dataset(sources["arrays"], dask)
    finally:
        client.run(set_env, KILL_ENV, None)
    assert not marker.exists(), "no worker was killed"
    assert result.root == expected.root and result.shards == expected.shards
    client.wait_for_workers(2, timeout=60)
    assert set(client.scheduler_info()["workers"]) != before, "the killed worker was replaced by a new one"


def test_unreadable_shard_fails_the_job_with_its_name(dask, tmp_path):
    folder = src.write_tars(tmp_path / "wds", shards=3)
    (folder / "shard-000002.tar").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ShardError, match=r"^shard shard-000002.tar: "):
        hash_dataset(discover(folder)[1], dask)


def test_changed_sample_named_through_its_shard(dask, tmp_path):
    folder = src.write_files_subfolders(tmp_path / "ds", shards=4, per_shard=5)
    refs = discover(folder)[1]
    kept = tmp_path / "kept"
    anchored = hash_dataset(refs, dask, leaves_dir=kept)
    assert verify_shards(refs, anchored.leaves, dask, leaves_dir=kept).ok
    (folder / "part-02" / "nested" / "img003.bin").write_bytes(b"tampered")
    report = verify_shards(discover(folder)[1], anchored.leaves, dask, leaves_dir=kept)
    assert not report.ok and [c.shard for c in report.changes] == ["part-02"]
    change = report.changes[0]
    assert change.change == "changed" and len(change.samples) == 1
    assert change.samples[0].startswith("4 part-02/nested/img003.bin: digest")
    # a kept tree that does not hash to the anchored root is not trusted to name anything
    (kept / "part-02.json").write_text((kept / "part-01.json").read_text())
    report = verify_shards(discover(folder)[1], anchored.leaves, dask, leaves_dir=kept)
    assert report.changes[0].samples == () and "not used" in report.changes[0].detail


def test_spot_check_seeded_and_catching_a_changed_shard(dask, sources):
    refs = sources["arrays"]
    anchored = hash_dataset(refs, dask)
    check = spot_check(refs, anchored.tree, k=12, seed=5, engine=dask)
    assert check.ok and check.seed == 5 and len(check.drawn) == 12
    assert [d[:2] for d in check.drawn] == [d[:2] for d in spot_check(refs, anchored.tree, k=12, seed=5).drawn]
    assert "(1-p)^12" in check.statement() and check.miss_1pct == pytest.approx(0.99**12)
    x, y = src.arrays(300)
    x[:, 0, 0, 0] += 1.0  # every sample changed: any draw must catch it
    bad = spot_check(array_shards(x, y, "train", shard_size=64), anchored.tree, k=3, seed=5, engine=dask)
    assert not bad.ok and all(not ok and "does NOT hold" in d for _, _, ok, d in bad.drawn)
    assert miss_probability(0.01, 459) < 0.01


def test_cli_on_the_clusters_scheduler(client, sources, tmp_path):
    folder = src.write_tars(tmp_path / "wds")
    expected = hash_dataset(discover(folder)[1])
    result = cli("hash-dataset", str(folder), "--engine", "dask", "--scheduler", client.scheduler.address, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["root"] == "0x" + expected.root.hex() and data["engine"] == "dask" and data["samples"] == 24
    refused = cli("hash-dataset", str(folder), "--engine", "dask", "--scheduler", "localhost:1")
    assert refused.returncode == 2 and "tcp://HOST:PORT" in refused.stderr

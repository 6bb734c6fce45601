"""Sharded datasets in-process: each source's samples and canonical bytes, shards as standard
trees, the nested composition (reference, @openzeppelin/merkle-tree level by level, the real
contract's verifyNestedInclusion), and an unreadable shard failing the CLI with its name."""

from __future__ import annotations

import json
import tarfile

import pytest
from blake3 import blake3

from provenance.merkle import reference
from provenance.digests.engines import hash_dataset
from provenance.digests.hashing import dataset_leaves
from provenance.merkle import Leaf, MerkleTree
from provenance.verification.nested import nested_call
from provenance.digests.shards import (
    SHARD_KIND,
    ShardError,
    array_shards,
    discover,
    row_bytes,
    shard_leaves,
    shard_tree,
)
from tests.support import oz
from tests.support import shard_sources as src
from tests.support.cli import cli


def test_array_shards_are_standard_trees_of_todays_sample_leaves():
    x, y = src.arrays(250)
    refs = array_shards(x, y, "train", shard_size=64)
    whole = dataset_leaves((x, y), "train")
    assert [r.id for r in refs] == ["train-000000", "train-000001", "train-000002", "train-000003"]
    for k, ref in enumerate(refs):
        expected = whole[64 * k : 64 * (k + 1)]
        assert shard_leaves(ref) == expected  # same names (global index), digests and sizes
        assert shard_tree(ref).root == reference.MerkleTree.of(expected).root
    result = hash_dataset(refs)
    assert [s.count for s in result.shards] == [64, 64, 64, 58]
    run_leaves = [Leaf(SHARD_KIND, r.id, reference.MerkleTree.of(whole[64 * k : 64 * (k + 1)]).root, len(whole[64 * k : 64 * (k + 1)]))
                  for k, r in enumerate(refs)]
    assert result.root == reference.MerkleTree.of(run_leaves).root
    assert result.root != MerkleTree.of(whole).root  # nested, not the flat tree


def test_file_shards_one_per_subfolder_raw_bytes_named_from_the_dataset(tmp_path):
    folder = src.write_files_subfolders(tmp_path / "ds", shards=2, per_shard=3)
    descriptor, refs = discover(folder)
    assert descriptor["format"] == "files" and [r.id for r in refs] == ["part-00", "part-01"]
    leaves = shard_leaves(refs[1])
    assert [v.name for v in leaves] == ["part-01/img000.bin", "part-01/img002.bin", "part-01/nested/img001.bin"]
    data = (folder / "part-01/nested/img001.bin").read_bytes()
    assert leaves[2] == Leaf("data.sample", "part-01/nested/img001.bin", blake3(data).digest(), len(data))


def test_flat_folder_in_groups_of_shard_size(tmp_path):
    folder = src.write_files_flat(tmp_path / "flat", n=23)
    _, refs = discover(folder, shard_size=10)
    assert [(r.id, len(r.files)) for r in refs] == [("files-000000", 10), ("files-000001", 10), ("files-000002", 3)]
    assert shard_leaves(refs[2])[0] == Leaf("data.sample", "0020.txt", blake3(b"caption 20").digest(), 10)


def test_tar_shards_one_leaf_per_member_in_archive_order(tmp_path):
    folder = src.write_tars(tmp_path / "wds", shards=2, per_shard=2)
    descriptor, refs = discover(folder)
    assert descriptor["format"] == "tar" and [r.id for r in refs] == ["shard-000000.tar", "shard-000001.tar"]
    leaves = shard_leaves(refs[1])
    assert [v.name for v in leaves] == ["001000.bin", "001000.txt", "001001.bin", "001001.txt"]
    with tarfile.open(folder / "shard-000001.tar") as tar:
        data = tar.extractfile("001001.txt").read()
    assert leaves[3].digest == blake3(data).digest() and leaves[3].size == len(data)


def test_parquet_rows_in_arrow_row_json(tmp_path):
    folder = src.write_parquet(tmp_path / "pq", shards=2, rows=4)
    descriptor, refs = discover(folder)
    assert descriptor["format"] == "parquet" and [r.id for r in refs] == ["part-000.parquet", "part-001.parquet"]
    leaves = shard_leaves(refs[1])
    assert [v.name for v in leaves] == ["000000", "000001", "000002", "000003"]
    expected = [["id", "int64", 102], ["caption", "string", "caption 1/2"], ["score", "double", "nan"],
                ["image", "binary", (bytes([1, 2]) * 10).hex()], ["tags", "list<element: string>", ["t2", "x"]]]
    data = json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    assert leaves[2].digest == blake3(data).digest() and leaves[2].size == len(data)
    assert row_bytes([("score", "double")], [1 / 3]) == b'[["score","double","0x1.5555555555555p-2"]]'


def test_nested_proof_holds_in_the_reference_and_in_openzeppelin_level_by_level():
    x, y = src.arrays(200)
    refs = array_shards(x, y, "train", shard_size=50)
    run = hash_dataset(refs).tree
    shard_leaf = run.find(SHARD_KIND, "train-000002")
    shard = shard_tree(refs[2])
    sample = shard.values[7]
    sample_proof, shard_proof = shard.proof(7), run.proof(shard_leaf)
    assert sample.name == "train/000107"
    assert reference.verify_nested(run.root, shard_leaf, shard_proof, sample, sample_proof)
    other = shard_tree(refs[1]).values[7]
    assert not reference.verify_nested(run.root, shard_leaf, shard_proof, other, sample_proof)
    assert not reference.verify_nested(shard.root, shard_leaf, shard_proof, sample, sample_proof)
    # each level is an ordinary standard tree: OpenZeppelin's library verifies both
    assert oz.verify(shard.root, [(sample, sample_proof), (other, sample_proof)])["proofs"] == [True, False]
    assert oz.verify(run.root, [(shard_leaf, shard_proof)])["proofs"] == [True]
    assert oz.build(run.values)["root"] == "0x" + run.root.hex()


def test_nested_proof_accepted_by_the_contract(anvil):
    from tests.provenance.anchors.test_ethereum_anchor import anvil_backend

    x, y = src.arrays(120)
    refs = array_shards(x, y, "train", shard_size=40)
    run = hash_dataset(refs).tree
    backend = anvil_backend(anvil, 0)
    who = backend.signer_address
    shard_leaf = run.find(SHARD_KIND, "train-000001")
    shard = shard_tree(refs[1])
    args = (run.proof(shard_leaf), shard_leaf, tuple(shard.proof(3)), shard.values[3])
    assert not nested_call(backend, who, run.root, *args), "not anchored yet"
    backend.anchor(run.root, b"record")
    assert nested_call(backend, who, run.root, *args)
    wrong = Leaf("data.sample", shard.values[3].name, b"\x01" * 32, shard.values[3].size)
    assert not nested_call(backend, who, run.root, args[0], shard_leaf, args[2], wrong)
    assert not nested_call(backend, anvil_backend(anvil, 3).signer_address, run.root, *args), "someone else's anchor"


def test_unreadable_shard_fails_the_cli_with_its_name(tmp_path):
    folder = src.write_tars(tmp_path / "wds", shards=3, per_shard=2)
    (folder / "shard-000001.tar").write_bytes(b"this is not a tar archive" * 40)
    result = cli("hash-dataset", str(folder))
    assert result.returncode == 2, result.stderr
    assert "shard shard-000001.tar" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not result.stdout
    with pytest.raises(ShardError, match="shard-000001.tar"):
        hash_dataset(discover(folder)[1])


def test_cli_hash_dataset_json_matches_the_api(tmp_path):
    folder = src.write_files_subfolders(tmp_path / "ds")
    result = cli("hash-dataset", str(folder), "--json", "-o", str(tmp_path / "tree.json"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = hash_dataset(discover(folder)[1])
    assert data["root"] == "0x" + expected.root.hex() and data["shards"] == 4 and data["samples"] == 20
    saved = json.loads((tmp_path / "tree.json").read_text())
    assert MerkleTree.load(saved["tree"]).root == expected.root and saved["dataset"]["format"] == "files"


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_plain_tar_fast_path_gives_tarfiles_leaves(tmp_path, fmt):
    import io

    from provenance.digests.shards import ShardRef, _plain_tar_leaves, _tarfile_leaves

    path = tmp_path / "x.tar"
    names = ["a.bin", "dir/", "dir/b.txt", "deep/" + "n" * 90 + "/" + "m" * 60 + ".jpg", "empty.txt", "big.bin"]
    with tarfile.open(path, "w", format=fmt) as tar:
        for name in names:
            info = tarfile.TarInfo(name.rstrip("/"))
            data = b"" if name.endswith("/") or name == "empty.txt" else (name.encode() * 700 if name == "big.bin" else name.encode())
            if name.endswith("/"):
                info.type = tarfile.DIRTYPE
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    reference = _tarfile_leaves(ShardRef("x.tar", "tar", str(path)))
    assert [v.name for v in reference] == [n for n in names if not n.endswith("/")]
    fast = _plain_tar_leaves(str(path))
    assert fast == reference or fast is None
    if fmt == tarfile.USTAR_FORMAT:  # the long name goes into ustar's prefix field: still the fast path
        assert fast == reference
    # a non-UTF-8 or pax-extended name is left to tarfile, which reads it
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("café-" + "é" * 80 + ".txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert _plain_tar_leaves(str(path)) is None
    assert shard_leaves(ShardRef("x.tar", "tar", str(path)))[0].digest == blake3(b"abc").digest()


def test_one_sample_read_alone_gives_its_leaf_in_the_shard(tmp_path):
    from provenance.digests.shards import sample_leaf

    sources = [discover(src.write_files_subfolders(tmp_path / "f", shards=2))[1], discover(src.write_files_flat(tmp_path / "fl"), shard_size=6)[1],
               discover(src.write_tars(tmp_path / "t", shards=2))[1], discover(src.write_parquet(tmp_path / "p", shards=2))[1],
               array_shards(*src.arrays(70), "train", 30)]
    for refs in sources:
        for ref in refs:
            leaves = shard_leaves(ref)
            assert [sample_leaf(ref, i) for i in range(len(leaves))] == leaves, ref.id
            with pytest.raises(ShardError, match=f"shard {ref.id}: expected a sample index below"):
                sample_leaf(ref, len(leaves))

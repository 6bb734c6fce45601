"""A run as a CycloneDX 1.6 ML-BOM (JSON): the model, its datasets, code and environment.

The model is a `machine-learning-model` component with its file hashes and a `modelCard`
(training parameters, the metrics the `post` tree commits to, the datasets it was trained on);
each dataset split is a `data` component (our root and sample count as properties, the record's
descriptor as its contents); the code and the Python environment (the record's package list) are
components too; the anchors and the report are external references. Field by field in
docs/reference/exports.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from .facts import FileFact, RunFacts
from .slsa import BUILD_TYPE, anchor_uri

SPEC_VERSION = "1.6"
PROPERTY = "ml-provenance"  # the namespace of our property names (CycloneDX's taxonomy advice)
# The serial number is derived from the final root, so the same run gives the same BOM.
_NAMESPACE = uuid.UUID("6b1f2d0c-5a0e-4f3c-9c1e-7d0b8f3a2e51")
MODEL_REF = "model"


def bom(facts: RunFacts, version: str) -> dict[str, Any]:
    """The CycloneDX BOM (a JSON value) for `facts`; `version` is this package's version."""
    datasets = [_dataset(facts, split) for split in facts.splits]
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid5(_NAMESPACE, facts.final_root)}",
        "version": 1,
        "metadata": {
            "timestamp": facts.finished_on,
            "tools": {"components": [{"type": "application", "name": "ml-provenance", "version": version}]},
            "component": _model(facts, [d["bom-ref"] for d in datasets]),
            "properties": _properties({"run.id": facts.run_id, "buildType": BUILD_TYPE, "root.final": facts.final_root,
                                       "record.format": facts.record_format, "merkle.format": facts.merkle_format}
                                      | {f"root.{stage}": root for stage, root in facts.roots}
                                      | {f"anchor/{a.key}": {"root": a.root} | a.where for a in facts.anchors}),
        },
        "components": datasets + [_code(facts), _environment(facts)]
                      + ([_file_component(facts.initial_model, "initial-weights")] if facts.initial_model else []),
        "externalReferences": _references(facts),
    }


def _hashes(fact: FileFact) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": fact.sha256}, {"alg": "BLAKE3", "content": fact.blake3}]


def _model(facts: RunFacts, dataset_refs: list[str]) -> dict[str, Any]:
    config = dict(facts.config)
    parameters: dict[str, Any] = {"approach": {"type": "supervised"}, "task": "classification",
                                  "datasets": [{"ref": ref} for ref in dataset_refs]}
    if isinstance(config.get("model"), str):
        parameters["modelArchitecture"] = config["model"]
    return {
        "type": "machine-learning-model",
        "bom-ref": MODEL_REF,
        "name": f"{facts.run_id}/{facts.model.name}",
        "version": facts.final_root,
        "hashes": _hashes(facts.model),
        "modelCard": {
            "modelParameters": parameters,
            "quantitativeAnalysis": {"performanceMetrics": [{"type": k, "value": _text(v), "slice": "test" if "test" in k else "run"}
                                                            for k, v in sorted(facts.metrics.items())]},
            "properties": _properties({f"training.{k}": v for k, v in sorted(config.items())}),
        },
        "properties": _properties({"file": facts.model.name, "size": facts.model.size, "stage": facts.model.stage}),
    }


def _dataset(facts: RunFacts, split: Any) -> dict[str, Any]:
    source = str(facts.dataset.get("source", "dataset"))
    descriptor = dict(facts.dataset)
    return {
        "type": "data",
        "bom-ref": f"dataset-{split.split}",
        "name": f"{source}/{split.split}",
        "data": [{"type": "dataset", "name": f"{source}/{split.split}",
                  "contents": {"properties": _properties({f"descriptor.{k}": v for k, v in sorted(descriptor.items())})}}],
        "properties": _properties({"root": split.root, "root.format": facts.merkle_format, "leaf.kind": split.kind,
                                   "count": split.count}),
    }


def _code(facts: RunFacts) -> dict[str, Any]:
    git = facts.code.get("git") if isinstance(facts.code.get("git"), dict) else {}
    component: dict[str, Any] = {"type": "application", "bom-ref": "code", "name": "training-code",
                                 "properties": _properties({f"git.{k}": v for k, v in sorted(git.items())})}
    if git.get("commit"):
        component["version"] = str(git["commit"])
        remote = git.get("remote") or git.get("url")
        if isinstance(remote, str) and remote:
            component["externalReferences"] = [{"type": "vcs", "url": f"git+{remote}@{git['commit']}"}]
    return component


def _environment(facts: RunFacts) -> dict[str, Any]:
    env = dict(facts.environment)
    return {
        "type": "platform",
        "bom-ref": "environment",
        "name": f"python-{env.get('implementation', 'python')}".lower(),
        "version": str(env.get("python", "unknown")),
        "properties": _properties({f"env.{k}": v for k, v in sorted(env.items())}),
        "components": [{"type": "library", "bom-ref": f"pypi-{name}", "name": name, "version": pinned,
                        "purl": f"pkg:pypi/{name.lower()}@{pinned}"} for name, pinned in facts.packages],
    }


def _file_component(fact: FileFact, ref: str) -> dict[str, Any]:
    return {"type": "file", "bom-ref": ref, "name": fact.name, "hashes": _hashes(fact),
            "properties": _properties({"stage": fact.stage, "size": fact.size})}


def _references(facts: RunFacts) -> list[dict[str, Any]]:
    refs = []
    for anchor in facts.anchors:
        where = anchor.where
        refs.append({"type": "attestation", "url": anchor_uri(anchor.network, where) or f"urn:ml-provenance:anchor:{anchor.key}",
                     "comment": f"anchor/{anchor.key}: root {anchor.root} "
                                + ", ".join(f"{k}={where[k]}" for k in sorted(where))})
    refs.append({"type": "evidence", "url": "report.json", "comment": "the run's verification report, in the run folder"})
    return refs


def _properties(values: dict[str, Any]) -> list[dict[str, str]]:
    return [{"name": f"{PROPERTY}:{k}", "value": _text(v)} for k, v in values.items()]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

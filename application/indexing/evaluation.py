"""The analysis proper: the built-in rules and metrics over the files to analyse, and the
fingerprint that says whether an earlier analysis is still valid."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from application.builtin_rules import evaluate_file
from application.indexing.progress import Progress, every
from application.indexing.reading import Parsed
from domain.analysis import AnalysisResult, CodeMetric
from domain.ids import JobId, RuleId
from domain.rules import EffectiveRule

__all__ = ["ANALYSIS_VERSION", "analysis_fingerprint", "evaluate"]

ANALYSIS_VERSION = 5
"""Raised whenever the built-in rules or metrics change what they find: an analysis made
by another version is not reused."""


def analysis_fingerprint(rules: Sequence[EffectiveRule], embedding_model: str) -> str:
    """What an analysis depends on besides the files: the rules as they apply (enabled,
    severity, thresholds, version), the embedding model (near-duplicates) and this code's
    version. A file analysed under another fingerprint is analysed again."""
    described = sorted(
        (
            r.rule_id,
            r.enabled,
            str(r.severity),
            json.dumps(r.config, sort_keys=True, default=str),
            r.rule.version,
        )
        for r in rules
    )
    text = json.dumps([ANALYSIS_VERSION, embedding_model, described])
    return hashlib.sha256(text.encode()).hexdigest()


def evaluate(
    parsed: Sequence[Parsed],
    rules: Mapping[RuleId, EffectiveRule],
    job_id: JobId,
    report: Progress,
) -> tuple[list[AnalysisResult], list[CodeMetric]]:
    """The results and metrics of the built-in rules over ``parsed``."""
    results: list[AnalysisResult] = []
    metrics: list[CodeMetric] = []
    for done, item in enumerate(parsed, start=1):
        evaluation = evaluate_file(item.file, item.text, rules, job_id)
        results += evaluation.results
        metrics += evaluation.metrics
        every(report, "analysing", done, len(parsed))
    return results, metrics

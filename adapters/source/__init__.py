"""Adapters to the code being indexed: a git work tree read with the git command line
(:class:`GitSourceReader`) and the analysis of one file's bytes (:class:`FileAnalyzer`)."""

from adapters.source.analyzer import DEFAULT_MAX_BYTES, FileAnalyzer
from adapters.source.git import GitSourceReader

__all__ = ["DEFAULT_MAX_BYTES", "FileAnalyzer", "GitSourceReader"]

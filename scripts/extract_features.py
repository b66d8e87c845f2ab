"""Writes sentence embeddings for a file of texts.

The program is kbert/cli/extract_features.py, installed as `kbert-extract-features`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.extract_features import main

if __name__ == "__main__":
    main()

"""Distils a fine-tuned model into a smaller student (kbert.distill).

The program is kbert/cli/distill.py, installed as `kbert-distill`; this shim keeps the
repository's layout (DESIGN.md).
"""

from kbert.cli.distill import main

if __name__ == "__main__":
    main()

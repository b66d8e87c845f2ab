"""Fine-tunes extractive question answering (SQuAD v1.1 / v2.0) and evaluates it.

The program is kbert/cli/train_qa.py, installed as `kbert-train-qa`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.train_qa import main

if __name__ == "__main__":
    main()

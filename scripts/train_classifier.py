"""Fine-tunes a text classifier or regressor.

The program is kbert/cli/train_classifier.py, installed as `kbert-train-classifier`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.train_classifier import main

if __name__ == "__main__":
    main()

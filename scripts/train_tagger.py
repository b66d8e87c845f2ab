"""Fine-tunes a word tagger (NER, POS).

The program is kbert/cli/train_tagger.py, installed as `kbert-train-tagger`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.train_tagger import main

if __name__ == "__main__":
    main()

"""Masked-LM domain adaptation of the encoder on raw domain text.

The program is kbert/cli/pretrain_mlm.py, installed as `kbert-pretrain-mlm`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.pretrain_mlm import main

if __name__ == "__main__":
    main()

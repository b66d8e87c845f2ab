"""Exports a trained model_dir to SavedModel and TFLite variants and checks each.

The program is kbert/cli/export_model.py, installed as `kbert-export-model`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.export_model import main_program

if __name__ == "__main__":
    main_program()

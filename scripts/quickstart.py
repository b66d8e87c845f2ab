"""The main job, offline: fine-tune MiniLM, export to TFLite, classify through MediaPipe.

The program is kbert/cli/quickstart.py, installed as `kbert-quickstart`; this shim keeps
the repository's layout (DESIGN.md).
"""

from kbert.cli.quickstart import main_program

if __name__ == "__main__":
    main_program()

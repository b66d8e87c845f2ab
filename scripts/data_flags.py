"""The programs' shared flag code, now kbert/cli/data_flags.py (installed with kbert); kept
here for code that imported it from scripts/."""

from kbert.cli.data_flags import (compile_recipe, define_data_flags,  # noqa: F401
                                  define_training_flags, main_for, read_split, run_program,
                                  set_up_training)

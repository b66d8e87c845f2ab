import time

import pytest

from kbert.data import hub, load_hub_dataset
from kbert.errors import KbertInputError


def test_hub_dataset_offline_fails_fast_and_names_the_local_alternative(monkeypatch):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub.network, "reachable", lambda host: False)
    start = time.time()
    with pytest.raises(KbertInputError, match="cannot be reached.*--train_file"):
        load_hub_dataset("glue/sst2", "train")
    assert time.time() - start < 5


def test_unknown_hub_dataset_needs_columns():
    with pytest.raises(KbertInputError, match="give text_column and label_column"):
        load_hub_dataset("someone/reviews", "train")


def test_known_datasets_name_their_columns_and_eval_split():
    assert hub.KNOWN["glue/mrpc"] == ("sentence1", "sentence2", "label", "validation")
    assert hub.KNOWN["glue/mnli"][3] == "validation_matched"

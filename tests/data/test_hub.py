import time

import pytest

from kbert.data import hub, load_hub_dataset
from kbert.errors import KbertInputError


@pytest.mark.parametrize("load", [
    lambda: load_hub_dataset("glue/sst2", "train"),
    lambda: hub.load_hub_tagging("conll2003", "train"),
    lambda: hub.load_hub_squad("squad_v2", "eval"),
])
def test_hub_datasets_offline_fail_fast_and_name_the_local_alternative(monkeypatch, load):
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub.network, "reachable", lambda host: False)
    start = time.time()
    with pytest.raises(KbertInputError, match="cannot be reached.*--train_file"):
        load()
    assert time.time() - start < 5


def test_unknown_hub_dataset_needs_columns():
    with pytest.raises(KbertInputError, match="give text_column and label_column"):
        load_hub_dataset("someone/reviews", "train")


def test_known_datasets_name_their_columns_and_eval_split():
    assert hub.KNOWN["glue/mrpc"] == ("sentence1", "sentence2", "label", "validation")
    assert hub.KNOWN["glue/mnli"][3] == "validation_matched"

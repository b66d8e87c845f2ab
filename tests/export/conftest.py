import pytest

from tests.export.zoo import Zoo


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """Every task's tiny model and its exported files, each made once per test session
    (tests/export/zoo.py)."""
    return Zoo(tmp_path_factory)

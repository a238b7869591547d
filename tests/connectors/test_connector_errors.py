"""connectors.errors: one tree, stable codes, documented at the top of the module."""

from __future__ import annotations

import re

import connectors.errors as errors_module
from connectors.errors import ConnectorError
from core.errors import MlgateError, error_problem


def _subclasses() -> list[type[ConnectorError]]:
    return [
        obj
        for obj in vars(errors_module).values()
        if isinstance(obj, type) and issubclass(obj, ConnectorError) and obj is not ConnectorError
    ]


def test_every_error_has_a_unique_code_and_is_drawn_in_the_docstring() -> None:
    classes = _subclasses()
    assert {c.__name__ for c in classes} == {
        "UnsupportedScheme",
        "InvalidLocation",
        "SourceNotFound",
        "SourceUnavailable",
        "MalformedSource",
        "SchemaMismatch",
        "CredentialsError",
        "IntegrityError",
        "UnsafePath",
    }
    codes = [c.code for c in classes]
    assert len(set(codes)) == len(codes)
    doc = errors_module.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in doc
        assert cls.code in doc
        assert cls.__bases__ == (ConnectorError,)


def test_errors_keep_their_message() -> None:
    exc = errors_module.SourceNotFound("source file x.csv does not exist")
    assert str(exc) == exc.message == "source file x.csv does not exist"
    assert exc.code == "source_not_found"
    assert isinstance(exc, ConnectorError)


def test_only_an_unavailable_system_is_worth_retrying() -> None:
    retryable = sorted(c.__name__ for c in _subclasses() if c.retryable)
    assert retryable == ["SourceUnavailable"]


def test_the_subtree_hangs_from_the_one_root_with_a_status_per_class() -> None:
    doc = errors_module.__doc__ or ""
    classes: list[type[ConnectorError]] = [ConnectorError, *_subclasses()]
    for cls in classes:
        assert issubclass(cls, MlgateError)
        assert 400 <= cls.status < 600
        assert cls.title
        assert re.search(rf"\b{cls.__name__} +{cls.code} +{cls.status} ", doc), cls.__name__
    assert errors_module.SourceNotFound.status == 404
    assert errors_module.SourceUnavailable.status == 503
    assert errors_module.CredentialsError.status == 403


def test_a_connector_error_renders_as_problem_details() -> None:
    exc = errors_module.SourceNotFound("source file x.csv does not exist")
    body = error_problem(exc, "/api/v1/x")
    assert body["status"] == 404
    assert body["code"] == "source_not_found"
    assert body["title"] == "Source not found"
    assert body["detail"] == "source file x.csv does not exist"

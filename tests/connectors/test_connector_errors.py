"""connectors.errors: one tree, stable codes, documented at the top of the module."""

from __future__ import annotations

import connectors.errors as errors_module
from connectors.errors import ConnectorError


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

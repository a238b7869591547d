"""Pagination of list queries: one page of rows and the total the filters match."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

__all__ = ["Page", "page"]

T = TypeVar("T")
Page = tuple[list[T], int]


def page(session: Session, statement: SelectOfScalar[T], *, limit: int, offset: int) -> Page[T]:
    """Run ``statement`` (already filtered and ordered) for one page.

    Returns:
        ``(rows, total)``: at most ``limit`` rows after skipping ``offset``, and how many
        rows the statement matches in all.
    """
    counted: Any = select(func.count()).select_from(statement.order_by(None).subquery())
    total = int(session.exec(counted).one())
    rows = list(session.exec(statement.offset(offset).limit(limit)).all())
    return rows, total

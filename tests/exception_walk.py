"""Walking every exception class a dependency exports through the translator meant for it.

As httpx's own tests do for httpcore: each class the dependency's exceptions module
names (and each subclass of those its library defines and names) is instantiated,
raised inside the translator, and what comes out must be one of ours, with a message
and the original as ``__cause__``. A class that escapes untranslated, is swallowed, or
cannot be built fails the walk; a class is left out only with a reason, stated in the
test, and a reason for a class that no longer exists fails too.
"""

from __future__ import annotations

import inspect
import string
import sys
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from types import ModuleType
from typing import Any

PLANTED = "planted-S3cr3t-value-4b1d"
"""Put in every raw error's text: a translated message must never repeat it."""


def exception_classes(module: ModuleType) -> list[type[BaseException]]:
    """Every exception class ``module`` names, and their named subclasses, in its library.

    Classes generated at run time (botocore makes one per modelled service error) are
    not named in any module and are left out: they share their base's constructor and
    translation.
    """
    library = module.__name__.split(".")[0]

    def ours(cls: type) -> bool:
        home = sys.modules.get(cls.__module__)
        return (
            cls.__module__.split(".")[0] == library
            and home is not None
            and getattr(home, cls.__name__, None) is cls
        )

    found: dict[str, type[BaseException]] = {}
    todo = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, BaseException) and ours(obj)
    ]
    while todo:
        cls = todo.pop()
        name = f"{cls.__module__}.{cls.__qualname__}"
        if name in found:
            continue
        found[name] = cls
        todo.extend(sub for sub in cls.__subclasses__() if ours(sub))
    return sorted(found.values(), key=lambda c: c.__name__)


def instantiate(
    cls: type[BaseException], samples: Mapping[str, Any], keywords: Mapping[str, Any]
) -> BaseException:
    """An instance of ``cls``, its arguments taken from ``samples`` by name.

    A constructor that takes ``**kwargs`` gets the fields of its ``fmt`` template, filled
    with :data:`PLANTED` (botocore's errors), or else ``keywords``. A required argument
    without a sample raises ``KeyError``: the walk reports it as a failure, never a skip.
    """
    try:
        signature = inspect.signature(cls)
    except ValueError:  # Exception's own __init__: any message will do
        return cls(PLANTED)
    args: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            fmt = getattr(cls, "fmt", None)
            if fmt is None:
                args |= keywords
            else:
                args |= {f: PLANTED for _, f, _, _ in string.Formatter().parse(fmt) if f}
        elif p.kind is p.VAR_POSITIONAL:
            return cls(PLANTED)
        elif p.default is p.empty or p.name in samples:
            args[p.name] = samples[p.name]
    return cls(**args)


def walk(
    module: ModuleType,
    translator: Callable[[], AbstractContextManager[object]],
    ours: type[BaseException],
    *,
    samples: Mapping[str, Any],
    keywords: Mapping[str, Any] | None = None,
    build: Mapping[type[BaseException], Callable[[], BaseException]] | None = None,
    skip: Mapping[str, str] | None = None,
) -> list[type[BaseException]]:
    """Raise every exception class of ``module`` inside ``translator()``; check what leaves.

    Args:
        ours: the base every translated error must be an instance of.
        samples, keywords: constructor arguments (see :func:`instantiate`).
        build: a constructor for a class that ``instantiate`` cannot build.
        skip: class name -> the reason it is not walked.

    Returns:
        The classes walked (for a count).

    Raises:
        AssertionError: naming every class that escaped, was swallowed, lost its cause,
            has an empty message or leaks :data:`PLANTED`, could not be built, and every
            skip that names no class.
    """
    build, skip = build or {}, skip or {}
    classes = exception_classes(module)
    problems: list[str] = []
    walked: list[type[BaseException]] = []
    for cls in classes:
        if cls.__name__ in skip:
            continue
        try:
            raw = build[cls]() if cls in build else instantiate(cls, samples, keywords or {})
        except Exception as exc:
            problems.append(f"{cls.__name__} could not be built: {exc!r}")
            continue
        walked.append(cls)
        try:
            with translator():
                raise raw
        except ours as out:
            message = str(out)
            if not message.strip():
                problems.append(f"{cls.__name__} became {type(out).__name__} with no message")
            if PLANTED in message:
                problems.append(f"{cls.__name__} became a message that repeats the raw text")
            if out.__cause__ is not raw:
                problems.append(f"{cls.__name__} became {type(out).__name__} without __cause__")
        except BaseException as out:
            problems.append(f"{cls.__name__} came out untranslated as {type(out).__name__}")
        else:
            problems.append(f"{cls.__name__} was swallowed")
    names = {c.__name__ for c in classes}
    problems += [f"skip names no class: {name}" for name in skip if name not in names]
    assert not problems, "\n".join(problems)
    return walked

"""``Row``: a tuple whose fields also have names (PySpark's ``Row``)."""

from __future__ import annotations

from typing import Any


class Row(tuple):
    """``Row(id=1, name="a")``, ``row.id``, ``row["id"]``, ``row[0]``, ``row.asDict()``."""

    __fields__: tuple

    def __new__(cls, *args: Any, **kwargs: Any) -> "Row":
        if args and kwargs:
            raise ValueError("Row takes values or names=values, not both")
        if kwargs:
            row = tuple.__new__(cls, list(kwargs.values()))
            row.__fields__ = tuple(kwargs.keys())
            return row
        row = tuple.__new__(cls, args)
        row.__fields__ = ()
        return row

    @classmethod
    def _make(cls, names: list, values: list) -> "Row":
        row = tuple.__new__(cls, values)
        row.__fields__ = tuple(names)
        return row

    def asDict(self, recursive: bool = False) -> dict:
        def conv(v: Any) -> Any:
            if recursive and isinstance(v, Row):
                return v.asDict(True)
            if recursive and isinstance(v, list):
                return [conv(x) for x in v]
            return v

        return {k: conv(v) for k, v in zip(self.__fields__, self)}

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self.__fields__.index(key))
            except ValueError:
                raise KeyError(key) from None
        return tuple.__getitem__(self, key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return tuple.__getitem__(self, self.__fields__.index(name))
        except ValueError:
            raise AttributeError(name) from None

    def __contains__(self, item: Any) -> bool:
        return item in self.__fields__ if self.__fields__ else tuple.__contains__(self, item)

    def __repr__(self) -> str:
        if self.__fields__:
            return "Row(" + ", ".join(f"{k}={v!r}" for k, v in zip(self.__fields__, self)) + ")"
        return "<Row(" + ", ".join(repr(v) for v in self) + ")>"

    def __reduce__(self):  # pickling keeps the names
        return (Row._make, (list(self.__fields__), list(self)))

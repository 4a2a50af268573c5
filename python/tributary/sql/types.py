"""Spark's data types (``pyspark.sql.types``), with their Arrow and SQL equivalents.

Each type knows its Spark name (``simpleString()``), its Arrow type (how the engine holds it)
and its SQL name in the engine's dialect (for ``cast``). ``_parse_ddl`` reads Spark's DDL
strings such as ``"id BIGINT, name STRING, tags ARRAY<STRING>"``.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Optional

import pyarrow as pa


class DataType:
    """Base of the data types."""

    def simpleString(self) -> str:
        return self.typeName()

    @classmethod
    def typeName(cls) -> str:
        return cls.__name__[: -len("Type")].lower()

    def _arrow(self) -> pa.DataType:
        raise NotImplementedError

    def _sql(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(self.simpleString())


class _Atomic(DataType):
    _arrow_type: pa.DataType
    _sql_name: str
    _simple: str

    def simpleString(self) -> str:
        return self._simple

    def _arrow(self) -> pa.DataType:
        return self._arrow_type

    def _sql(self) -> str:
        return self._sql_name


class StringType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.string(), "VARCHAR", "string"


class BinaryType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.binary(), "BYTEA", "binary"


class BooleanType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.bool_(), "BOOLEAN", "boolean"


class ByteType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.int8(), "TINYINT", "tinyint"


class ShortType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.int16(), "SMALLINT", "smallint"


class IntegerType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.int32(), "INT", "int"


class LongType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.int64(), "BIGINT", "bigint"


class FloatType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.float32(), "FLOAT", "float"


class DoubleType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.float64(), "DOUBLE", "double"


class DateType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.date32(), "DATE", "date"


class TimestampType(_Atomic):
    # Spark's TIMESTAMP is an instant shown in the session time zone; the engine's session
    # time zone is UTC, so naive UTC microseconds are the same values.
    _arrow_type, _sql_name, _simple = pa.timestamp("us"), "TIMESTAMP", "timestamp"


class TimestampNTZType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.timestamp("us"), "TIMESTAMP", "timestamp_ntz"


class NullType(_Atomic):
    _arrow_type, _sql_name, _simple = pa.null(), "NULL", "void"


class DecimalType(DataType):
    def __init__(self, precision: int = 10, scale: int = 0):
        self.precision, self.scale = precision, scale

    def simpleString(self) -> str:
        return f"decimal({self.precision},{self.scale})"

    def _arrow(self) -> pa.DataType:
        return pa.decimal128(self.precision, self.scale)

    def _sql(self) -> str:
        return f"DECIMAL({self.precision},{self.scale})"

    def __repr__(self) -> str:
        return f"DecimalType({self.precision},{self.scale})"


class ArrayType(DataType):
    def __init__(self, elementType: DataType, containsNull: bool = True):
        self.elementType, self.containsNull = elementType, containsNull

    def simpleString(self) -> str:
        return f"array<{self.elementType.simpleString()}>"

    def _arrow(self) -> pa.DataType:
        return pa.list_(pa.field("item", self.elementType._arrow(), self.containsNull))

    def _sql(self) -> str:
        return f"{self.elementType._sql()}[]"

    def __repr__(self) -> str:
        return f"ArrayType({self.elementType!r}, {self.containsNull})"


class MapType(DataType):
    def __init__(self, keyType: DataType, valueType: DataType, valueContainsNull: bool = True):
        self.keyType, self.valueType = keyType, valueType
        self.valueContainsNull = valueContainsNull

    def simpleString(self) -> str:
        return f"map<{self.keyType.simpleString()},{self.valueType.simpleString()}>"

    def _arrow(self) -> pa.DataType:
        return pa.map_(self.keyType._arrow(), self.valueType._arrow())

    def _sql(self) -> str:
        raise TypeError("a cast to a map type is not supported; build it with functions instead")

    def __repr__(self) -> str:
        return f"MapType({self.keyType!r}, {self.valueType!r}, {self.valueContainsNull})"


class StructField:
    def __init__(self, name: str, dataType: DataType, nullable: bool = True, metadata: Optional[dict] = None):
        self.name, self.dataType, self.nullable = name, dataType, nullable
        self.metadata = metadata or {}

    def simpleString(self) -> str:
        return f"{self.name}:{self.dataType.simpleString()}"

    def _arrow(self) -> pa.Field:
        return pa.field(self.name, self.dataType._arrow(), self.nullable)

    def __repr__(self) -> str:
        return f"StructField('{self.name}', {self.dataType!r}, {self.nullable})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, StructField)
            and (self.name, self.dataType, self.nullable) == (other.name, other.dataType, other.nullable)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.dataType.simpleString(), self.nullable))


class StructType(DataType):
    def __init__(self, fields: Optional[list[StructField]] = None):
        self.fields: list[StructField] = list(fields or [])

    def add(self, field: Any, data_type: Any = None, nullable: bool = True, metadata: Optional[dict] = None) -> "StructType":
        if isinstance(field, StructField):
            self.fields.append(field)
        else:
            dt = _parse_type(data_type) if isinstance(data_type, str) else data_type
            self.fields.append(StructField(field, dt, nullable, metadata))
        return self

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def fieldNames(self) -> list[str]:
        return self.names

    def simpleString(self) -> str:
        return "struct<" + ",".join(f.simpleString() for f in self.fields) + ">"

    def _arrow(self) -> pa.DataType:
        return pa.struct([f._arrow() for f in self.fields])

    def _arrow_schema(self) -> pa.Schema:
        return pa.schema([f._arrow() for f in self.fields])

    def _sql(self) -> str:
        raise TypeError("a cast to a struct type is not supported; build it with F.struct")

    def __iter__(self) -> Iterator[StructField]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __getitem__(self, key: Any) -> StructField:
        if isinstance(key, int):
            return self.fields[key]
        for f in self.fields:
            if f.name == key:
                return f
        raise KeyError(f"no field named {key!r}")

    def __repr__(self) -> str:
        return f"StructType([{', '.join(repr(f) for f in self.fields)}])"

    def treeString(self) -> str:
        lines = ["root"]

        def walk(fields: list[StructField], depth: int) -> None:
            for f in fields:
                lines.append(
                    f"{' |   ' * depth} |-- {f.name}: {f.dataType.typeName() if isinstance(f.dataType, (StructType, ArrayType, MapType)) else f.dataType.simpleString()} (nullable = {str(f.nullable).lower()})"
                )
                if isinstance(f.dataType, StructType):
                    walk(f.dataType.fields, depth + 1)

        walk(self.fields, 0)
        return "\n".join(lines) + "\n"


def _from_arrow(t: pa.DataType) -> DataType:
    """The Spark type of an Arrow type."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return StringType()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return BinaryType()
    for check, cls in (
        (pa.types.is_boolean, BooleanType),
        (pa.types.is_int8, ByteType),
        (pa.types.is_int16, ShortType),
        (pa.types.is_int32, IntegerType),
        (pa.types.is_int64, LongType),
        (pa.types.is_uint8, ShortType),
        (pa.types.is_uint16, IntegerType),
        (pa.types.is_uint32, LongType),
        (pa.types.is_uint64, DecimalType),
        (pa.types.is_float16, FloatType),
        (pa.types.is_float32, FloatType),
        (pa.types.is_float64, DoubleType),
        (pa.types.is_date, DateType),
        (pa.types.is_null, NullType),
    ):
        if check(t):
            return cls(20, 0) if cls is DecimalType else cls()
    if pa.types.is_timestamp(t):
        return TimestampType()
    if pa.types.is_decimal(t):
        return DecimalType(t.precision, t.scale)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_list_view(t):
        return ArrayType(_from_arrow(t.value_type), t.value_field.nullable)
    if pa.types.is_map(t):
        return MapType(_from_arrow(t.key_type), _from_arrow(t.item_type))
    if pa.types.is_struct(t):
        return StructType([StructField(f.name, _from_arrow(f.type), f.nullable) for f in t])
    if pa.types.is_dictionary(t):
        return _from_arrow(t.value_type)
    return StringType()


def _from_arrow_schema(schema: pa.Schema) -> StructType:
    return StructType([StructField(f.name, _from_arrow(f.type), f.nullable) for f in schema])


_NAMES: dict[str, Any] = {
    "string": StringType, "varchar": StringType, "char": StringType, "text": StringType,
    "binary": BinaryType, "bytea": BinaryType,
    "boolean": BooleanType, "bool": BooleanType,
    "tinyint": ByteType, "byte": ByteType,
    "smallint": ShortType, "short": ShortType,
    "int": IntegerType, "integer": IntegerType,
    "bigint": LongType, "long": LongType,
    "float": FloatType, "real": FloatType,
    "double": DoubleType,
    "date": DateType,
    "timestamp": TimestampType, "timestamp_ltz": TimestampType, "timestamp_ntz": TimestampNTZType,
    "void": NullType,
}


def _split_top(s: str, sep: str = ",") -> list[str]:
    """Split at `sep` outside <...> and (...)."""
    out, depth, cur = [], 0, []
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        out.append("".join(cur))
    return out


def _parse_type(s: str) -> DataType:
    """A type in Spark's DDL spelling: ``bigint``, ``decimal(10,2)``, ``array<string>``, ..."""
    t = s.strip()
    low = t.lower()
    if low in _NAMES:
        return _NAMES[low]()
    m = re.fullmatch(r"(?:decimal|numeric|dec)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?", low)
    if m:
        return DecimalType(int(m.group(1) or 10), int(m.group(2) or 0))
    m = re.fullmatch(r"(?:varchar|char)\s*\(\s*\d+\s*\)", low)
    if m:
        return StringType()
    if low.startswith("array<") and low.endswith(">"):
        return ArrayType(_parse_type(t[6:-1]))
    if low.startswith("map<") and low.endswith(">"):
        k, v = _split_top(t[4:-1])
        return MapType(_parse_type(k), _parse_type(v))
    if low.startswith("struct<") and low.endswith(">"):
        fields = []
        for part in _split_top(t[7:-1]):
            name, _, typ = part.partition(":")
            if not typ:
                name, typ = part.strip().split(None, 1)
            fields.append(StructField(name.strip().strip("`"), _parse_type(typ)))
        return StructType(fields)
    raise ValueError(f"'{s}' is not a Spark data type (e.g. STRING, BIGINT, DECIMAL(10,2), ARRAY<STRING>)")


def _parse_ddl(ddl: str) -> StructType:
    """Spark's schema DDL: ``"id BIGINT, name STRING NOT NULL"`` (or ``"id: bigint, ..."``)."""
    fields = []
    for part in _split_top(ddl):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"`([^`]+)`\s*:?\s*(.+)|([A-Za-z_][\w$]*)\s*:?\s+(.+)|([A-Za-z_][\w$]*):(.+)", part, re.S)
        if not m:
            raise ValueError(f"'{part}' is not a column of a DDL schema (write 'name TYPE')")
        name = m.group(1) or m.group(3) or m.group(5)
        typ = (m.group(2) or m.group(4) or m.group(6)).strip()
        nullable = True
        if re.search(r"\s+not\s+null\s*$", typ, re.I):
            typ, nullable = re.sub(r"\s+not\s+null\s*$", "", typ, flags=re.I), False
        fields.append(StructField(name, _parse_type(typ), nullable))
    return StructType(fields)


__all__ = [
    "DataType", "StringType", "BinaryType", "BooleanType", "ByteType", "ShortType", "IntegerType",
    "LongType", "FloatType", "DoubleType", "DateType", "TimestampType", "TimestampNTZType",
    "NullType", "DecimalType", "ArrayType", "MapType", "StructField", "StructType",
]

# Compares each input file, as pyarrow reads it, with the Parquet table normalize wrote from it:
# column names, row count, every value (exactly: NaN, -0.0, decimal scale, nanoseconds, time
# zones), the output types against the documented mapping (docs/stages.md, "What normalize
# reads"), and the Hugging Face features in the footer against what `datasets` derives from
# the output's Arrow schema. argv[1]: a JSON list of [input, output] pairs. Prints a JSON
# object: input name -> null (equal) or the first difference, in words.
import datetime as dt
import decimal
import json
import math
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
from datasets import Features


def read_input(path):
    if path.endswith(".parquet"):
        return pq.read_table(path)
    if path.endswith(".arrows"):
        with ipc.open_stream(path) as r:
            return r.read_all()
    return feather.read_table(path)


def expected_type(t):
    """The type normalize writes for an input column of type `t` (docs/stages.md)."""
    if pa.types.is_dictionary(t):
        return expected_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.binary()
    if pa.types.is_fixed_size_list(t):
        return pa.list_(expected_type(t.value_type), t.list_size)
    if pa.types.is_map(t):
        return pa.map_(expected_type(t.key_type), expected_type(t.item_type))
    if (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t)
            or pa.types.is_large_list_view(t)):
        return pa.list_(expected_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, expected_type(f.type)) for f in t])
    if pa.types.is_timestamp(t) and t.unit == "s":
        return pa.timestamp("ms", t.tz)
    if pa.types.is_time32(t) and t.unit == "s":
        return pa.time32("ms")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_decimal(t) and t.bit_width in (32, 64):
        return pa.decimal128(t.precision, t.scale)
    return t


def plain(t):
    """`t` with list items named `item` and every field nullable (names of list items and
    nullability are not part of the contract)."""
    if pa.types.is_fixed_size_list(t):
        return pa.list_(plain(t.value_type), t.list_size)
    if pa.types.is_map(t):
        return pa.map_(plain(t.key_type), plain(t.item_type))
    if pa.types.is_list(t):
        return pa.list_(plain(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, plain(f.type)) for f in t])
    return t


def key(v):
    """A value as something that compares equal only when the values are exactly equal."""
    if v is None:
        return None
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, float) or type(v).__name__ in ("float16", "float32", "float64"):
        f = float(v)
        return ("float", "nan" if math.isnan(f) else f.hex())
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, decimal.Decimal):
        return ("decimal", str(v))
    if isinstance(v, dict):
        return ("struct", tuple((k, key(x)) for k, x in v.items()))
    if isinstance(v, list):
        return ("list", tuple(key(x) for x in v))
    if isinstance(v, tuple):
        return ("tuple", tuple(key(x) for x in v))
    if isinstance(v, pd.Timestamp):
        return ("timestamp", v.isoformat(), str(v.tz))
    if isinstance(v, dt.datetime):
        return ("datetime", v.isoformat(), str(v.tzinfo))
    if isinstance(v, (dt.date, dt.time)):
        return (type(v).__name__, v.isoformat())
    if isinstance(v, pd.Timedelta):
        return ("timedelta", v.value)
    if isinstance(v, dt.timedelta):
        return ("timedelta", v // dt.timedelta(microseconds=1) * 1000)
    return (type(v).__name__, v)


def first_difference(a, b):
    if a.column_names != b.column_names:
        return f"columns {a.column_names} became {b.column_names}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows became {b.num_rows}"
    for name in a.column_names:
        want = plain(expected_type(a.schema.field(name).type))
        got = plain(b.schema.field(name).type)
        if not want.equals(got):
            return f"column {name}: type {a.schema.field(name).type} became {got}, expected {want}"
        left, right = a.column(name).to_pylist(), b.column(name).to_pylist()
        for row, (x, y) in enumerate(zip(left, right)):
            if key(x) != key(y):
                return f"column {name} row {row}: {x!r} became {y!r}"
    return None


def has_map(t):
    if pa.types.is_map(t):
        return True
    if pa.types.is_struct(t):
        return any(has_map(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t):
        return has_map(t.value_type)
    return False


def features_difference(out):
    """The footer's features must be the ones `datasets` derives from the table, and stand for
    the table's own fields (so that `datasets` takes them, ClassLabel names and all). `datasets`
    has no map feature and cannot load a map column at all: those columns are skipped."""
    schema = pq.read_schema(out)
    meta = schema.metadata or {}
    if b"huggingface" not in meta:
        return "the output's Arrow schema has no `huggingface` metadata (datasets would not see the features)"
    ours = Features.from_dict(json.loads(meta[b"huggingface"])["info"]["features"])
    if sorted(ours) != sorted(schema.names):
        return f"features name {sorted(ours)}, the table has {schema.names}"
    ours_schema = ours.arrow_schema
    for field in schema:
        if has_map(field.type):
            continue
        theirs = Features.from_arrow_schema(pa.schema([field]))[field.name]
        if ours[field.name] != theirs:
            return f"column {field.name}: feature {ours[field.name]}, datasets derives {theirs}"
        if ours_schema.field(field.name) != field:
            return f"column {field.name}: feature {ours[field.name]} stands for {ours_schema.field(field.name)}, not {field}"
    return None


result = {}
for src, out in json.loads(sys.argv[1]):
    try:
        problem = first_difference(read_input(src), pq.read_table(out)) or features_difference(out)
    except Exception as e:  # reported per file, so one failure does not hide the others
        problem = f"{type(e).__name__}: {e}"
    result[src] = problem
print(json.dumps(result))

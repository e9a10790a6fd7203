# Writes the conformance variants into the current folder: Parquet, Arrow IPC and Feather v2
# files as pyarrow, pandas and polars write them. Prints a JSON list of the file names.
# Deterministic: fixed values, no randomness, no clock.
import datetime as dt
import decimal
import json

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

D = decimal.Decimal
N = 40
names = []


def nul(i, k):
    """Every k-th value (from the second) is null."""
    return i % k == 1


def col(values, ty, k=7):
    return pa.array([None if nul(i, k) else v for i, v in enumerate(values)], ty)


def parquet(t, name, **kw):
    pq.write_table(t, name, **kw)
    names.append(name)


def arrow_file(t, name, **kw):
    with ipc.new_file(name, t.schema, options=ipc.IpcWriteOptions(**kw)) as w:
        w.write_table(t, max_chunksize=16)
    names.append(name)


def arrow_stream(t, name, **kw):
    with ipc.new_stream(name, t.schema, options=ipc.IpcWriteOptions(**kw)) as w:
        w.write_table(t, max_chunksize=16)
    names.append(name)


ints = list(range(N))
utc = dt.timezone.utc

# A table of everyday columns, for the codecs and layouts.
base = pa.table({
    "id": pa.array(ints, pa.int64()),
    "score": col([i / 7 for i in ints], pa.float64()),
    "text": col([f"row {i} é✓ «{i % 5}» 😀" for i in ints], pa.string(), 5),
    "flag": col([i % 2 == 0 for i in ints], pa.bool_(), 3),
    "label": pa.array(["neg" if i % 3 else "pos" for i in ints]).dictionary_encode(),
    "tags": col([[i, i + 1] if i % 4 else [] for i in ints], pa.list_(pa.int64())),
    "at": col([dt.datetime(2024, 1, 1) + dt.timedelta(minutes=i) for i in ints], pa.timestamp("us")),
})
for codec in ["none", "snappy", "gzip", "brotli", "lz4", "zstd"]:
    parquet(base, f"codec-{codec}.parquet", compression=codec)
    parquet(base, f"codec-{codec}-pagev2.parquet", compression=codec, data_page_version="2.0")
parquet(base, "codec-zstd-level19.parquet", compression="zstd", compression_level=19)
parquet(base, "format-v1.0.parquet", version="1.0")
parquet(base, "format-v2.4.parquet", version="2.4")
parquet(base, "no-dictionary.parquet", use_dictionary=False)
parquet(base, "no-statistics.parquet", write_statistics=False)
parquet(base, "no-arrow-schema.parquet", store_schema=False)
parquet(base, "byte-stream-split.parquet", use_dictionary=False,
        use_byte_stream_split=["score"])
parquet(base, "delta-encodings.parquet", use_dictionary=False,
        column_encoding={"id": "DELTA_BINARY_PACKED", "text": "DELTA_BYTE_ARRAY"})
parquet(base, "delta-length.parquet", use_dictionary=False,
        column_encoding={"text": "DELTA_LENGTH_BYTE_ARRAY"})
parquet(base, "page-index-checksums.parquet", write_page_index=True, write_page_checksum=True)
parquet(base, "small-pages.parquet", data_page_size=64, write_batch_size=4)

# Many row groups (and pages), and a batch boundary inside a row group.
many = pa.table({
    "id": pa.array(range(70_000), pa.int64()),
    "text": pa.array([f"t{i % 997}" for i in range(70_000)]),
})
parquet(many, "row-groups-700.parquet", row_group_size=100)

# Every integer width at its extremes, floats with NaN, infinities and -0.0, float16, bool.
def extremes(bits, signed):
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    return [lo, hi, 0, 1, lo + 1, hi - 1] * (N // 6) + [lo] * (N % 6)


scalars = {}
for bits in [8, 16, 32, 64]:
    scalars[f"i{bits}"] = col(extremes(bits, True), getattr(pa, f"int{bits}")())
    scalars[f"u{bits}"] = col(extremes(bits, False), getattr(pa, f"uint{bits}")())
special = [float("nan"), float("inf"), float("-inf"), -0.0, 0.0, 1.5, -2.25e-300, 3.4e38]
scalars["f64"] = col((special * N)[:N], pa.float64())
scalars["f32"] = col([1.5, float("nan"), float("inf"), -0.0, 3.25, -1e-7, 1e30, 0.1] * 5, pa.float32())
scalars["f16"] = col([1.5, float("nan"), float("inf"), -0.0, 65504.0, -2.0, 0.099975586, 6.1e-05] * 5, pa.float16())
scalars["b"] = col([i % 3 == 0 for i in ints], pa.bool_(), 4)
scalars["allnull_i64"] = pa.array([None] * N, pa.int64())
scalars["null"] = pa.nulls(N)
scalars_t = pa.table(scalars)

# Strings and binaries in every layout.
texts = [["", "a", "é✓", "😀 emoji", "tab\there", "nul\x00byte", "line\nbreak", "x" * 300][i % 8] + str(i) * (i % 3) for i in ints]
strings_t = pa.table({
    "s": col(texts, pa.string()),
    "ls": col(texts, pa.large_string()),
    "sv": col(texts, pa.string_view()),
    "b": col([t.encode() + b"\xff\x00" for t in texts], pa.binary()),
    "lb": col([t.encode() for t in texts], pa.large_binary()),
    "bv": col([t.encode() for t in texts], pa.binary_view()),
    "fb": col([bytes([i, 255 - i, 0, 7]) for i in ints], pa.binary(4)),
    "empty": col([""] * N, pa.string(), 3),
})

# Dictionaries: pyarrow dictionary types (strings, ints, several index widths).
dicts_t = pa.table({
    "d8": col(["neg" if i % 3 else "pos" for i in ints], pa.dictionary(pa.int8(), pa.string())),
    "d32": col([f"c{i % 11}" for i in ints], pa.dictionary(pa.int32(), pa.string())),
    "du16": col([f"c{i % 4}" for i in ints], pa.dictionary(pa.uint16(), pa.large_string())),
    "dint": col([i % 5 * 1000 for i in ints], pa.dictionary(pa.int16(), pa.int64())),
    "plain": pa.array([f"v{i % 3}" for i in ints]),
})

# Temporal: every unit, time zones, dates, times, durations.
base_dt = dt.datetime(2021, 3, 28, 0, 59, 58)
temporal = {}
for unit in ["s", "ms", "us", "ns"]:
    for tz in [None, "UTC", "Europe/Paris", "+05:30"]:
        key = f"ts_{unit}_{(tz or 'naive').replace('/', '_').replace('+', 'p').replace(':', '')}"
        values = [base_dt + dt.timedelta(seconds=i * 3607, microseconds=(i * 1234 if unit in ("us", "ns") else (i * 1000 if unit == "ms" else 0))) for i in ints]
        arr = col(values, pa.timestamp(unit))
        if unit == "ns":
            arr = pa.compute.add(arr.cast(pa.int64()), pa.scalar(789, pa.int64())).cast(pa.timestamp("ns"))
        temporal[key] = arr.cast(pa.timestamp(unit, tz)) if tz else arr
temporal["old_us"] = col([dt.datetime(1, 1, 1), dt.datetime(1677, 9, 21), dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.datetime(9999, 12, 31, 23, 59, 59)] * 10, pa.timestamp("us"))
temporal["date32"] = col([dt.date(1970, 1, 1) + dt.timedelta(days=i * 997 - 20000) for i in ints], pa.date32())
temporal["date64"] = col([dt.date(2000, 2, 29) + dt.timedelta(days=i) for i in ints], pa.date64())
temporal["t32s"] = col([dt.time(i % 24, i % 60, (i * 7) % 60) for i in ints], pa.time32("s"))
temporal["t32ms"] = col([dt.time(i % 24, i % 60, (i * 7) % 60, i * 1000) for i in ints], pa.time32("ms"))
temporal["t64us"] = col([dt.time(i % 24, i % 60, (i * 7) % 60, i * 1234) for i in ints], pa.time64("us"))
temporal["t64ns"] = pa.array([None if nul(i, 7) else (i * 3_600_000_000_123 % 86_400_000_000_000) for i in ints], pa.int64()).cast(pa.time64("ns"))
for unit in ["s", "ms", "us", "ns"]:
    temporal[f"dur_{unit}"] = pa.array([None if nul(i, 7) else (i - 20) * 123_456_789 for i in ints], pa.int64()).cast(pa.duration(unit))
temporal_t = pa.table(temporal)

# INT96 timestamps: pyarrow's deprecated option, Spark's flavor, pandas passing it through.
int96_t = pa.table({
    "ts_ns": temporal["ts_ns_naive"],
    "ts_us": temporal["ts_us_naive"],
    "ts_ms_utc": temporal["ts_ms_UTC"],
    "ts_s": temporal["ts_s_naive"],
    "id": pa.array(ints, pa.int32()),
})
parquet(int96_t, "int96.parquet", use_deprecated_int96_timestamps=True)
parquet(int96_t, "int96-no-arrow-schema.parquet", use_deprecated_int96_timestamps=True, store_schema=False)
parquet(int96_t.rename_columns(["ts ns", "ts_us", "ts_ms_utc", "ts_s", "id"]), "int96-spark.parquet", flavor="spark")
pd.DataFrame({
    "when": pd.to_datetime(["2020-01-01 00:00:00.123456789", None, "1999-12-31 23:59:59.000000000"] * 10),
    "when_tz": pd.to_datetime(["2020-06-01 12:00", "2020-12-01 12:00", None] * 10).tz_localize("America/New_York"),
    "n": range(30),
}).to_parquet("int96-pandas.parquet", use_deprecated_int96_timestamps=True)
names.append("int96-pandas.parquet")

# Decimals of several precisions and widths (negative, zero, extremes, scale kept).
decimals_t = pa.table({
    "d32": col([D(i * 37 - 700).scaleb(-2) for i in ints], pa.decimal32(7, 2)),
    "d64": col([D(i * 1234567 - 99).scaleb(-4) for i in ints], pa.decimal64(18, 4)),
    "d128_5_2": col([D(i * 37 - 700).scaleb(-2) for i in ints], pa.decimal128(5, 2)),
    "d128_18_0": col([D(10 ** 18 - 1 - i) * (1 if i % 2 else -1) for i in ints], pa.decimal128(18, 0)),
    "d128_38_10": col([D("9" * 28 + "." + "9" * 10) - i if i % 2 else D("-0.0000000001") * i for i in ints], pa.decimal128(38, 10)),
    "d128_10_10": col([D(i).scaleb(-10) for i in ints], pa.decimal128(10, 10)),
    "d256_50_5": col([D("1" * 40 + ".12345") * (i - 20) for i in ints], pa.decimal256(50, 5)),
    "d256_76_0": col([D("9" * 76) if i % 3 == 0 else D(-i) for i in ints], pa.decimal256(76, 0)),
})
parquet(decimals_t, "decimals-as-integer.parquet", store_decimal_as_integer=True)

# Nested: lists, lists of lists, structs, maps, lists of structs, nulls at every level.
def maybe_list(i, v):
    return None if i % 9 == 1 else ([] if i % 9 == 2 else v)


nested_t = pa.table({
    "li": pa.array([maybe_list(i, [i, None, -i]) for i in ints], pa.list_(pa.int64())),
    "ls": pa.array([maybe_list(i, [f"a{i}", None, ""]) for i in ints], pa.list_(pa.string())),
    "lls": pa.array([maybe_list(i, [[f"x{i}"], [], None, ["y", None]]) for i in ints], pa.list_(pa.list_(pa.string()))),
    "large_list": pa.array([maybe_list(i, [i * 0.5]) for i in ints], pa.large_list(pa.float64())),
    "fixed_list": pa.array([None if i % 9 == 1 else [i, i + 1, None] for i in ints], pa.list_(pa.int32(), 3)),
    "st": pa.array([None if i % 9 == 1 else {"a": i, "b": None if i % 4 == 0 else f"b{i}", "c": {"d": [i] if i % 2 else None}} for i in ints],
                   pa.struct([("a", pa.int64()), ("b", pa.string()), ("c", pa.struct([("d", pa.list_(pa.int16()))]))])),
    "lst": pa.array([maybe_list(i, [{"k": f"k{i}", "v": i / 4}, None, {"k": None, "v": None}]) for i in ints],
                    pa.list_(pa.struct([("k", pa.string()), ("v", pa.float64())]))),
    "m": pa.array([None if i % 9 == 1 else [("one", i), ("two", None)] if i % 2 else [] for i in ints], pa.map_(pa.string(), pa.int64())),
    "m_nested": pa.array([None if i % 9 == 1 else [(i, [f"v{i}", None])] for i in ints], pa.map_(pa.int32(), pa.list_(pa.string()))),
    "empty_struct_field": pa.array([{"x": None} for i in ints], pa.struct([("x", pa.int8())])),
})
parquet(nested_t, "nested-noncompliant.parquet", use_compliant_nested_type=False)

# Views and list views exist only in Arrow IPC (Parquet has no such layout; pyarrow reads them
# back as plain types there).
views_t = pa.table({
    "sv": col(texts, pa.string_view()),
    "bv": col([t.encode() for t in texts], pa.binary_view()),
    "lv": pa.array([maybe_list(i, [i, None]) for i in ints], pa.list_view(pa.int64())),
    "llv": pa.array([maybe_list(i, [f"s{i}"]) for i in ints], pa.large_list_view(pa.string())),
})

# 0 rows, with a schema.
empty_t = pa.table({
    "id": pa.array([], pa.int64()),
    "text": pa.array([], pa.string()),
    "tags": pa.array([], pa.list_(pa.string())),
    "at": pa.array([], pa.timestamp("ms", "UTC")),
})

tables = {
    "scalars": scalars_t, "strings": strings_t, "dicts": dicts_t, "temporal": temporal_t,
    "decimals": decimals_t, "nested": nested_t, "empty": empty_t,
}
for key, t in tables.items():
    parquet(t, f"{key}.parquet")
    arrow_file(t, f"{key}.arrow")
parquet(empty_t, "empty-no-row-groups.parquet", row_group_size=1)
arrow_file(views_t, "views.arrow")
arrow_stream(views_t, "views.arrows")
arrow_stream(nested_t, "nested.arrows")
arrow_stream(empty_t, "empty.arrows")

# Arrow IPC and Feather v2 bodies: uncompressed, lz4 and zstd; dictionary batches in a stream.
for codec in [None, "lz4", "zstd"]:
    c = codec or "none"
    arrow_file(base, f"ipc-file-{c}.arrow", compression=codec)
    arrow_stream(base, f"ipc-stream-{c}.arrows", compression=codec)
    feather.write_feather(base, f"feather-{c if codec else 'uncompressed'}.feather",
                          compression=codec or "uncompressed", chunksize=16)
    names.append(f"feather-{c if codec else 'uncompressed'}.feather")
feather.write_feather(dicts_t, "feather-dicts-zstd.feather", compression="zstd")
names.append("feather-dicts-zstd.feather")

# pandas: RangeIndex (metadata only), a named index, an unnamed non-range index, a MultiIndex,
# pandas dtypes (nullable ints, categorical, tz-aware datetimes, the default string dtype).
frame = pd.DataFrame({
    "text": [f"p{i}" if i % 5 else None for i in ints],
    "n": pd.array([None if i % 6 == 1 else i for i in ints], dtype="Int64"),
    "u": pd.array([i for i in ints], dtype="UInt8"),
    "x": [i / 3 if i % 4 else float("nan") for i in ints],
    "cat": pd.Categorical(["a" if i % 3 else "b" for i in ints]),
    "when": pd.date_range("2024-03-01", periods=N, freq="37min", tz="Europe/Berlin"),
    "ok": pd.array([None if i % 7 == 1 else i % 2 == 0 for i in ints], dtype="boolean"),
    "obj": [{"k": i} if i % 2 else {"k": None} for i in ints],
})
frame.to_parquet("pandas-range-index.parquet")
frame.set_index("n").to_parquet("pandas-named-index.parquet")
frame.iloc[::3].to_parquet("pandas-filtered-index.parquet")
frame.set_index(["text", "u"]).to_parquet("pandas-multi-index.parquet")
frame.to_parquet("pandas-no-index.parquet", index=False)
frame.reset_index(drop=True).to_feather("pandas.feather")
names += ["pandas-range-index.parquet", "pandas-named-index.parquet", "pandas-filtered-index.parquet",
          "pandas-multi-index.parquet", "pandas-no-index.parquet", "pandas.feather"]

# polars: write_parquet's defaults (zstd, statistics), other codecs, write_ipc (compressed or
# not) and write_ipc_stream, with polars' own types (string views, categoricals, enums, large
# lists, decimals, durations).
pf = pl.DataFrame({
    "id": list(range(N)),
    "text": [f"pl {i} ✓" if i % 5 else None for i in ints],
    "cat": pl.Series([f"c{i % 4}" for i in ints], dtype=pl.Categorical),
    "enum": pl.Series(["lo" if i % 2 else "hi" for i in ints], dtype=pl.Enum(["lo", "hi"])),
    "f": [i / 8 if i % 6 else None for i in ints],
    "u32": pl.Series(ints, dtype=pl.UInt32),
    "i8": pl.Series([i - 20 for i in ints], dtype=pl.Int8),
    "list": [[i, i * 2] if i % 3 else [] for i in ints],
    "struct": [{"a": i, "b": f"s{i}"} for i in ints],
    "when": [dt.datetime(2024, 5, 1, tzinfo=utc) + dt.timedelta(hours=i) for i in ints],
    "naive_ns": pl.Series([dt.datetime(2024, 5, 1) + dt.timedelta(microseconds=i) for i in ints]).cast(pl.Datetime("ns")),
    "day": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in ints],
    "dur": [dt.timedelta(seconds=i * 61) for i in ints],
    "dec": pl.Series([D(i).scaleb(-2) for i in ints], dtype=pl.Decimal(10, 2)),
    "bin": [bytes([i, 0, 255]) for i in ints],
    "ok": [None if i % 7 == 1 else i % 2 == 0 for i in ints],
})
pf.write_parquet("polars-default.parquet")
pf.write_parquet("polars-snappy.parquet", compression="snappy", row_group_size=16)
pf.write_parquet("polars-lz4.parquet", compression="lz4")
pf.write_parquet("polars-uncompressed-nostats.parquet", compression="uncompressed", statistics=False)
pf.write_ipc("polars-ipc.arrow")
pf.write_ipc("polars-ipc-lz4.arrow", compression="lz4")
pf.write_ipc("polars-ipc-zstd.feather", compression="zstd")
pf.write_ipc_stream("polars-ipc-stream.arrows")
pf.write_ipc_stream("polars-ipc-stream-zstd.arrows", compression="zstd")
pf.head(0).write_parquet("polars-empty.parquet")
names += ["polars-default.parquet", "polars-snappy.parquet", "polars-lz4.parquet",
          "polars-uncompressed-nostats.parquet", "polars-ipc.arrow", "polars-ipc-lz4.arrow",
          "polars-ipc-zstd.feather", "polars-ipc-stream.arrows", "polars-ipc-stream-zstd.arrows",
          "polars-empty.parquet"]

print(json.dumps(names))

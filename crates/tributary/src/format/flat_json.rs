//! The commonest JSON lines — one flat object of scalar values per line — read straight into
//! typed columns in one pass, where the general path ([`super::decode`]) runs arrow-json's tape
//! decoder with numbers and times as text and then fits every column ([`super::fit`]).
//!
//! It gives the general path's answer. It reads a buffer's lines until the first one it is
//! not sure about; the general path takes the buffer from that line on (in the caller,
//! [`super::decode`]), and decides what is a bad record and why:
//!
//! | the buffer holds | flat path |
//! |---|---|
//! | `{"k": "text" \| 12 \| 1.5e3 \| true \| null, ...}` one per line, blank lines between | decoded |
//! | a string with escapes (`\n`, `\u00e9`, surrogate pairs) | decoded |
//! | an unknown key with a scalar value | skipped, as arrow-json skips it |
//! | a nested object or array, a record over two lines, two records on a line | general path |
//! | a value that does not fit its column (`1.7` in a BIGINT, a quoted number, `1e400`) | general path |
//! | a timestamp not of the plain form ([`super::timestamps`]), a number in a TIMESTAMP | general path |
//! | a duplicated key, NULL in a NOT NULL column, text that is not UTF-8 | general path |
//!
//! Columns of other types (dates, decimals, structs, lists) make a schema unfit for the flat
//! path ([`FlatJson::new`] gives `None`). A differential test holds it to the general path's
//! answer on random records, valid and broken.

use std::sync::Arc;

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{
    Array, ArrayRef, BooleanBuilder, PrimitiveArray, RecordBatch, StringBuilder, StringViewBuilder,
};
use arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, SchemaRef,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};

use super::timestamps::PlainTimestamps;

/// Rows per batch, as the general path gives them.
const BATCH_SIZE: usize = 8192;

/// What one column takes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    TextView,
    Bool,
    /// An integer column, with the range its type holds.
    Int(i64, i64),
    Float64,
    Float32,
    Timestamp(TimeUnit),
}

/// A decoder for one schema, when every column is of a kind the flat path takes.
#[derive(Debug)]
pub(super) struct FlatJson {
    schema: SchemaRef,
    names: Vec<Box<[u8]>>,
    /// Each name with its closing quote as one word, when shorter than 16 bytes (see `guessed`).
    words: Vec<Option<(u128, u128)>>,
    kinds: Vec<Kind>,
    nullable: Vec<bool>,
    /// A bit for each column: the columns a record names when it names all.
    all: u64,
}

/// What the records of one buffer share as they are read.
struct Record {
    scratch: String,
    /// The column the next key most likely names.
    guess: usize,
}

impl FlatJson {
    /// `None` when a column's type is not one the flat path decodes, or there are more than 64.
    pub(super) fn new(schema: &SchemaRef) -> Option<FlatJson> {
        let fields = schema.fields();
        if fields.is_empty() || fields.len() > 64 {
            return None;
        }
        let mut kinds = Vec::with_capacity(fields.len());
        for f in fields {
            kinds.push(match f.data_type() {
                DataType::Utf8 => Kind::Text,
                DataType::Utf8View => Kind::TextView,
                DataType::Boolean => Kind::Bool,
                DataType::Int8 => Kind::Int(i8::MIN.into(), i8::MAX.into()),
                DataType::Int16 => Kind::Int(i16::MIN.into(), i16::MAX.into()),
                DataType::Int32 => Kind::Int(i32::MIN.into(), i32::MAX.into()),
                DataType::Int64 => Kind::Int(i64::MIN, i64::MAX),
                DataType::Float64 => Kind::Float64,
                DataType::Float32 => Kind::Float32,
                DataType::Timestamp(unit, tz)
                    if tz
                        .as_deref()
                        .is_none_or(|tz| matches!(tz, "UTC" | "+00:00" | "Z")) =>
                {
                    Kind::Timestamp(*unit)
                }
                _ => return None,
            });
        }
        let names: Vec<Box<[u8]>> = fields.iter().map(|f| f.name().as_bytes().into()).collect();
        if (1..names.len()).any(|i| names[..i].contains(&names[i])) {
            return None;
        }
        let words = names.iter().map(|n| word(n)).collect();
        Some(FlatJson {
            schema: schema.clone(),
            words,
            names,
            all: if kinds.len() == 64 {
                u64::MAX
            } else {
                (1u64 << kinds.len()) - 1
            },
            kinds,
            nullable: fields.iter().map(|f| f.is_nullable()).collect(),
        })
    }

    /// The records of `bytes` (one object per line, blank lines skipped) in batches of the
    /// schema; `None` when any line needs the general path.
    #[cfg(test)]
    pub(super) fn decode(&self, bytes: &[u8]) -> Option<Vec<RecordBatch>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (batches, taken) = self.decode_prefix(text);
        (taken == text.len()).then_some(batches)
    }

    /// The records of `text` (one object per line, blank lines skipped) up to the first line
    /// the flat path is not sure of, in batches of the schema, and where the rest starts: a
    /// line start at or before that line (just after the last record taken), or `text.len()`
    /// when every line was taken. The rest is the general path's.
    pub(super) fn decode_prefix(&self, text: &str) -> (Vec<RecordBatch>, usize) {
        let b = text.as_bytes();
        let mut columns = self.builders(b.len());
        let mut out = Vec::new();
        let mut rows = 0usize;
        let mut record = Record {
            scratch: String::new(),
            guess: 0,
        };
        // Where the records of the batch being built start.
        let mut batch_start = 0;
        let mut i = 0;
        loop {
            // Just after the last record (at its line break), or at the start.
            let line_start = if b.get(i) == Some(&b'\n') { i + 1 } else { i };
            while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            match self.record(text, i, &mut columns, &mut record) {
                Some(next) => i = next,
                None => {
                    if rows > 0 {
                        match self.finish(&mut columns, rows) {
                            Some(batch) => out.push(batch),
                            None => return (out, batch_start),
                        }
                    }
                    return (out, line_start);
                }
            }
            rows += 1;
            if rows == BATCH_SIZE {
                match self.finish(&mut columns, rows) {
                    Some(batch) => out.push(batch),
                    None => return (out, batch_start),
                }
                rows = 0;
                batch_start = if b.get(i) == Some(&b'\n') { i + 1 } else { i };
                // A finished builder gives its buffers away: the next batch's are sized for
                // it again, rather than grown from nothing by doubling.
                columns = self.builders(b.len() - i);
            }
        }
        if rows > 0 {
            match self.finish(&mut columns, rows) {
                Some(batch) => out.push(batch),
                None => return (out, batch_start),
            }
        }
        (out, b.len())
    }

    /// One record starting (with its `{`) at `i`, its values appended to `columns`; the
    /// position after it (its line break or the end), or `None` when the flat path is not
    /// sure of it, leaving some columns a value longer than the others.
    fn record(
        &self,
        text: &str,
        mut i: usize,
        columns: &mut [Column],
        record: &mut Record,
    ) -> Option<usize> {
        let b = text.as_bytes();
        if b[i] != b'{' {
            return None;
        }
        i = inline_space(b, i + 1);
        let mut seen = 0u64;
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                let guess = record.guess;
                let (column, end) = match self.guessed(b, i + 1, guess) {
                    Some(end) => (Some(guess), end),
                    None => {
                        let (end, escaped) = string_end(b, i + 1)?;
                        if escaped {
                            return None;
                        }
                        (self.find(&b[i + 1..end], guess), end)
                    }
                };
                i = inline_space(b, end + 1);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = inline_space(b, i + 1);
                match column {
                    Some(c) => {
                        let bit = 1u64 << c;
                        if seen & bit != 0 {
                            return None;
                        }
                        seen |= bit;
                        record.guess = c + 1;
                        let kind = self.kinds[c];
                        i = columns[c].take(
                            kind,
                            self.nullable[c],
                            text,
                            i,
                            &mut record.scratch,
                        )?;
                    }
                    None => i = skip_scalar(b, i)?,
                }
                i = inline_space(b, i);
                match b.get(i) {
                    Some(b',') => i = inline_space(b, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        i = inline_space(b, i);
        if i < b.len() && b[i] != b'\n' {
            return None;
        }
        if seen != self.all {
            for (c, column) in columns.iter_mut().enumerate() {
                if seen & (1u64 << c) == 0 {
                    if !self.nullable[c] {
                        return None;
                    }
                    column.null();
                }
            }
        }
        Some(i)
    }

    /// The end (closing quote) of the key starting at `j` when it names column `guess`, the
    /// one after the last found (records usually keep their keys in one order): 16 bytes
    /// compared at once with the name and its quote, where comparing slices called `memcmp`
    /// for every key (6% of a stream's CPU). `None` leaves it to [`Self::find`].
    fn guessed(&self, b: &[u8], j: usize, guess: usize) -> Option<usize> {
        let (name, mask) = (*self.words.get(guess)?)?;
        let bytes: [u8; 16] = b.get(j..j + 16)?.try_into().ok()?;
        (u128::from_le_bytes(bytes) & mask == name).then(|| j + self.names[guess].len())
    }

    /// The column named `key`, trying first the one after the last found.
    fn find(&self, key: &[u8], guess: usize) -> Option<usize> {
        if self.names.get(guess).is_some_and(|n| **n == *key) {
            return Some(guess);
        }
        self.names.iter().position(|n| **n == *key)
    }

    fn builders(&self, bytes: usize) -> Vec<Column> {
        let rows = BATCH_SIZE.min(bytes / 16 + 1);
        self.kinds
            .iter()
            .map(|k| match k {
                Kind::Text => Column::Text(StringBuilder::with_capacity(rows, rows * 8)),
                Kind::TextView => Column::View(StringViewBuilder::with_capacity(rows)),
                Kind::Bool => Column::Bool(BooleanBuilder::with_capacity(rows)),
                Kind::Int(..) => {
                    Column::I64(Vec::with_capacity(rows), NullBufferBuilder::new(rows))
                }
                Kind::Timestamp(_) => Column::Ts(
                    Vec::with_capacity(rows),
                    NullBufferBuilder::new(rows),
                    PlainTimestamps::default(),
                ),
                Kind::Float64 => {
                    Column::F64(Vec::with_capacity(rows), NullBufferBuilder::new(rows))
                }
                Kind::Float32 => {
                    Column::F32(Vec::with_capacity(rows), NullBufferBuilder::new(rows))
                }
            })
            .collect()
    }

    /// The first `rows` values of every column as a batch (a column can hold one more: the
    /// values of a record the flat path left).
    fn finish(&self, columns: &mut [Column], rows: usize) -> Option<RecordBatch> {
        let arrays: Vec<ArrayRef> = columns
            .iter_mut()
            .zip(self.schema.fields())
            .map(|(c, f)| {
                let array = c.finish(f.data_type());
                if array.len() > rows {
                    array.slice(0, rows)
                } else {
                    array
                }
            })
            .collect();
        RecordBatch::try_new(self.schema.clone(), arrays).ok()
    }
}

/// `name` and a closing quote as a little-endian word with the mask of its bytes; `None` when
/// longer than 15 bytes or holding a character a key would escape.
fn word(name: &[u8]) -> Option<(u128, u128)> {
    if name.len() > 15 || name.iter().any(|&c| c == b'"' || c == b'\\' || c < 0x20) {
        return None;
    }
    let mut bytes = [0u8; 16];
    bytes[..name.len()].copy_from_slice(name);
    bytes[name.len()] = b'"';
    let mask = u128::MAX >> (8 * (15 - name.len()));
    Some((u128::from_le_bytes(bytes), mask))
}

/// One column being built.
enum Column {
    Text(StringBuilder),
    View(StringViewBuilder),
    Bool(BooleanBuilder),
    I64(Vec<i64>, NullBufferBuilder),
    Ts(Vec<i64>, NullBufferBuilder, PlainTimestamps),
    F64(Vec<f64>, NullBufferBuilder),
    F32(Vec<f32>, NullBufferBuilder),
}

impl Column {
    fn null(&mut self) {
        match self {
            Column::Text(b) => b.append_null(),
            Column::View(b) => b.append_null(),
            Column::Bool(b) => b.append_null(),
            Column::I64(v, n) | Column::Ts(v, n, _) => {
                v.push(0);
                n.append_null();
            }
            Column::F64(v, n) => {
                v.push(0.0);
                n.append_null();
            }
            Column::F32(v, n) => {
                v.push(0.0);
                n.append_null();
            }
        }
    }

    /// Take the value at `i` of `text`; the position after it, or `None` when it does not fit.
    fn take(
        &mut self,
        kind: Kind,
        nullable: bool,
        text: &str,
        i: usize,
        scratch: &mut String,
    ) -> Option<usize> {
        let b = text.as_bytes();
        if b[i..].starts_with(b"null") {
            if !nullable {
                return None;
            }
            self.null();
            return Some(i + 4);
        }
        match (self, kind) {
            (Column::Text(builder), _) => {
                let (value, next) = string(text, i, scratch)?;
                builder.append_value(value);
                Some(next)
            }
            (Column::View(builder), _) => {
                let (value, next) = string(text, i, scratch)?;
                builder.append_value(value);
                Some(next)
            }
            (Column::Bool(builder), _) => {
                if b[i..].starts_with(b"true") {
                    builder.append_value(true);
                    Some(i + 4)
                } else if b[i..].starts_with(b"false") {
                    builder.append_value(false);
                    Some(i + 5)
                } else {
                    None
                }
            }
            (Column::I64(values, nulls), Kind::Int(min, max)) => {
                let (end, integer) = number_end(b, i)?;
                if !integer {
                    return None;
                }
                let v: i64 = text[i..end].parse().ok()?;
                if v < min || v > max {
                    return None;
                }
                values.push(v);
                nulls.append_non_null();
                Some(end)
            }
            (Column::Ts(values, nulls, day), Kind::Timestamp(unit)) => {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                let (end, escaped) = string_end(b, i + 1)?;
                if escaped {
                    return None;
                }
                values.push(day.parse(&b[i + 1..end], unit)?);
                nulls.append_non_null();
                Some(end + 1)
            }
            (Column::F64(values, nulls), _) => float(text, i, values, nulls, f64::is_finite),
            (Column::F32(values, nulls), _) => float(text, i, values, nulls, f32::is_finite),
            (Column::I64(..) | Column::Ts(..), _) => None,
        }
    }

    fn finish(&mut self, to: &DataType) -> ArrayRef {
        match self {
            Column::Text(b) => Arc::new(b.finish()),
            Column::View(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::I64(v, n) | Column::Ts(v, n, _) => {
                let values: arrow::buffer::ScalarBuffer<i64> = std::mem::take(v).into();
                let nulls = n.finish();
                match to {
                    DataType::Int8 => Arc::new(PrimitiveArray::<Int8Type>::new(
                        narrow(values.as_ref()),
                        nulls,
                    )),
                    DataType::Int16 => Arc::new(PrimitiveArray::<Int16Type>::new(
                        narrow(values.as_ref()),
                        nulls,
                    )),
                    DataType::Int32 => Arc::new(PrimitiveArray::<Int32Type>::new(
                        narrow(values.as_ref()),
                        nulls,
                    )),
                    DataType::Timestamp(unit, tz) => {
                        let tz = tz.clone();
                        match unit {
                            TimeUnit::Second => Arc::new(
                                PrimitiveArray::<TimestampSecondType>::new(values, nulls)
                                    .with_timezone_opt(tz),
                            ),
                            TimeUnit::Millisecond => Arc::new(
                                PrimitiveArray::<TimestampMillisecondType>::new(values, nulls)
                                    .with_timezone_opt(tz),
                            ),
                            TimeUnit::Microsecond => Arc::new(
                                PrimitiveArray::<TimestampMicrosecondType>::new(values, nulls)
                                    .with_timezone_opt(tz),
                            ),
                            TimeUnit::Nanosecond => Arc::new(
                                PrimitiveArray::<TimestampNanosecondType>::new(values, nulls)
                                    .with_timezone_opt(tz),
                            ),
                        }
                    }
                    _ => Arc::new(PrimitiveArray::<Int64Type>::new(values, nulls)),
                }
            }
            Column::F64(v, n) => Arc::new(PrimitiveArray::<Float64Type>::new(
                std::mem::take(v).into(),
                n.finish(),
            )),
            Column::F32(v, n) => Arc::new(PrimitiveArray::<Float32Type>::new(
                std::mem::take(v).into(),
                n.finish(),
            )),
        }
    }
}

/// The JSON number at `i` of `text` appended as a float; `None` when out of range (a bad
/// record, for the general path to report).
fn float<T: std::str::FromStr + Copy>(
    text: &str,
    i: usize,
    values: &mut Vec<T>,
    nulls: &mut NullBufferBuilder,
    finite: fn(T) -> bool,
) -> Option<usize> {
    let (end, _) = number_end(text.as_bytes(), i)?;
    let v: T = text[i..end].parse().ok()?;
    if !finite(v) {
        return None;
    }
    values.push(v);
    nulls.append_non_null();
    Some(end)
}

/// Integers already checked against the narrower type's range.
fn narrow<T: TryFrom<i64> + Default + arrow::datatypes::ArrowNativeType>(
    values: &[i64],
) -> arrow::buffer::ScalarBuffer<T> {
    values
        .iter()
        .map(|v| T::try_from(*v).unwrap_or_default())
        .collect()
}

/// Past spaces, tabs and carriage returns (not line breaks: a record is one line).
fn inline_space(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    i
}

/// The closing quote of the string whose content starts at `i`, and whether it has escapes;
/// `None` for a control character or no closing quote.
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    loop {
        // Eight bytes at a time up to the first quote, backslash or control character.
        while let Some(chunk) = b.get(i..i + 8) {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let found = special_bytes(word);
            if found != 0 {
                i += (found.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        match *b.get(i)? {
            b'"' => return Some((i, escaped)),
            b'\\' => {
                // Only JSON's escapes: a backslash before anything else (a line break too) is
                // the general path's to report.
                if !matches!(
                    b.get(i + 1)?,
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' | b'u'
                ) {
                    return None;
                }
                escaped = true;
                i += 2;
            }
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `word` (little-endian) that is a quote, a backslash or below
/// 0x20; a byte after such a byte may be marked too, but the lowest mark is always one of them.
fn special_bytes(word: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    zero(word ^ (ONES * u64::from(b'"')))
        | zero(word ^ (ONES * u64::from(b'\\')))
        | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
}

/// The string value at `i` (its opening quote) and the position after it; escapes are
/// resolved into `scratch`.
fn string<'a>(text: &'a str, i: usize, scratch: &'a mut String) -> Option<(&'a str, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let (end, escaped) = string_end(b, i + 1)?;
    let raw = &text[i + 1..end];
    if !escaped {
        return Some((raw, end + 1));
    }
    scratch.clear();
    unescape(raw, scratch)?;
    Some((scratch.as_str(), end + 1))
}

/// JSON's escapes resolved; `None` for an unknown escape or a lone surrogate.
fn unescape(raw: &str, out: &mut String) -> Option<()> {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let high = hex4(&mut chars)?;
                if (0xD800..0xDC00).contains(&high) {
                    if chars.next()? != '\\' || chars.next()? != 'u' {
                        return None;
                    }
                    let low = hex4(&mut chars)?;
                    if !(0xDC00..0xE000).contains(&low) {
                        return None;
                    }
                    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?
                } else {
                    char::from_u32(high)?
                }
            }
            _ => return None,
        });
    }
    Some(())
}

fn hex4(chars: &mut std::str::Chars<'_>) -> Option<u32> {
    (0..4).try_fold(0u32, |v, _| Some(v * 16 + chars.next()?.to_digit(16)?))
}

/// The end of the JSON number at `i` (strictly JSON's grammar) and whether it is an integer
/// (no fraction, no exponent).
fn number_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i)? {
        b'0' => i += 1,
        b'1'..=b'9' => i = digits(i)?,
        _ => return None,
    }
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        integer = false;
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        integer = false;
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some((i, integer))
}

/// Past the scalar value at `i` of a key no column takes; `None` for an object or array.
fn skip_scalar(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        // An escaped string is the general path's: its escapes are checked there.
        b'"' => match string_end(b, i + 1)? {
            (end, false) => Some(end + 1),
            (_, true) => None,
        },
        b't' if b[i..].starts_with(b"true") => Some(i + 4),
        b'f' if b[i..].starts_with(b"false") => Some(i + 5),
        b'n' if b[i..].starts_with(b"null") => Some(i + 4),
        _ => Some(number_end(b, i)?.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Field, Schema};

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8View, true),
            Field::new("small", DataType::Int16, true),
            Field::new("x", DataType::Float64, true),
            Field::new("ok", DataType::Boolean, true),
        ]))
    }

    fn flat(text: &str) -> Option<RecordBatch> {
        let batches = FlatJson::new(&schema()).unwrap().decode(text.as_bytes())?;
        Some(arrow::compute::concat_batches(&schema(), &batches).unwrap())
    }

    #[test]
    fn flat_records_are_read_into_typed_columns() {
        let b = flat(concat!(
            "{\"t\":\"2026-11-21T10:00:00.5Z\",\"id\":-7,\"name\":\"a\\u00e9\\n\",\"small\":300,\"x\":1.5e1,\"ok\":true}\n",
            "\n",
            " {\"ok\" : false , \"extra\": [1], \"id\":null}\r\n",
        ));
        // An unknown key with an array is the general path's to skip.
        assert!(b.is_none());
        let b = flat(concat!(
            "{\"t\":\"2026-11-21T10:00:00.5Z\",\"id\":-7,\"name\":\"a\\u00e9\\n\",\"small\":300,\"x\":1.5e1,\"ok\":true}\n",
            "\n",
            " {\"ok\" : false , \"extra\": \"x\", \"id\":null}\r\n",
        ))
        .unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.column(0)
                .as_primitive::<TimestampMicrosecondType>()
                .value(0),
            1_795_255_200_500_000
        );
        assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), -7);
        assert!(b.column(1).is_null(1));
        assert_eq!(b.column(2).as_string_view().value(0), "aé\n");
        assert_eq!(b.column(3).as_primitive::<Int16Type>().value(0), 300);
        assert_eq!(b.column(4).as_primitive::<Float64Type>().value(0), 15.0);
        assert!(!b.column(5).as_boolean().value(1));
        assert!(b.column(0).is_null(1));
    }

    #[test]
    fn what_the_flat_path_is_not_sure_about_goes_to_the_general_path() {
        for line in [
            "{\"id\":1.7}",
            "{\"id\":\"12\"}",
            "{\"small\":40000}",
            "{\"id\":99999999999999999999}",
            "{\"id\":01}",
            "{\"x\":1e400}",
            "{\"t\":1700000000}",
            "{\"t\":\"2026-11-21T10:00:00+01:00\"}",
            "{\"id\":1,\"id\":2}",
            "{\"id\":1} {\"id\":2}",
            "{\"id\":\n1}",
            "{\"name\":{\"a\":1}}",
            "{\"name\":\"\\ud800\"}",
            "{\"name\":\"tab\there\"}",
            "[1]",
            "{\"id\":1",
            "{\"ok\":tru}",
            "{\"id\":12abc}",
            "{\"id\":1,\"x\":\"\\q\"}",
            "{\"id\":1,\"x\":\"\\ud800\"}",
            "{\"id\":1,\"x\":\"\\u00zz\"}",
            "{\"id\":1,\"x\":\"\\\n\"}",
        ] {
            assert!(flat(line).is_none(), "{line}");
        }
    }

    #[test]
    fn the_flat_reader_stops_at_the_first_line_it_is_not_sure_of() {
        let f = FlatJson::new(&schema()).unwrap();
        let text = "{\"id\":1}\n\n{\"id\":2}\r\n  {\"id\":1.5}\n{\"id\":4}\n";
        let (batches, taken) = f.decode_prefix(text);
        assert_eq!(&text[taken..], "  {\"id\":1.5}\n{\"id\":4}\n");
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);
        // The values of the record left behind are not kept.
        let (batches, taken) = f.decode_prefix("{\"id\":1,\"x\":2}\n{\"x\":3,\"id\":\"a\"}");
        assert_eq!(taken, 15);
        assert_eq!(batches[0].num_rows(), 1);
        assert_eq!(batches[0].column(4).len(), 1);
        // NULL in a NOT NULL column is the general path's to report.
        let strict = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let f = FlatJson::new(&strict).unwrap();
        assert_eq!(f.decode_prefix("{\"id\":1}\n{\"id\":null}\n").1, 9);
        assert_eq!(f.decode_prefix("{\"id\":1}\n{}\n").1, 9);
    }

    #[test]
    fn lines_after_a_bad_one_are_read_and_numbered_in_the_file() {
        let mut text = String::new();
        for i in 0..300 {
            text += &match i {
                5 => "{\"id\":1.5}\n".to_string(),
                7 => "{\"id\":[1]}\n".to_string(),
                250 => "{\"name\":\"\u{ff}\"}\n".to_string(),
                _ => format!("{{\"id\":{i}}}\n"),
            };
        }
        let mut bytes = text.into_bytes();
        // Line 251 is not UTF-8.
        let at = bytes.windows(2).position(|w| w == [0xc3, 0xbf]).unwrap();
        bytes[at] = 0xff;
        let bad = super::super::BadRecords::new(super::super::BadRecordMode::DeadLetter);
        let batches = super::super::decode::decode_file(
            &super::super::FileFormat::Json,
            &schema(),
            bytes::Bytes::from(bytes),
            "f.json",
            &bad,
        )
        .unwrap();
        let b = arrow::compute::concat_batches(&schema(), &batches).unwrap();
        let ids: Vec<Option<i64>> = b.column(1).as_primitive::<Int64Type>().iter().collect();
        let want: Vec<Option<i64>> = (0..300)
            .filter(|i| ![5, 7, 250].contains(i))
            .map(Some)
            .collect();
        assert_eq!(ids, want);
        let lines: Vec<u64> = bad.take().iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![6, 8, 251]);
    }

    #[test]
    fn a_strings_end_is_found_eight_bytes_at_a_time_as_one_at_a_time() {
        let one_at_a_time = |b: &[u8], mut i: usize| -> Option<(usize, bool)> {
            let mut escaped = false;
            loop {
                match *b.get(i)? {
                    b'"' => return Some((i, escaped)),
                    b'\\' => {
                        if !b"\"\\/bfnrtu".contains(b.get(i + 1)?) {
                            return None;
                        }
                        escaped = true;
                        i += 2;
                    }
                    c if c < 0x20 => return None,
                    _ => i += 1,
                }
            }
        };
        let alphabet: &[&[u8]] = &[
            b"a",
            b"\"",
            b"\\",
            b"n",
            b"\x1f",
            b" ",
            b"\x7f",
            "é".as_bytes(),
            b"!",
            b"#",
        ];
        let mut seed = 7u64;
        for _ in 0..20_000 {
            let mut text = Vec::new();
            let len = (seed >> 33) % 40;
            for _ in 0..len {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let pick = if (seed >> 60) < 12 {
                    0
                } else {
                    (seed >> 40) as usize % alphabet.len()
                };
                text.extend_from_slice(alphabet[pick]);
            }
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            assert_eq!(string_end(&text, 0), one_at_a_time(&text, 0), "{text:?}");
        }
    }

    #[test]
    fn keys_are_told_apart_in_any_order_and_at_the_buffers_end() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("a_name_longer_than_16", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let flat = FlatJson::new(&schema).unwrap();
        let text = "{\"idx\":9,\"id\":1,\"a_name_longer_than_16\":2,\"n\":3}\n\
                    {\"n\":6,\"id\":4,\"a_name_longer_than_16\":5}\n{\"n\":7}";
        let b = flat.decode(text.as_bytes()).unwrap().remove(0);
        let column = |i: usize| -> Vec<Option<i64>> {
            b.column(i).as_primitive::<Int64Type>().iter().collect()
        };
        assert_eq!(column(0), vec![Some(1), Some(4), None]);
        assert_eq!(column(1), vec![Some(2), Some(5), None]);
        assert_eq!(column(2), vec![Some(3), Some(6), Some(7)]);
    }

    #[test]
    fn a_schema_with_other_types_is_not_flat() {
        let s = Arc::new(Schema::new(vec![Field::new("d", DataType::Date32, true)]));
        assert!(FlatJson::new(&s).is_none());
        let s = Arc::new(Schema::new(vec![Field::new(
            "t",
            DataType::Timestamp(TimeUnit::Second, Some("Europe/Paris".into())),
            true,
        )]));
        assert!(FlatJson::new(&s).is_none());
    }

    /// Candidate values of column `col` (6 is an unknown key): the first `valid` of each list
    /// fit their column; the rest must be left to the general path or give its answer.
    fn candidates(col: usize, n: i64, f: f64) -> (Vec<String>, usize) {
        let s = |v: &str| v.to_string();
        match col {
            0 => (
                vec![
                    format!(
                        "\"2026-{:02}-{:02}T10:{:02}:00.{:03}Z\"",
                        n.rem_euclid(12) + 1,
                        n.rem_euclid(28) + 1,
                        n.rem_euclid(60),
                        n.rem_euclid(1000)
                    ),
                    format!(
                        "\"2026-01-{:02} 00:00:0{}\"",
                        n.rem_euclid(28) + 1,
                        n.rem_euclid(10)
                    ),
                    s("null"),
                    s("\"2026-02-30T00:00:00Z\""),
                    s("1700000000"),
                    s("\"2026-11-21T10:00:00+01:00\""),
                    s("\"soon\""),
                ],
                3,
            ),
            1 => (
                vec![
                    n.to_string(),
                    format!("{}", n % 1000),
                    s("null"),
                    s("1.7"),
                    s("\"12\""),
                    s("01"),
                    s("99999999999999999999"),
                    s("true"),
                    s("1e3"),
                    s("-"),
                ],
                3,
            ),
            2 => (
                vec![
                    format!("\"name-{n}\""),
                    s("\"a\\\"b\\\\c\\/\\n\\t\\u00e9\\ud83d\\ude00\""),
                    s("\"\""),
                    s("\"ünï\""),
                    s("null"),
                    s("12"),
                    s("\"\\ud800x\""),
                    s("\"\\ud840\\udc00\""),
                    s("\"\\ud869\\uded6 \\udbff\\udfff\""),
                    s("\"\\q\""),
                    s("{\"a\":1}"),
                ],
                5,
            ),
            3 => (
                vec![
                    format!("{}", n % 32768),
                    s("-32768"),
                    s("null"),
                    s("32768"),
                    s("-32769"),
                    s("2.0"),
                ],
                3,
            ),
            4 => (
                vec![
                    format!("{f}"),
                    format!("{f:e}"),
                    format!("{}.{:03}", n % 100_000, n.rem_euclid(1000)),
                    format!("{}", n % 1000),
                    s("-0"),
                    s("1E-300"),
                    s("null"),
                    s("1e400"),
                    s("\"1.5\""),
                    s("1."),
                    s(".5"),
                    s("NaN"),
                ],
                7,
            ),
            5 => (
                vec![s("true"), s("false"), s("null"), s("\"true\""), s("1")],
                3,
            ),
            _ => (
                vec![
                    s("\"x\""),
                    s("1.5"),
                    s("null"),
                    s("false"),
                    s("[1,2]"),
                    s("{\"a\":[]}"),
                    s("\"a\\nb\""),
                    s("\"\\q\""),
                    s("\"\\ud800\""),
                ],
                4,
            ),
        }
    }

    const KEYS: [&str; 8] = ["t", "id", "name", "small", "x", "ok", "extra", "ID"];

    /// A line of `fields` (key index, value pick, integer, float); `valid` keeps to fitting
    /// values and known keys, once each.
    fn line(fields: &[(usize, usize, i64, f64)], valid: bool) -> String {
        let mut used = [false; 8];
        let mut parts = Vec::new();
        for &(key, pick, n, f) in fields {
            let key = if valid { key % 7 } else { key };
            if valid && std::mem::replace(&mut used[key], true) {
                continue;
            }
            let (values, fitting) = candidates(key.min(6), n, f);
            let value = &values[pick % if valid { fitting } else { values.len() }];
            parts.push(format!("\"{}\":{value}", KEYS[key]));
        }
        format!("{{{}}}", parts.join(if valid { "," } else { " , " }))
    }

    fn general(text: &str) -> (Option<RecordBatch>, usize) {
        let (batch, bad) = answer(text, false);
        (batch, bad.len())
    }

    /// The rows and bad records of JSON lines `text`: through the general path alone, or as
    /// files are read (the flat reader, the general path from where it stops).
    fn answer(text: &str, with_flat: bool) -> (Option<RecordBatch>, Vec<super::super::BadRecord>) {
        let bad = super::super::BadRecords::new(super::super::BadRecordMode::DeadLetter);
        let batches = if with_flat {
            super::super::decode::decode_file(
                &super::super::FileFormat::Json,
                &schema(),
                bytes::Bytes::copy_from_slice(text.as_bytes()),
                "test.json",
                &bad,
            )
        } else {
            super::super::decode::decode_json_general(&schema(), text.as_bytes(), &bad)
        };
        let batch = arrow::compute::concat_batches(&schema(), &batches.unwrap()).unwrap();
        ((batch.num_rows() > 0).then_some(batch), bad.take())
    }

    type Fields = Vec<(usize, usize, i64, f64)>;

    fn fields(keys: usize) -> impl proptest::strategy::Strategy<Value = Fields> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                0..keys,
                0usize..12,
                any::<i64>(),
                any::<f64>().prop_filter("finite", |f| f.is_finite()),
            ),
            0..9,
        )
    }

    proptest::proptest! {
        /// Records of fitting values: the flat path takes them and gives the general path's rows.
        #[test]
        fn fitting_records_give_the_general_paths_rows(
            lines in proptest::collection::vec(fields(7), 1..12),
            crlf in proptest::prelude::any::<bool>(),
        ) {
            let text: String = lines
                .iter()
                .map(|l| line(l, true) + if crlf { "\r\n" } else { "\n" })
                .collect();
            let ours = flat(&text);
            proptest::prop_assert!(ours.is_some(), "{}", text);
            let (theirs, bad) = general(&text);
            proptest::prop_assert_eq!(bad, 0);
            proptest::prop_assert_eq!(ours, theirs, "{}", text);
        }

        /// Any records: the flat path gives the general path's rows, with no bad record, or
        /// none; read as files are (the flat reader up to a line it is not sure of, the
        /// general path from there), they give the general path's rows and bad records.
        #[test]
        fn any_records_give_the_general_paths_answer(
            lines in proptest::collection::vec(fields(8), 1..6),
            joins in proptest::collection::vec(0usize..4, 6),
            valid in proptest::collection::vec(proptest::prelude::any::<bool>(), 6),
        ) {
            let mut text = String::new();
            for (i, l) in lines.iter().enumerate() {
                text += &line(l, valid[i]);
                text += ["\n", "\n\n", " ", "\n  \t"][joins[i]];
            }
            if let Some(ours) = flat(&text) {
                let (theirs, bad) = general(&text);
                proptest::prop_assert_eq!(bad, 0, "{}", text);
                proptest::prop_assert_eq!(Some(ours), theirs, "{}", text);
            }
            proptest::prop_assert_eq!(answer(&text, true), answer(&text, false), "{}", text);
        }
    }
}

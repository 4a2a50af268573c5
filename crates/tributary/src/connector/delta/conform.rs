//! Query output versus a table's schema: which columns fit, and the rows cast to the table's
//! exact types before they are written.
//!
//! ```text
//!   output schema ──schema_mismatch(table)──► None (fits) | Some(what does not, and the fix)
//!   output rows   ──conform(table)─────────► the same rows in the table's types
//! ```
//!
//! Types fit by family (any integer into a wider number, any string kind into a string...) and,
//! for nested types, element by element: `List(Int64, field 'item')` from a query fits the
//! table's `List(Int64, field 'element')`, `List(Utf8View)` fits `List(Utf8)`, structs fit by
//! field name, maps by key and value. Writers such as Delta name the list element differently
//! from DataFusion and read strings back as another string kind, so every write that goes to an
//! existing table (append, MERGE, complete overwrite, CDC) conforms its rows first.

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, GenericListArray, MapArray, OffsetSizeTrait,
    RecordBatch, StructArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use crate::error::{Result, TributaryError};

/// Compare an output schema with a table schema: the columns that do not fit, or `None`.
pub(crate) fn schema_mismatch(output: &Schema, table: &Schema) -> Option<String> {
    let mut problems = Vec::new();
    for f in output.fields() {
        match table.field_with_name(f.name()) {
            Err(_) => problems.push(format!(
                "column '{}' ({}) is not in the table",
                f.name(),
                f.data_type()
            )),
            Ok(t) if !compatible(f.data_type(), t.data_type()) => problems.push(format!(
                "column '{}' is {} in the query but {} in the table",
                f.name(),
                f.data_type(),
                t.data_type()
            )),
            Ok(_) => {}
        }
    }
    for t in table.fields() {
        if output.field_with_name(t.name()).is_err() && !t.is_nullable() {
            problems.push(format!(
                "column '{}' ({}) of the table is required but the query does not produce it",
                t.name(),
                t.data_type()
            ));
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "{}; the table has columns [{}]. Change the query's SELECT list to match, write to a new table, or set merge_schema to add the query's new columns to the table",
            problems.join("; "),
            table
                .fields()
                .iter()
                .map(|f| format!("{} {}", f.name(), f.data_type()))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

fn family(t: &DataType) -> u8 {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 1,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => 2,
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => 2,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => 3,
        DataType::Timestamp(..) => 4,
        DataType::Date32 | DataType::Date64 => 5,
        DataType::Boolean => 6,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => 7,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => 8,
        _ => 0,
    }
}

/// The element field of a list-like type.
fn list_item(t: &DataType) -> Option<&FieldRef> {
    match t {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _) => Some(f),
        _ => None,
    }
}

/// Whether values of the query's type `out` can be written to a column of type `table`.
pub(crate) fn compatible(out: &DataType, table: &DataType) -> bool {
    if out == table || matches!(out, DataType::Null) {
        return true;
    }
    if let (Some(a), Some(b)) = (list_item(out), list_item(table)) {
        return compatible(a.data_type(), b.data_type());
    }
    match (out, table) {
        (DataType::Struct(a), DataType::Struct(b)) => {
            a.iter().all(|f| {
                b.iter()
                    .find(|t| t.name() == f.name())
                    .is_some_and(|t| compatible(f.data_type(), t.data_type()))
            }) && b
                .iter()
                .all(|t| t.is_nullable() || a.iter().any(|f| f.name() == t.name()))
        }
        (DataType::Map(a, _), DataType::Map(b, _)) => compatible(a.data_type(), b.data_type()),
        (DataType::Dictionary(_, v), t) => compatible(v, t),
        _ => {
            let (a, b) = (family(out), family(table));
            (a != 0 && a == b) || (a == 2 && b == 3) || (a == 2 && b == 8)
        }
    }
}

/// A cast that fails on a value that does not fit (a BIGINT beyond INT's range, a DOUBLE
/// beyond FLOAT's) rather than writing NULL or infinity in its place, as Spark's ANSI store
/// assignment fails.
fn strict_cast(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let strict = arrow::compute::CastOptions {
        safe: false,
        ..Default::default()
    };
    let out = arrow::compute::cast_with_options(array, to, &strict).map_err(cast_err)?;
    // A finite float that overflows a narrower float becomes infinite without an error.
    if matches!(to, DataType::Float32 | DataType::Float16) && array.data_type().is_floating() {
        let wide = arrow::compute::cast(array, &DataType::Float64).map_err(cast_err)?;
        let narrow = arrow::compute::cast(&out, &DataType::Float64).map_err(cast_err)?;
        let (wide, narrow) = (
            wide.as_primitive::<arrow::datatypes::Float64Type>(),
            narrow.as_primitive::<arrow::datatypes::Float64Type>(),
        );
        if let Some(v) = wide
            .iter()
            .zip(narrow.iter())
            .find_map(|(w, n)| match (w, n) {
                (Some(w), Some(n)) if w.is_finite() && n.is_infinite() => Some(w),
                _ => None,
            })
        {
            return Err(TributaryError::arrow(
                "casting the output to the table's types",
            )(arrow::error::ArrowError::CastError(format!(
                "{v} does not fit {to}"
            ))));
        }
    }
    Ok(out)
}

fn cast_err(e: arrow::error::ArrowError) -> TributaryError {
    TributaryError::arrow("casting the output to the table's types")(e)
}

/// `array` in exactly the type `to` (which [`compatible`] accepted), nested types included.
pub(crate) fn conform_array(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    if array.data_type() == to {
        return Ok(array.clone());
    }
    if let DataType::Null = array.data_type() {
        return Ok(new_null_array(to, array.len()));
    }
    match (array.data_type(), to) {
        (DataType::List(_), DataType::List(item)) => relabel_list::<i32>(array, item),
        (DataType::LargeList(_), DataType::LargeList(item)) => relabel_list::<i64>(array, item),
        (from, DataType::List(_) | DataType::LargeList(_)) if list_item(from).is_some() => {
            // Another list kind: first to the target's list kind with its own element type,
            // then element by element.
            let same_kind = match to {
                DataType::List(_) => DataType::List(list_item(from).expect("list").clone()),
                _ => DataType::LargeList(list_item(from).expect("list").clone()),
            };
            let step = strict_cast(array, &same_kind)?;
            conform_array(&step, to)
        }
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let s = array.as_struct();
            let mut columns = Vec::with_capacity(fields.len());
            for f in fields.iter() {
                columns.push(match s.column_by_name(f.name()) {
                    Some(c) => conform_array(c, f.data_type())?,
                    None => new_null_array(f.data_type(), s.len()),
                });
            }
            let out = StructArray::try_new(fields.clone(), columns, s.nulls().cloned())
                .map_err(cast_err)?;
            Ok(Arc::new(out))
        }
        (DataType::Map(_, _), DataType::Map(entries, sorted)) => {
            let m = array.as_map();
            if !matches!(entries.data_type(), DataType::Struct(_)) {
                return strict_cast(array, to);
            }
            let entries_in: ArrayRef = Arc::new(m.entries().clone());
            let conformed = conform_array(&entries_in, entries.data_type())?;
            let out = MapArray::try_new(
                entries.clone(),
                m.offsets().clone(),
                conformed.as_struct().clone(),
                m.nulls().cloned(),
                *sorted,
            )
            .map_err(cast_err)?;
            Ok(Arc::new(out))
        }
        _ => strict_cast(array, to),
    }
}

/// A list of the same kind with the element field `item` (its name and type), elements conformed.
fn relabel_list<O: OffsetSizeTrait>(array: &ArrayRef, item: &FieldRef) -> Result<ArrayRef> {
    let list = array.as_list::<O>();
    let values = conform_array(list.values(), item.data_type())?;
    let out = GenericListArray::<O>::try_new(
        item.clone(),
        list.offsets().clone(),
        values,
        list.nulls().cloned(),
    )
    .map_err(cast_err)?;
    Ok(Arc::new(out))
}

/// The rows with every column that the table also has cast to the table's type (columns the
/// table lacks stay as they are: a schema merge adds them).
pub(crate) fn conform(batches: Vec<RecordBatch>, table: &Schema) -> Result<Vec<RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    let schema = conformed_schema(&first.schema(), table);
    if schema.as_ref() == first.schema().as_ref() {
        return Ok(batches);
    }
    batches
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(schema.fields())
                .map(|(c, f)| {
                    conform_array(c, f.data_type()).map_err(|e| {
                        TributaryError::Plan(format!(
                            "column '{}': a value does not fit the table's type {}, and nothing \
                             is written ({e}); widen the table's column, or cast or filter the \
                             value in the query",
                            f.name(),
                            crate::format::sql_type(f.data_type())
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            RecordBatch::try_new(schema.clone(), columns).map_err(cast_err)
        })
        .collect()
}

/// `output` with the table's type for each column the table has.
pub(crate) fn conformed_schema(output: &SchemaRef, table: &Schema) -> SchemaRef {
    let fields: Vec<Field> = output
        .fields()
        .iter()
        .map(|f| match table.field_with_name(f.name()) {
            Ok(t) if compatible(f.data_type(), t.data_type()) => f
                .as_ref()
                .clone()
                .with_data_type(t.data_type().clone())
                .with_nullable(f.is_nullable() || t.is_nullable()),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, output.metadata().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, ListArray, StringViewArray};
    use arrow::buffer::OffsetBuffer;

    fn list_of(field: &str, t: DataType) -> DataType {
        DataType::List(Arc::new(Field::new(field, t, true)))
    }

    #[test]
    fn nested_types_fit_whatever_their_element_names_and_string_kinds() {
        let q = list_of("item", DataType::Int64);
        let t = list_of("element", DataType::Int64);
        assert!(compatible(&q, &t));
        assert!(compatible(
            &list_of("item", DataType::Utf8View),
            &list_of("element", DataType::Utf8)
        ));
        assert!(!compatible(
            &list_of("item", DataType::Utf8),
            &list_of("element", DataType::Int64)
        ));
        let s_q = DataType::Struct(
            vec![
                Field::new("b", DataType::Utf8View, true),
                Field::new("a", q.clone(), true),
            ]
            .into(),
        );
        let s_t = DataType::Struct(
            vec![
                Field::new("a", t.clone(), true),
                Field::new("b", DataType::Utf8, true),
            ]
            .into(),
        );
        assert!(compatible(&s_q, &s_t));
        let missing = DataType::Struct(vec![Field::new("c", DataType::Int64, true)].into());
        assert!(!compatible(&missing, &s_t));
        assert!(schema_mismatch(
            &Schema::new(vec![Field::new("x", q, true)]),
            &Schema::new(vec![Field::new("x", t, true)])
        )
        .is_none());
    }

    #[test]
    fn conform_renames_list_elements_and_casts_view_strings_inside_structs() {
        let values = Arc::new(StringViewArray::from(vec!["a", "b", "c"])) as ArrayRef;
        let list = ListArray::try_new(
            Arc::new(Field::new("item", DataType::Utf8View, true)),
            OffsetBuffer::from_lengths([2, 1]),
            values,
            None,
        )
        .unwrap();
        let ids = Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef;
        let s = StructArray::from(vec![
            (
                Arc::new(Field::new("tags", list.data_type().clone(), true)),
                Arc::new(list) as ArrayRef,
            ),
            (Arc::new(Field::new("id", DataType::Int64, true)), ids),
        ]);
        let out_schema = Arc::new(Schema::new(vec![Field::new(
            "s",
            s.data_type().clone(),
            true,
        )]));
        let table_type = DataType::Struct(
            vec![
                Field::new("id", DataType::Int64, true),
                Field::new("tags", list_of("element", DataType::Utf8), true),
            ]
            .into(),
        );
        let table = Schema::new(vec![Field::new("s", table_type.clone(), true)]);
        let batch = RecordBatch::try_new(out_schema, vec![Arc::new(s)]).unwrap();
        let out = conform(vec![batch], &table).unwrap();
        assert_eq!(out[0].column(0).data_type(), &table_type);
        let tags = out[0]
            .column(0)
            .as_struct()
            .column_by_name("tags")
            .unwrap()
            .clone();
        let first = tags.as_list::<i32>().value(0);
        assert_eq!(first.as_string::<i32>().value(1), "b");
    }
}

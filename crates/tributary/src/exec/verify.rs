//! Compare two results as multisets of rows (batch versus stream).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::error::{Result, TributaryError};

/// The outcome of comparing two results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    /// The same rows, the same number of times each.
    Identical {
        /// Rows compared.
        rows: usize,
    },
    /// Different: the first rows only in one side or the other (at most 10 of each).
    Different {
        /// Rows in the left result but not in the right.
        only_left: Vec<String>,
        /// Rows in the right result but not in the left.
        only_right: Vec<String>,
        /// Row counts.
        counts: (usize, usize),
    },
}

fn rows_of(batches: &[RecordBatch], columns: &[String]) -> Result<Vec<String>> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let mut fmts = Vec::new();
        for c in columns {
            let i = b
                .schema()
                .index_of(c)
                .map_err(TributaryError::arrow("comparing results"))?;
            fmts.push(
                ArrayFormatter::try_new(b.column(i).as_ref(), &opts)
                    .map_err(TributaryError::arrow("comparing results"))?,
            );
        }
        // Floating-point sums depend on the order of addition, which differs between a batch
        // and a stream split in epochs: floats compare to 12 significant digits.
        let floats: Vec<Option<arrow::array::ArrayRef>> = columns
            .iter()
            .map(|c| {
                let a = b.column(b.schema().index_of(c).ok()?);
                matches!(
                    a.data_type(),
                    DataType::Float16 | DataType::Float32 | DataType::Float64
                )
                .then(|| arrow::compute::cast(a, &DataType::Float64).ok())
                .flatten()
            })
            .collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = fmts
                .iter()
                .zip(&floats)
                .map(|(f, float)| match float {
                    Some(a) if a.is_valid(r) => {
                        let v = a.as_primitive::<Float64Type>().value(r);
                        format!("{v:.11e}")
                    }
                    _ => f.value(r).to_string(),
                })
                .collect();
            out.push(cells.join(" | "));
        }
    }
    out.sort();
    Ok(out)
}

/// Compare two results by the columns of the left one (in its order), ignoring row order.
pub fn compare_batches(left: &[RecordBatch], right: &[RecordBatch]) -> Result<Comparison> {
    let columns: Vec<String> = match left.first().or(right.first()) {
        Some(b) => b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        None => return Ok(Comparison::Identical { rows: 0 }),
    };
    let (l, r) = (rows_of(left, &columns)?, rows_of(right, &columns)?);
    if l == r {
        return Ok(Comparison::Identical { rows: l.len() });
    }
    let (mut i, mut j) = (0, 0);
    let (mut only_left, mut only_right) = (Vec::new(), Vec::new());
    while i < l.len() || j < r.len() {
        match (l.get(i), r.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                only_left.push(a.clone());
                i += 1;
            }
            (Some(_), Some(b)) => {
                only_right.push(b.clone());
                j += 1;
            }
            (Some(a), None) => {
                only_left.push(a.clone());
                i += 1;
            }
            (None, Some(b)) => {
                only_right.push(b.clone());
                j += 1;
            }
            (None, None) => break,
        }
    }
    only_left.truncate(10);
    only_right.truncate(10);
    Ok(Comparison::Different {
        only_left,
        only_right,
        counts: (l.len(), r.len()),
    })
}

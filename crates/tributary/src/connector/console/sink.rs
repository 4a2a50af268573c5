//! The console sink: prints each epoch's rows as a table, like Spark's.

use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;

use crate::error::{Result, TributaryError};
use crate::sink::{EpochOutput, Sink};
use tributary_checkpoint::Epoch;

/// Prints the first `num_rows` rows of each epoch, cells cut at 20 characters if `truncate`.
#[derive(Debug, Clone)]
pub struct ConsoleSink {
    /// Rows to print per epoch (option `num_rows`, default 20).
    pub num_rows: usize,
    /// Cut long cells (option `truncate`, default true).
    pub truncate: bool,
}

impl Default for ConsoleSink {
    fn default() -> Self {
        ConsoleSink {
            num_rows: 20,
            truncate: true,
        }
    }
}

impl ConsoleSink {
    /// Render an epoch as text.
    pub fn render(&self, epoch: Epoch, output: &EpochOutput) -> Result<String> {
        let fields = output.schema.fields();
        let mut rows: Vec<Vec<String>> = Vec::new();
        let opts = FormatOptions::default().with_null("null");
        'outer: for batch in &output.batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                .collect::<Result<Vec<_>, _>>()
                .map_err(TributaryError::arrow("console sink"))?;
            for r in 0..batch.num_rows() {
                if rows.len() >= self.num_rows {
                    break 'outer;
                }
                rows.push(
                    formatters
                        .iter()
                        .map(|f| {
                            let s = f.value(r).to_string();
                            if self.truncate && s.chars().count() > 20 {
                                format!("{}...", s.chars().take(17).collect::<String>())
                            } else {
                                s
                            }
                        })
                        .collect(),
                );
            }
        }
        let header: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = format!(
            "+{}+",
            widths
                .iter()
                .map(|w| "-".repeat(w + 2))
                .collect::<Vec<_>>()
                .join("+")
        );
        let fmt_row = |cells: &[String]| {
            format!(
                "|{}|",
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!(" {c:<w$} "))
                    .collect::<Vec<_>>()
                    .join("|")
            )
        };
        let mut out = format!("-------------------------------------------\nBatch: {epoch}\n-------------------------------------------\n");
        out.push_str(&line);
        out.push('\n');
        out.push_str(&fmt_row(&header));
        out.push('\n');
        out.push_str(&line);
        out.push('\n');
        for row in &rows {
            out.push_str(&fmt_row(row));
            out.push('\n');
        }
        out.push_str(&line);
        out.push('\n');
        let total = output.num_rows();
        if total as usize > rows.len() {
            out.push_str(&format!(
                "only showing top {} rows of {total}\n",
                rows.len()
            ));
        }
        Ok(out)
    }
}

#[async_trait]
impl Sink for ConsoleSink {
    fn description(&self) -> String {
        "ConsoleSink".to_string()
    }

    async fn add_batch(&self, epoch: Epoch, output: EpochOutput) -> Result<()> {
        print!("{}", self.render(epoch, &output)?);
        Ok(())
    }

    fn emits_immediately(&self) -> bool {
        true
    }
}

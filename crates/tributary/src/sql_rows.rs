//! Test support: a SQL query's rows as compact text lines (`|1|2.5|`), or its error as the
//! engine reports it (with Spark's condition in front where it has one).

/// The rows of `sql`, run by a fresh session, one line each without spaces; or the error.
pub(crate) async fn sql_rows(sql: &str) -> std::result::Result<Vec<String>, String> {
    let s = crate::Session::new();
    let df = s.sql(sql).await.map_err(|e| e.to_string())?;
    let rows = df
        .collect()
        .await
        .map_err(|e| crate::TributaryError::from(e).to_string())?;
    let text = arrow::util::pretty::pretty_format_batches(&rows)
        .map_err(|e| e.to_string())?
        .to_string();
    Ok(text
        .lines()
        .skip(3)
        .filter(|l| !l.starts_with('+'))
        .map(|l| l.replace(' ', ""))
        .collect())
}

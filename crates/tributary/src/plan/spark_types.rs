//! SQL's `TIMESTAMP` is Spark's and Delta's: microseconds since 1970, years 1 to 9999.
//!
//! DataFusion reads a bare `TIMESTAMP` (in `CREATE EXTERNAL TABLE`, `CAST` and typed literals)
//! as nanoseconds, which hold only the years 1677 to 2262: the `9999-12-31` that closes every
//! open row of a slowly changing dimension would be a bad record in a file, and an overflow when
//! a Delta table's microseconds meet it. Every session plans a bare `TIMESTAMP` (with or without
//! `WITHOUT TIME ZONE`) in microseconds; `TIMESTAMP(9)` still asks for nanoseconds, and
//! `TIMESTAMP WITH TIME ZONE` keeps DataFusion's meaning.
//!
//! `now()` / `current_timestamp()` follow: see `functions/spark_now.rs`.

use arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::planner::TypePlanner;
use datafusion::sql::sqlparser::ast::{DataType as SqlType, TimezoneInfo};

/// The [`TypePlanner`] every Tributary session plans SQL types with.
#[derive(Debug, Default)]
pub struct SparkTypePlanner;

impl TypePlanner for SparkTypePlanner {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        Ok(spark_type(sql_type).map(|t| std::sync::Arc::new(Field::new("", t, true))))
    }
}

/// The type Spark gives `sql_type` where it differs from DataFusion's; `None` elsewhere.
fn spark_type(sql_type: &SqlType) -> Option<DataType> {
    match sql_type {
        SqlType::Timestamp(None, TimezoneInfo::None | TimezoneInfo::WithoutTimeZone) => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_timestamp_is_microseconds_and_an_explicit_precision_is_kept() {
        let micros = Some(DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(
            spark_type(&SqlType::Timestamp(None, TimezoneInfo::None)),
            micros
        );
        assert_eq!(
            spark_type(&SqlType::Timestamp(None, TimezoneInfo::WithoutTimeZone)),
            micros
        );
        assert_eq!(
            spark_type(&SqlType::Timestamp(Some(9), TimezoneInfo::None)),
            None
        );
        assert_eq!(
            spark_type(&SqlType::Timestamp(None, TimezoneInfo::Tz)),
            None
        );
        assert_eq!(spark_type(&SqlType::Date), None);
    }
}

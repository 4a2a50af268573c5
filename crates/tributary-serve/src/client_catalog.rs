//! Answers to the catalog queries that clients send on their own (`psql`'s `\dt` and `\d`,
//! SQLAlchemy's reflection, drivers' version and type probes), built from the served tables.
//! DataFusion cannot plan these PostgreSQL-specific queries, and the clients only need the few
//! columns they read: each answer has the columns of the query's own select list, filled by
//! what each expression asks for. Other queries of `pg_catalog` get no rows.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use regex::Regex;

/// A served table as the catalog shows it.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub(crate) name: String,
    pub(crate) schema: SchemaRef,
}

/// The synthetic oid of the table at `index` (stable while the table list is).
fn oid(index: usize) -> String {
    (16_384 + index).to_string()
}

/// The PostgreSQL type name of an Arrow type, as `format_type` prints it.
pub(crate) fn type_name(dt: &DataType) -> String {
    match dt {
        DataType::Boolean => "boolean".into(),
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint".into(),
        DataType::Int32 | DataType::UInt16 => "integer".into(),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "bigint".into(),
        DataType::Float16 | DataType::Float32 => "real".into(),
        DataType::Float64 => "double precision".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("numeric({p},{s})"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp without time zone".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp with time zone".into(),
        DataType::Dictionary(_, v) => type_name(v),
        _ => "text".into(),
    }
}

/// One item of a select list: its expression and the name of its column.
#[derive(Debug)]
struct Item {
    expr: String,
    name: String,
}

/// The top-level items between the first SELECT and its FROM.
fn select_list(sql: &str) -> Vec<Item> {
    let lower = sql.to_ascii_lowercase();
    let Some(start) = lower.find("select") else {
        return Vec::new();
    };
    let body = &sql[start + 6..];
    let mut items = Vec::new();
    let (mut depth, mut current, mut quote) = (0i32, String::new(), None::<char>);
    let mut rest = body;
    while let Some(c) = rest.chars().next() {
        if quote.is_none() && depth == 0 && rest.len() >= 5 {
            let head = &rest[..5];
            let is_from = head.eq_ignore_ascii_case("from ") || head.eq_ignore_ascii_case("from\n");
            if is_from && current.ends_with(char::is_whitespace) {
                break;
            }
        }
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(std::mem::take(&mut current));
                rest = &rest[1..];
                continue;
            }
            _ => {}
        }
        current.push(c);
        rest = &rest[c.len_utf8()..];
    }
    items.push(current);
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(|expr| {
            static ALIAS: OnceLock<Regex> = OnceLock::new();
            let alias = ALIAS.get_or_init(|| {
                Regex::new(r#"(?is)\bas\s+("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)\s*$"#)
                    .expect("a valid pattern")
            });
            let name = match alias.captures(&expr) {
                Some(c) => c[1].trim_matches('"').to_string(),
                None => expr
                    .rsplit('.')
                    .next()
                    .unwrap_or(&expr)
                    .trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                    .to_string(),
            };
            Item { expr, name }
        })
        .collect()
}

/// What a column of an answer holds.
#[derive(Clone)]
enum Cell {
    Text(Option<String>),
    Bool(bool),
}

/// A batch of `items`' columns with `rows` (each row one cell per item).
fn batch(items: &[Item], rows: Vec<Vec<Cell>>) -> RecordBatch {
    let fields: Vec<Field> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let boolean = rows
                .first()
                .is_some_and(|r| matches!(r.get(i), Some(Cell::Bool(_))));
            let dt = if boolean {
                DataType::Boolean
            } else {
                DataType::Utf8
            };
            Field::new(item.name.clone(), dt, true)
        })
        .collect();
    let columns: Vec<ArrayRef> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| -> ArrayRef {
            if f.data_type() == &DataType::Boolean {
                Arc::new(BooleanArray::from(
                    rows.iter()
                        .map(|r| match &r[i] {
                            Cell::Bool(b) => Some(*b),
                            Cell::Text(_) => None,
                        })
                        .collect::<Vec<_>>(),
                ))
            } else {
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|r| match &r[i] {
                            Cell::Text(t) => t.clone(),
                            Cell::Bool(b) => Some(if *b { "t" } else { "f" }.to_string()),
                        })
                        .collect::<Vec<_>>(),
                ))
            }
        })
        .collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("columns match fields")
}

fn text(s: &str) -> Cell {
    Cell::Text(Some(s.to_string()))
}

const NULL: Cell = Cell::Text(None);

/// psql's `OPERATOR(pg_catalog.~) '^(name)$'` pattern, as a regex over table names.
fn name_pattern(sql: &str) -> Option<Regex> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"relname\s+OPERATOR\(pg_catalog\.~\)\s+'((?:[^']|'')*)'"#)
            .expect("a valid pattern")
    });
    let pattern = re.captures(sql)?[1].replace("''", "'");
    Regex::new(&pattern).ok()
}

/// The oid a query filters on (`c.oid = '16384'`, `attrelid = '16384'`).
fn oid_filter(sql: &str) -> Option<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?:oid|attrelid|polrelid|stxrelid|inhrelid|inhparent)\s*=\s*'?(\d+)'?"#)
            .expect("a valid pattern")
    });
    re.captures(sql).map(|c| c[1].to_string())
}

/// The table names of `relname IN ('a', 'b')` (SQLAlchemy, parameters bound).
fn relname_in(sql: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE
        .get_or_init(|| Regex::new(r#"(?i)relname\s+IN\s*\(([^)]*)\)"#).expect("a valid pattern"));
    re.captures(sql)
        .map(|c| {
            c[1].split(',')
                .map(|s| {
                    s.trim()
                        .split("::")
                        .next()
                        .unwrap_or("")
                        .trim_matches('\'')
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The answer to `sql` if it is a catalog query a client sends by itself.
pub(crate) fn answer(sql: &str, tables: &[TableInfo], user: &str) -> Option<RecordBatch> {
    let lower = sql.to_ascii_lowercase();
    let items = select_list(sql);
    let compact: String = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    let one = |value: String| Some(batch(&items, vec![vec![Cell::Text(Some(value))]]));
    // Functions clients call alone.
    if items.len() == 1 && !compact.contains(" from ") {
        let e = items[0].expr.to_ascii_lowercase();
        if e.contains("version()") {
            return one(format!(
                "PostgreSQL {} (Tributary {})",
                crate::SERVER_VERSION,
                env!("CARGO_PKG_VERSION")
            ));
        }
        if e.contains("current_schema") {
            return one("public".into());
        }
        if e.contains("current_database") {
            return one("tributary".into());
        }
        if e.contains("current_user") || e.contains("session_user") {
            return one(user.into());
        }
        if e.contains("pg_backend_pid") {
            return one(std::process::id().to_string());
        }
    }
    let touches_catalog = compact.contains("pg_catalog.")
        || compact.contains(" pg_type")
        || compact.contains(" pg_class")
        || compact.contains(" pg_namespace")
        || compact.contains("to_regtype(");
    if !touches_catalog {
        return None;
    }
    let indexed: Vec<(String, &TableInfo)> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (oid(i), t))
        .collect();
    let by_oid = |o: &str| indexed.iter().find(|(id, _)| id == o).map(|(_, t)| *t);
    // psql \d NAME, first step: the oid of each table the pattern matches.
    if compact.starts_with("select c.oid,") && compact.contains("c.relname") {
        let pattern = name_pattern(sql);
        let rows = indexed
            .iter()
            .filter(|(_, t)| pattern.as_ref().is_none_or(|p| p.is_match(&t.name)))
            .map(|(id, t)| {
                items
                    .iter()
                    .map(|i| match i.name.as_str() {
                        "oid" => text(id),
                        "nspname" => text("public"),
                        "relname" => text(&t.name),
                        _ => NULL,
                    })
                    .collect()
            })
            .collect();
        return Some(batch(&items, rows));
    }
    // psql \d NAME, second step: the table's flags (no indexes, rules, triggers or checks).
    if compact.contains("c.relchecks") {
        let Some(_) = oid_filter(sql).as_deref().and_then(by_oid) else {
            return Some(batch(&items, vec![]));
        };
        let row = items
            .iter()
            .map(|i| {
                let e = i.expr.to_ascii_lowercase();
                if e.contains("relchecks") || e.contains("reltablespace") {
                    text("0")
                } else if e.contains("relkind") {
                    text("r")
                } else if e.contains("relpersistence") {
                    text("p")
                } else if e.contains("relreplident") {
                    text("d")
                } else if e.contains("amname") {
                    text("heap")
                } else if e.contains(".relhas")
                    || e.contains("rowsecurity")
                    || e.contains("relispartition")
                    || e.contains("relhasoids")
                {
                    text("f")
                } else {
                    text("")
                }
            })
            .collect();
        return Some(batch(&items, vec![row]));
    }
    // psql \d NAME, third step: the columns.
    if compact.contains("from pg_catalog.pg_attribute a") && compact.contains("a.attrelid") {
        let Some(table) = oid_filter(sql).as_deref().and_then(by_oid) else {
            return Some(batch(&items, vec![]));
        };
        let rows = table
            .schema
            .fields()
            .iter()
            .map(|f| {
                items
                    .iter()
                    .map(|i| {
                        let e = i.expr.to_ascii_lowercase();
                        if i.name == "attname" {
                            text(f.name())
                        } else if e.contains("format_type") {
                            text(&type_name(f.data_type()))
                        } else if e.contains("attnotnull") {
                            Cell::Text(Some(if f.is_nullable() { "f" } else { "t" }.into()))
                        } else if e.contains("attidentity") || e.contains("attgenerated") {
                            text("")
                        } else {
                            NULL
                        }
                    })
                    .collect()
            })
            .collect();
        return Some(batch(&items, rows));
    }
    // SQLAlchemy's get_columns: one query over pg_attribute for the named tables.
    if compact.contains("format_type(pg_catalog.pg_attribute.atttypid") {
        let names = relname_in(sql);
        let rows = tables
            .iter()
            .filter(|t| names.is_empty() || names.contains(&t.name))
            .flat_map(|t| {
                t.schema.fields().iter().map(|f| {
                    items
                        .iter()
                        .map(|i| match i.name.as_str() {
                            "name" | "attname" => text(f.name()),
                            "format_type" => text(&type_name(f.data_type())),
                            "not_null" | "attnotnull" => Cell::Bool(!f.is_nullable()),
                            "table_name" | "relname" => text(&t.name),
                            "generated" | "attgenerated" => text(""),
                            _ => NULL,
                        })
                        .collect()
                })
            })
            .collect();
        return Some(batch(&items, rows));
    }
    // Lists of tables: psql \dt and \d, SQLAlchemy's get_table_names and has_table.
    let lists_tables = compact.contains("pg_class")
        && (compact.contains("relkind in (") || compact.contains("relkind = any"))
        && !compact.contains("pg_attribute")
        && !compact.contains("pg_index")
        && !compact.contains("pg_constraint");
    if lists_tables && (compact.contains("'r'") || compact.contains("relkind = any")) {
        let pattern = name_pattern(sql);
        let names = relname_in(sql);
        let rows = indexed
            .iter()
            .filter(|(_, t)| pattern.as_ref().is_none_or(|p| p.is_match(&t.name)))
            .filter(|(_, t)| names.is_empty() || names.contains(&t.name))
            .map(|(id, t)| {
                items
                    .iter()
                    .map(|i| match i.name.to_ascii_lowercase().as_str() {
                        "schema" | "nspname" => text("public"),
                        "name" | "relname" => text(&t.name),
                        "type" => text("table"),
                        "owner" => text(user),
                        "oid" => text(id),
                        "relkind" => text("r"),
                        _ => NULL,
                    })
                    .collect()
            })
            .collect();
        return Some(batch(&items, rows));
    }
    // Anything else of the catalog (type probes, constraints, indexes, comments): no rows.
    Some(batch(&items, vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> Vec<TableInfo> {
        vec![TableInfo {
            name: "counts".into(),
            schema: Arc::new(Schema::new(vec![
                Field::new("k", DataType::Utf8, true),
                Field::new("n", DataType::Int64, false),
            ])),
        }]
    }

    fn cells(b: &RecordBatch) -> Vec<String> {
        crate::pg::encode::text_rows(b)
    }

    #[test]
    fn psql_lists_and_describes_the_tables() {
        let dt = "SELECT n.nspname as \"Schema\",\n  c.relname as \"Name\",\n  CASE c.relkind WHEN 'r' THEN 'table' END as \"Type\",\n  pg_catalog.pg_get_userbyid(c.relowner) as \"Owner\"\nFROM pg_catalog.pg_class c\n LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relkind IN ('r','p','')\n AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 1,2;";
        let b = answer(dt, &tables(), "ann").unwrap();
        assert_eq!(cells(&b), vec!["public|counts|table|ann"]);
        let step1 = "SELECT c.oid,\n  n.nspname,\n  c.relname\nFROM pg_catalog.pg_class c\n     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace\nWHERE c.relname OPERATOR(pg_catalog.~) '^(counts)$' COLLATE pg_catalog.default\n  AND pg_catalog.pg_table_is_visible(c.oid)\nORDER BY 2, 3;";
        assert_eq!(
            cells(&answer(step1, &tables(), "ann").unwrap()),
            vec!["16384|public|counts"]
        );
        let step3 = "SELECT a.attname,\n  pg_catalog.format_type(a.atttypid, a.atttypmod),\n  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)\n   FROM pg_catalog.pg_attrdef d\n   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),\n  a.attnotnull,\n  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t\n   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) AS attcollation,\n  a.attidentity,\n  a.attgenerated\nFROM pg_catalog.pg_attribute a\nWHERE a.attrelid = '16384' AND a.attnum > 0 AND NOT a.attisdropped\nORDER BY a.attnum;";
        assert_eq!(
            cells(&answer(step3, &tables(), "ann").unwrap()),
            vec!["k|text||f|||", "n|bigint||t|||"]
        );
    }

    #[test]
    fn the_clients_own_probes_are_answered() {
        let v = answer("select pg_catalog.version()", &tables(), "ann").unwrap();
        assert!(cells(&v)[0].starts_with("PostgreSQL 16"), "{:?}", cells(&v));
        let hstore = "SELECT typname AS name, oid, typarray AS array_oid, oid::regtype::text AS regtype, typdelim AS delimiter FROM pg_type t WHERE t.oid = to_regtype('hstore') ORDER BY t.oid";
        let b = answer(hstore, &tables(), "ann").unwrap();
        assert_eq!((b.num_rows(), b.num_columns()), (0, 5));
        assert!(answer("SELECT k FROM counts", &tables(), "ann").is_none());
    }
}

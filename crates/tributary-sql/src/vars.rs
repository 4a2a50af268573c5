//! `${NAME}` substitution, aware of where in the SQL each variable stands.
//!
//! ```text
//!   LOCATION '${input}'      inside a '...' literal: the value's ' are doubled (it stays one string)
//!   FROM "${schema}".t       inside a "..." identifier: the value's " are doubled
//!   -- run with ${env}       inside a comment: any value without a line break
//!   FROM events_${env}       bare SQL: a plain name or number only (letters, digits, _ and .)
//! ```
//!
//! `${NAME:-DEFAULT}` takes DEFAULT when no value (or an empty one) is given; DEFAULT cannot hold a
//! `}`. Whatever its context, a `--set` value can never end its literal and add SQL of its own. A leading UTF-8 byte
//! order mark is dropped; an unclosed `${` is an error.

use std::collections::HashMap;

use crate::error::JobError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Context {
    Sql,
    Literal,
    Identifier,
    LineComment,
    BlockComment,
}

/// Replace every `${NAME}` with its value, and `${NAME:-DEFAULT}` with its value or, when none
/// is given, DEFAULT. Every name without a value is reported at once. `$${NAME}` is a literal
/// `${NAME}`.
pub fn substitute(text: &str, vars: &HashMap<String, String>) -> Result<String, JobError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = String::with_capacity(text.len());
    let mut missing: Vec<String> = Vec::new();
    let mut ctx = Context::Sql;
    let mut line = 1;
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("$${") {
            // An escaped variable: `${` then the rest as it is.
            out.push_str("${");
            i += 3;
            continue;
        }
        if let Some(after) = rest.strip_prefix("${") {
            let Some(end) = after.find('}') else {
                return Err(JobError::Invalid(format!(
                    "line {line}: '${{' is not closed: write ${{NAME}}, or $${{ for a literal '${{'"
                )));
            };
            // `${name:-default}`: the default when no value (or an empty one) is given, as in
            // the shell.
            let (name, default) = match after[..end].split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (&after[..end], None),
            };
            if name.is_empty() {
                return Err(JobError::Invalid(format!(
                    "line {line}: '${{{}}}' has no variable name: write ${{NAME}} or ${{NAME:-DEFAULT}}",
                    &after[..end]
                )));
            }
            let given = vars.get(name).map(String::as_str);
            let value = match default {
                Some(d) if given.is_none_or(str::is_empty) => Some(d),
                _ => given,
            };
            match value {
                Some(v) => {
                    let text = quoted(name, v, ctx, line)?;
                    // In a block comment, the value must not close it with the text around it.
                    if ctx == Context::BlockComment
                        && ((out.ends_with('*') && text.starts_with('/'))
                            || (text.ends_with('*') && after[end + 1..].starts_with('/')))
                    {
                        return Err(JobError::Invalid(format!(
                            "line {line}: the value of ${{{name}}} would end the comment it stands in"
                        )));
                    }
                    out.push_str(&text);
                }
                None => {
                    if !missing.iter().any(|m| m == name) {
                        missing.push(name.to_string());
                    }
                }
            }
            i += 3 + end;
            continue;
        }
        let c = rest.chars().next().expect("not at the end");
        ctx = match (ctx, c) {
            (Context::Sql, '\'') => Context::Literal,
            (Context::Sql, '"') => Context::Identifier,
            (Context::Sql, '-') if rest.starts_with("--") => Context::LineComment,
            (Context::Sql, '/') if rest.starts_with("/*") => Context::BlockComment,
            // A doubled quote inside a literal closes and reopens it: the same context after.
            (Context::Literal, '\'') => Context::Sql,
            (Context::Identifier, '"') => Context::Sql,
            (Context::LineComment, '\n') => Context::Sql,
            (Context::BlockComment, '/') if out.ends_with('*') => Context::Sql,
            (ctx, _) => ctx,
        };
        if c == '\n' {
            line += 1;
        }
        out.push(c);
        i += c.len_utf8();
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(JobError::MissingVariables(missing))
    }
}

/// The names of the variables `text` uses (`${NAME}`, `${NAME:-DEFAULT}`; not `$${NAME}`), in
/// the order first used.
pub fn variables(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let escaped = rest[..at].ends_with('$');
        let after = &rest[at + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].split(":-").next().unwrap_or_default();
        if !escaped && !name.is_empty() && !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        rest = &after[end + 1..];
    }
    names
}

/// The value of `${name}` as it may stand in `ctx`.
fn quoted(name: &str, value: &str, ctx: Context, line: usize) -> Result<String, JobError> {
    match ctx {
        Context::Literal => Ok(value.replace('\'', "''")),
        Context::Identifier => Ok(value.replace('"', "\"\"")),
        Context::LineComment | Context::BlockComment => {
            if value.contains(['\n', '\r'])
                || (ctx == Context::BlockComment && value.contains("*/"))
            {
                Err(JobError::Invalid(format!(
                    "line {line}: the value of ${{{name}}} would end the comment it stands in"
                )))
            } else {
                Ok(value.to_string())
            }
        }
        Context::Sql => {
            if !value.is_empty()
                && value
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
            {
                Ok(value.to_string())
            } else {
                Err(JobError::Invalid(format!(
                    "line {line}: ${{{name}}} stands in the SQL itself, where only a plain name or \
                     number may go, but its value is {value:?}: put the variable in quotes in the \
                     job file ('${{{name}}}' for a string) or give a plain value"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_and_names_every_missing_variable() {
        let v = vars(&[("a", "1")]);
        assert_eq!(substitute("x ${a} y $${a}", &v).unwrap(), "x 1 y ${a}");
        let err = substitute("${b} ${a} ${c} ${b}", &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("${b}, ${c}") && err.contains("--set b=VALUE"),
            "{err}"
        );
    }

    #[test]
    fn a_default_stands_in_for_a_missing_value_only() {
        let v = vars(&[("a", "1")]);
        assert_eq!(
            substitute("'${a:-9}' '${b:-1000000}' ${c:-x_1}", &v).unwrap(),
            "'1' '1000000' x_1"
        );
        // An empty default is a value too; the default is checked like a given value; an empty
        // value takes the default, as in the shell.
        assert_eq!(substitute("'${b:-}'", &v).unwrap(), "''");
        assert!(substitute("${b:-1; DROP TABLE t}", &v).is_err());
        assert_eq!(substitute("'${e:-7}'", &vars(&[("e", "")])).unwrap(), "'7'");
        assert!(substitute("${:-x}", &v)
            .unwrap_err()
            .to_string()
            .contains("no variable name"));
    }

    #[test]
    fn a_value_cannot_close_a_block_comment_with_the_text_around_it() {
        let v = vars(&[("x", "/ DROP TABLE t; /*"), ("y", "a *")]);
        assert!(substitute("/* *${x} */ SELECT 1", &v).is_err());
        assert!(substitute("/* ${y}/ SELECT 1 */", &v).is_err());
        assert_eq!(substitute("/* ${y} */", &v).unwrap(), "/* a * */");
    }

    #[test]
    fn a_value_stays_inside_its_literal_or_identifier() {
        let v = vars(&[("p", "x'; DROP TABLE t; --"), ("s", "a\"b")]);
        assert_eq!(
            substitute("LOCATION '${p}' -- the seeds' job\nFROM \"${s}\"", &v).unwrap(),
            "LOCATION 'x''; DROP TABLE t; --' -- the seeds' job\nFROM \"a\"\"b\""
        );
        // After a comment with an apostrophe, a literal is still a literal.
        assert_eq!(
            substitute("-- it's\nSELECT '${p}'", &v).unwrap(),
            "-- it's\nSELECT 'x''; DROP TABLE t; --'"
        );
        // Doubled quotes inside a literal keep it open.
        assert_eq!(
            substitute("SELECT 'it''s ${p}'", &v).unwrap(),
            "SELECT 'it''s x''; DROP TABLE t; --'"
        );
    }

    #[test]
    fn bare_variables_take_plain_names_only() {
        let ok = vars(&[("env", "prod_1")]);
        assert_eq!(
            substitute("FROM events_${env}", &ok).unwrap(),
            "FROM events_prod_1"
        );
        let bad = vars(&[("env", "x; DROP TABLE t")]);
        let err = substitute("FROM events_${env}", &bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("put the variable in quotes"), "{err}");
        let comment = vars(&[("c", "a\nDROP TABLE t")]);
        assert!(substitute("-- ${c}\nSELECT 1", &comment).is_err());
        assert_eq!(
            substitute("/* ${env} */ SELECT 1", &ok).unwrap(),
            "/* prod_1 */ SELECT 1"
        );
    }

    #[test]
    fn an_unclosed_variable_and_a_byte_order_mark() {
        let v = vars(&[("output", "o")]);
        let err = substitute("LOCATION '${output'", &v)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 1") && err.contains("not closed"),
            "{err}"
        );
        assert_eq!(
            substitute("\u{feff}SELECT '${output}'", &v).unwrap(),
            "SELECT 'o'"
        );
    }
}

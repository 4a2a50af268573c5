//! The statements a client sends, split and sorted before any planning: transaction and
//! session commands are answered here, parameters are bound as literals, queries go on.

/// What one statement asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Statement {
    /// `BEGIN`, `START TRANSACTION`.
    Begin,
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO`).
    Rollback,
    /// A session command answered with its tag alone (`SET`, `SAVEPOINT`, `DEALLOCATE`, ...).
    Command(String),
    /// `SHOW name`.
    Show(String),
    /// A query.
    Query(String),
}

/// The statements of `sql`, split at top-level semicolons (not inside quotes or comments);
/// empty ones dropped.
pub(crate) fn split(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                current.push(c);
                for d in chars.by_ref() {
                    current.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            ';' => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// What `stmt` (one statement) asks for.
pub(crate) fn classify(stmt: &str) -> Statement {
    let words: Vec<String> = stmt
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    let first = words.first().map(String::as_str).unwrap_or("");
    let second = words.get(1).map(String::as_str).unwrap_or("");
    match first {
        "BEGIN" | "START" => Statement::Begin,
        "COMMIT" | "END" => Statement::Commit,
        "ROLLBACK" | "ABORT" if second == "TO" => Statement::Command("ROLLBACK".into()),
        "ROLLBACK" | "ABORT" => Statement::Rollback,
        "SET" | "RESET" | "SAVEPOINT" | "RELEASE" | "DEALLOCATE" | "DISCARD" | "LISTEN"
        | "UNLISTEN" => Statement::Command(first.to_string()),
        "CLOSE" => Statement::Command("CLOSE CURSOR".into()),
        "SHOW" => Statement::Show(
            stmt.split_whitespace()
                .skip(1)
                .collect::<Vec<_>>()
                .join(" ")
                .trim_end_matches(';')
                .to_ascii_lowercase(),
        ),
        _ => Statement::Query(stmt.to_string()),
    }
}

/// The value of a `SHOW` setting, if the endpoint has it.
pub(crate) fn setting(name: &str) -> Option<&'static str> {
    Some(match name {
        "transaction isolation level" | "transaction_isolation" => "read committed",
        "standard_conforming_strings" => "on",
        "server_version" => crate::SERVER_VERSION,
        "server_encoding" | "client_encoding" => "UTF8",
        "datestyle" => "ISO, YMD",
        "timezone" => "Etc/UTC",
        "search_path" => "public",
        "default_transaction_read_only" | "transaction_read_only" => "on",
        "integer_datetimes" => "on",
        "max_identifier_length" => "63",
        _ => return None,
    })
}

/// `sql` with `$1`, `$2`, ... replaced by the literals of `params` (already quoted; `NULL`).
pub(crate) fn bind(sql: &str, params: &[String]) -> String {
    if params.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let bytes = sql.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|d| d.is_ascii_digit())
                    .count();
                if digits > 0 {
                    let n: usize = sql[i + 1..i + 1 + digits].parse().unwrap_or(0);
                    if let Some(p) = n.checked_sub(1).and_then(|k| params.get(k)) {
                        out.push_str(p);
                        i += 1 + digits;
                        continue;
                    }
                }
            }
            None => {}
        }
        // Copy one whole UTF-8 character.
        let len = utf8_len(b);
        out.push_str(&sql[i..i + len]);
        i += len;
    }
    out
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// A string as an SQL literal.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How many `$n` parameters `sql` has (the highest n).
pub(crate) fn parameter_count(sql: &str) -> usize {
    let mut max = 0;
    let bytes = sql.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'$' {
            let digits: String = sql[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                max = max.max(n);
            }
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        assert_eq!(
            split("SELECT 'a;b'; -- c;d\n SELECT \"x;\" ;;"),
            vec!["SELECT 'a;b'", "SELECT \"x;\""]
        );
    }

    #[test]
    fn session_commands_are_answered_without_planning() {
        assert_eq!(
            classify("begin isolation level read committed"),
            Statement::Begin
        );
        assert_eq!(
            classify("ROLLBACK TO \"_pg3_1\""),
            Statement::Command("ROLLBACK".into())
        );
        assert_eq!(classify("rollback"), Statement::Rollback);
        assert_eq!(
            classify("SET datestyle TO ISO"),
            Statement::Command("SET".into())
        );
        assert_eq!(
            classify("show transaction isolation level"),
            Statement::Show("transaction isolation level".into())
        );
        assert_eq!(setting("standard_conforming_strings"), Some("on"));
        assert!(matches!(classify("SELECT 1"), Statement::Query(_)));
    }

    #[test]
    fn parameters_are_bound_as_literals_outside_quotes() {
        let params = vec![quote("o'neil"), "42".to_string()];
        assert_eq!(
            bind("SELECT '$1', $1 || 'é', $2, $3", &params),
            "SELECT '$1', 'o''neil' || 'é', 42, $3"
        );
        assert_eq!(parameter_count("SELECT $1, $12"), 12);
    }
}

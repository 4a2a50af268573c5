//! Where a PostgreSQL connector connects, and how it names tables: shared by the table
//! source (`table.rs`) and the sink (`sink.rs`).

use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

use crate::error::{Result, TributaryError};

/// The connection settings, and where they point in words (never with the password).
pub(crate) struct Server {
    pub(crate) config: Config,
    /// E.g. `127.0.0.1:5432 (database 'shop', user 'app')`.
    pub(crate) name: String,
}

impl Server {
    pub(crate) fn parse(url: &str) -> Result<Self> {
        let usage = "write 'postgresql://user@host:5432/db' or 'host=.. port=.. user=.. dbname=..'";
        if url.trim().is_empty() {
            return Err(TributaryError::Plan(format!(
                "a PostgreSQL table needs the connection string as its path: {usage}"
            )));
        }
        let config: Config = url.parse().map_err(|e| {
            TributaryError::Plan(format!(
                "the PostgreSQL connection string is not valid ({e}): {usage}"
            ))
        })?;
        let ports = config.get_ports();
        let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(h) => format!("{h}:{}", port(i)),
                #[cfg(unix)]
                Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(i)),
            })
            .collect();
        let mut name = if hosts.is_empty() {
            "(no host given)".to_string()
        } else {
            hosts.join(",")
        };
        let login: Vec<String> = [
            config.get_dbname().map(|d| format!("database '{d}'")),
            config.get_user().map(|u| format!("user '{u}'")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !login.is_empty() {
            name.push_str(&format!(" ({})", login.join(", ")));
        }
        Ok(Server { config, name })
    }

    /// A new connection; its I/O runs on a task of its own until the client is dropped.
    pub(crate) async fn connect(&self) -> Result<Client> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            TributaryError::Plan(format!(
                "cannot connect to PostgreSQL at {}: {}; is the server running, and does it \
                 accept this user and database?",
                self.name,
                pg_message(&e)
            ))
        })?;
        let name = self.name.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("the PostgreSQL connection to {name} failed: {e}");
            }
        });
        Ok(client)
    }

    /// An error of a query on `table`.
    pub(crate) fn error(&self, table: &str, e: &tokio_postgres::Error) -> TributaryError {
        TributaryError::Plan(format!(
            "cannot read PostgreSQL table '{table}' at {}: {}; check that the table and its \
             columns exist and that the user may read them",
            self.name,
            pg_message(e)
        ))
    }
}

/// The server's own words for a database error (with its detail and hint), else the driver's.
pub(crate) fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.to_string().replace('\n', " "),
        None => e.to_string(),
    }
}

/// A table name as SQL reads it: its parts, and the quoted, qualified form.
pub(crate) struct TableName {
    /// `[name]` or `[schema, name]`, unquoted parts lower-cased.
    pub(crate) parts: Vec<String>,
    /// E.g. `"public"."cities"`.
    pub(crate) quoted: String,
}

impl TableName {
    /// `name` or `schema.name`; an error that shows the form otherwise.
    pub(crate) fn parse(table: &str) -> Result<Self> {
        let parts = split_name(table).ok_or_else(|| {
            TributaryError::Plan(format!(
                "'{table}' is not a PostgreSQL table name: write name or schema.name \
                 (double-quote parts with dots or upper case)"
            ))
        })?;
        let quoted = parts
            .iter()
            .map(|p| quote_ident(p))
            .collect::<Vec<_>>()
            .join(".");
        Ok(TableName { parts, quoted })
    }

    /// The schema (`None`: the current one) and the name.
    pub(crate) fn schema_and_name(&self) -> (Option<&str>, &str) {
        match self.parts.as_slice() {
            [name] => (None, name.as_str()),
            [schema, name] => (Some(schema.as_str()), name.as_str()),
            _ => unreachable!("split_name gives one or two parts"),
        }
    }
}

/// `"name"`, with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The parts of `name` or `schema.name` as SQL reads them: unquoted parts lower-cased,
/// `"quoted"` parts kept as written (`""` is a quote). `None` if it is not one or two parts.
fn split_name(table: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quoted = false;
    let mut chars = table.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                part.push('"');
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut part)),
            c if quoted => part.push(c),
            c => part.push(c.to_ascii_lowercase()),
        }
    }
    parts.push(part);
    let ok = !quoted && parts.len() <= 2 && parts.iter().all(|p| !p.is_empty());
    ok.then_some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_read_as_sql() {
        assert_eq!(split_name("Cities"), Some(vec!["cities".to_string()]));
        assert_eq!(
            split_name("Geo.\"Big \"\"Cities\"\".v2\""),
            Some(vec!["geo".to_string(), "Big \"Cities\".v2".to_string()])
        );
        assert_eq!(split_name("a.b.c"), None);
        assert_eq!(split_name("a."), None);
        assert_eq!(split_name("\"open"), None);
    }

    #[test]
    fn messages_never_show_the_password() {
        let s = Server::parse("postgresql://app:secret@db.example:6543/shop").unwrap();
        assert_eq!(s.name, "db.example:6543 (database 'shop', user 'app')");
        let s = Server::parse("host=10.0.0.1 user=app password=secret").unwrap();
        assert_eq!(s.name, "10.0.0.1:5432 (user 'app')");
    }
}

//! A throwaway PostgreSQL server for a test: `scripts/postgres.sh` installs Debian's
//! postgresql when missing and starts a cluster on a free port of 127.0.0.1; dropping the
//! guard stops it, pass or fail.

use std::process::Command;
use std::sync::OnceLock;

fn script(args: &[&str]) -> Result<(), String> {
    let path = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../scripts/postgres.sh");
    let out = Command::new("bash")
        .arg(path)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/postgres.sh {} failed: {} (the test needs Debian's postgresql package)",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A running PostgreSQL server, stopped when dropped.
pub(crate) struct PgServer {
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

impl PgServer {
    /// Install (once per test binary) and start a server; panics with what is missing.
    pub(crate) fn start() -> Self {
        static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(e) = INSTALLED.get_or_init(|| script(&["install"])) {
            panic!("cannot install PostgreSQL for the test: {e}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PgServer {
            dir: tempfile::tempdir().unwrap(),
            port,
        };
        if let Err(e) = script(&["start", &pg.data_dir(), &port.to_string()]) {
            panic!("cannot start PostgreSQL for the test: {e}");
        }
        pg
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("pg").display().to_string()
    }

    /// The connection URL of the `postgres` database as the `postgres` user.
    pub(crate) fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Run `sql` with psql; panics with psql's error.
    pub(crate) fn psql(&self, sql: &str) {
        self.rows(sql);
    }

    /// The rows `sql` returns, each as `a|b|c` (NULL as empty), in the query's order.
    pub(crate) fn rows(&self, sql: &str) -> Vec<String> {
        let port = self.port.to_string();
        let out = Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .output()
            .expect("psql comes with the postgresql package");
        assert!(
            out.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Err(e) = script(&["stop", &self.data_dir()]) {
            eprintln!("{e}");
        }
    }
}

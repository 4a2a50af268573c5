//! Real object-storage servers for tests, started on 127.0.0.1 by `scripts/storage_servers.sh`
//! (moto for S3, Azurite for Azure, fake-gcs-server for GCS) and stopped when dropped.
//!
//! Each server sits behind a small TCP proxy owned by the test, so a test can take the store
//! away (every connection refused or cut) and give it back with its data intact.
//!
//! Shared by the engine's and the CLI's tests (`#[path]`-included).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    S3,
    Azure,
    /// Reads only: fake-gcs-server takes uploads through its JSON API alone.
    Gcs,
}

impl Kind {
    /// The servers that take object_store's writes.
    pub(crate) const ALL: [Kind; 2] = [Kind::S3, Kind::Azure];

    fn arg(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Azure => "azure",
            Kind::Gcs => "gcs",
        }
    }
}

/// Azurite's well-known development account (public, documented by Microsoft).
const AZURE_ACCOUNT: &str = "devstoreaccount1";
const AZURE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A service-account key that turns OAuth off (what object_store reads for emulators).
const GCS_KEY: &str =
    r#"{"disable_oauth": true, "client_email": "", "private_key": "", "private_key_id": ""}"#;

fn script() -> PathBuf {
    std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../../scripts/storage_servers.sh")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn install() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let done = INSTALLED.get_or_init(|| {
        let out = Command::new("bash")
            .arg(script())
            .arg("install")
            .output()
            .map_err(|e| format!("cannot run bash: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    if let Err(e) = done {
        panic!("cannot install the storage servers (scripts/storage_servers.sh install): {e}");
    }
}

/// A running server with one bucket, `lake`.
pub(crate) struct StorageServer {
    pub(crate) kind: Kind,
    server: Child,
    server_port: u16,
    proxy: Proxy,
    _data: tempfile::TempDir,
}

impl Drop for StorageServer {
    fn drop(&mut self) {
        self.proxy.stop();
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

impl StorageServer {
    /// Start a server of `kind` with the bucket `lake`; panics naming what is missing.
    pub(crate) fn start(kind: Kind) -> StorageServer {
        install();
        let data = tempfile::tempdir().unwrap();
        // The proxy's port is taken first: a port picked for the server and released could
        // otherwise be the one the proxy then binds, and the proxy would connect to itself
        // (an endless loop of connections until the process runs out of files).
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let server_port = free_port();
        let proxy = Proxy::start(listener, server_port);
        let server = Command::new("bash")
            .arg(script())
            .args(["run", kind.arg(), &server_port.to_string()])
            .arg(data.path())
            // fake-gcs-server answers its XML API for requests addressed to this host only.
            .arg(format!("127.0.0.1:{}", proxy.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start the storage server");
        let mut s = StorageServer {
            kind,
            server,
            server_port,
            proxy,
            _data: data,
        };
        // The server is up when its bucket can be made.
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(Some(status)) = s.server.try_wait() {
                panic!("the {:?} storage server exited at start: {status}", kind);
            }
            let port = match kind {
                Kind::Gcs => s.proxy.port,
                _ => server_port,
            };
            let out = Command::new("bash")
                .arg(script())
                .args(["bucket", kind.arg(), &port.to_string(), "lake"])
                .output()
                .unwrap();
            if out.status.success() {
                break;
            }
            if Instant::now() > deadline {
                panic!(
                    "the {:?} storage server did not come up within 90 s: {}",
                    kind,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.proxy.port)).is_err() {
            assert!(Instant::now() < deadline, "the proxy did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The URL of `path` in the bucket, in the store's own scheme.
    pub(crate) fn url(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        match self.kind {
            Kind::S3 => format!("s3://lake/{path}"),
            Kind::Azure => format!("az://lake/{path}"),
            Kind::Gcs => format!("gs://lake/{path}"),
        }
    }

    /// The endpoint the engine talks to (through the proxy).
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy.port)
    }

    /// Storage options (object_store's names) that point a location at this server.
    pub(crate) fn options(&self) -> Vec<(String, String)> {
        let e = self.endpoint();
        let v: Vec<(&str, String)> = match self.kind {
            Kind::S3 => vec![
                ("aws_endpoint_url", e),
                ("aws_allow_http", "true".into()),
                ("aws_access_key_id", "test".into()),
                ("aws_secret_access_key", "test".into()),
                ("aws_region", "us-east-1".into()),
            ],
            Kind::Azure => vec![
                ("azure_storage_endpoint", format!("{e}/{AZURE_ACCOUNT}")),
                ("azure_allow_http", "true".into()),
                ("azure_storage_account_name", AZURE_ACCOUNT.into()),
                ("azure_storage_account_key", AZURE_KEY.into()),
            ],
            Kind::Gcs => vec![
                ("google_base_url", e),
                ("google_service_account_key", GCS_KEY.into()),
            ],
        };
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The same settings as environment variables, the way users set them for a CLI run.
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let e = self.endpoint();
        let v: Vec<(&str, String)> = match self.kind {
            Kind::S3 => vec![
                ("AWS_ENDPOINT_URL", e),
                ("AWS_ALLOW_HTTP", "true".into()),
                ("AWS_ACCESS_KEY_ID", "test".into()),
                ("AWS_SECRET_ACCESS_KEY", "test".into()),
                ("AWS_REGION", "us-east-1".into()),
            ],
            Kind::Azure => vec![
                ("AZURE_STORAGE_USE_EMULATOR", "true".into()),
                ("AZURITE_BLOB_STORAGE_URL", e),
                ("AZURE_STORAGE_ACCOUNT_NAME", AZURE_ACCOUNT.into()),
                ("AZURE_STORAGE_ACCOUNT_KEY", AZURE_KEY.into()),
            ],
            Kind::Gcs => vec![
                ("GOOGLE_BASE_URL", e),
                ("GOOGLE_SERVICE_ACCOUNT_KEY", GCS_KEY.into()),
            ],
        };
        v.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// Take the store away: connections are refused and open ones cut, until [`Self::restore`].
    pub(crate) fn outage(&self) {
        self.proxy.set_down(true);
    }

    /// Give the store back, with everything it held.
    pub(crate) fn restore(&self) {
        self.proxy.set_down(false);
    }

    /// Upload every file under `dir` to `prefix/` in the bucket through the server's JSON API
    /// (GCS: what another tool put in the bucket).
    pub(crate) fn upload_tree(&self, dir: &Path, prefix: &str) {
        assert_eq!(self.kind, Kind::Gcs, "upload_tree is for the GCS server");
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut files = Vec::new();
        walk(dir, &mut files);
        for f in files {
            let rel = f.strip_prefix(dir).unwrap().to_str().unwrap().to_string();
            let out = Command::new("bash")
                .arg(script())
                .args(["upload", "gcs", &self.proxy.port.to_string(), "lake"])
                .arg(format!("{}/{rel}", prefix.trim_matches('/')))
                .arg(&f)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "upload {rel}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// The port of the server itself (behind the proxy).
    pub(crate) fn server_port(&self) -> u16 {
        self.server_port
    }
}

/// A TCP proxy to the server; while down it cuts every connection it gets or holds.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(listener: TcpListener, upstream: u16) -> Proxy {
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let live: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (d, s, l) = (down.clone(), stop.clone(), live.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => continue,
                };
                if d.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                {
                    let mut held = l.lock().unwrap();
                    held.retain(|c: &TcpStream| c.peer_addr().is_ok());
                    held.push(client.try_clone().unwrap());
                    held.push(server.try_clone().unwrap());
                }
                pump(client.try_clone().unwrap(), server.try_clone().unwrap());
                pump(server, client);
            }
        });
        Proxy {
            port,
            down,
            stop,
            live,
        }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        if down {
            for c in self.live.lock().unwrap().drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.set_down(true);
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

//! The UI server's connection limits: idle connections cannot take the process's file
//! descriptors (which the queries need for their checkpoints), are closed after the header
//! timeout, and a client that does not read its answers loses its connection. Alone in its test
//! binary, one test at a time, so that the descriptors counted are the test's own.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tributary_ui::Limits;

mod common;
use common::{open_fds, start_query_with, start_ui};

/// The tests of this binary count descriptors: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Descriptors the process may open besides the clients' and the server's connections (the
/// query's files, the HTTP client's connection, the runtime).
const MARGIN: usize = 16;

/// The most descriptors open at once while it runs, sampled every few milliseconds.
struct FdPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FdPeak {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicUsize::new(open_fds()));
        let thread = std::thread::spawn({
            let (stop, peak) = (stop.clone(), peak.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(open_fds(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        FdPeak {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    fn so_far(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_beyond_the_cap_hold_no_descriptor_and_time_out() {
    let _serial = SERIAL.lock().await;
    assert_eq!(Limits::default().max_connections, 64);
    assert_eq!(
        Limits::default().header_read_timeout,
        Duration::from_secs(10)
    );
    let limits = Limits {
        header_read_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let cap = limits.max_connections;
    let tmp = tempfile::tempdir().unwrap();
    let (_session, ui, q) = start_query_with(tmp.path(), Some("s3cret"), limits).await;
    let before = open_fds();
    let peak = FdPeak::start();
    // More idle connections than the cap: they connect (the kernel's backlog takes them) and
    // send nothing.
    let mut idle = Vec::new();
    for _ in 0..cap + 50 {
        idle.push(TcpStream::connect(ui.addr).await.unwrap());
    }
    // A normal request still gets its answer, once idle connections time out.
    let started = Instant::now();
    let answer = reqwest::Client::new()
        .get(format!("http://{}/api/queries", ui.addr))
        .header("Authorization", "Bearer s3cret")
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let list: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(list["queries"][0]["name"], "visitors");
    eprintln!("answered after {:?}", started.elapsed());
    // The server never held more descriptors than the cap: the growth is the clients' own
    // sockets, at most `cap` accepted ones, and a small margin.
    let clients = idle.len();
    let check = |peak: usize| {
        let grown = peak.saturating_sub(before);
        assert!(
            grown >= clients,
            "the clients' sockets are not counted: {grown}"
        );
        assert!(
            grown <= clients + cap + MARGIN,
            "{grown} descriptors opened for {clients} idle clients (cap {cap})"
        );
    };
    check(peak.so_far());
    // Every idle connection is closed by the server (EOF or reset) after the header timeout,
    // and those that waited in the backlog are then accepted, within the cap.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    for (i, s) in idle.iter_mut().enumerate() {
        let mut buf = Vec::new();
        let read = tokio::time::timeout_at(deadline, s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "idle connection {i} is still open");
    }
    check(peak.finish());
    drop(idle);
    q.stop().await.unwrap();
    ui.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_answers_loses_its_connection() {
    let _serial = SERIAL.lock().await;
    let limits = Limits {
        request_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (_session, ui) = start_ui("127.0.0.1:0", Some("s3cret"), limits).await;
    let mut stream = TcpStream::connect(ui.addr).await.unwrap();
    // Pipelined requests for the largest asset, never reading the answers: the server's writes
    // block once the socket buffers are full, and its request never ends.
    let batch =
        "GET /assets/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer s3cret\r\n\r\n"
            .repeat(100);
    let writing = async {
        loop {
            stream.write_all(batch.as_bytes()).await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    // The server closes the connection (with unread requests: a reset), so a write fails.
    let result = tokio::time::timeout(Duration::from_secs(60), writing).await;
    assert!(
        matches!(result, Ok(Err(_))),
        "the connection is still open: {result:?}"
    );
    ui.shutdown();
}

//! The UI in a real browser: Debian's Chromium, headless, driven through chromedriver's WebDriver
//! protocol. It opens the page of a running query, waits until every chart has drawn data, checks
//! the plan, and saves a screenshot under the target directory.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

mod common;
use common::start_query;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn need(binary: &str) -> String {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let p = format!("{dir}/{binary}");
        if std::path::Path::new(&p).exists() {
            return p;
        }
    }
    panic!(
        "{binary} is missing: the browser test needs Debian's chromium and chromium-driver \
         (scripts/install.sh installs them: apt-get install chromium chromium-driver)"
    );
}

#[tokio::test]
async fn the_query_page_renders_its_charts_with_data_in_chromium() {
    let chromium = need("chromium");
    let chromedriver = need("chromedriver");
    let tmp = tempfile::tempdir().unwrap();
    let (_session, ui, q) = start_query(tmp.path(), Some("t0ken")).await;
    let port = free_port();
    let _driver = Driver(
        Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let wd = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{wd}/status")).send().await.is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = tmp.path().join("chromium-profile");
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1400,1900",
                     format!("--user-data-dir={}", profile.display())]
        }
    }}});
    let session: Value = http
        .post(format!("{wd}/session"))
        .json(&caps)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = session["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("chromium did not start: {session}"))
        .to_string();
    let url = format!("http://{}/query/{}?token=t0ken", ui.addr, q.id());
    http.post(format!("{wd}/session/{sid}/url"))
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    let script = |s: &str| {
        let http = http.clone();
        let (wd, sid, s) = (wd.clone(), sid.clone(), s.to_string());
        async move {
            let v: Value = http
                .post(format!("{wd}/session/{sid}/execute/sync"))
                .json(&json!({ "script": s, "args": [] }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v["value"].clone()
        }
    };
    // Wait until every chart drew its points (the page polls the JSON every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let points = loop {
        let points = script(
            "return Array.from(document.querySelectorAll('canvas')).map(c => Number(c.dataset.points || 0))",
        )
        .await;
        let drawn = points
            .as_array()
            .map(|a| !a.is_empty() && a.iter().all(|p| p.as_u64().unwrap_or(0) >= 3))
            .unwrap_or(false);
        if drawn {
            break points;
        }
        assert!(
            Instant::now() < deadline,
            "the charts never drew data: {points}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(points.as_array().unwrap().len(), 9, "nine charts");
    let title = script("return document.getElementById('title').textContent").await;
    assert_eq!(title, "visitors");
    let plan = script("return document.getElementById('plan').textContent").await;
    assert!(
        plan.as_str().unwrap().contains("[stateful] Aggregate"),
        "{plan}"
    );
    // The charts really have ink: some pixels of the input-rows chart are not white.
    let ink = script(
        "const c = document.getElementById('c1'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i+3] > 0 && (d[i] < 200 || d[i+2] < 200)) n++; } return n;",
    )
    .await;
    assert!(ink.as_u64().unwrap() > 100, "the chart is blank: {ink}");
    // The screenshot, under the target directory.
    let shot: Value = http
        .get(format!("{wd}/session/{sid}/screenshot"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["value"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-query-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    let _ = http.delete(format!("{wd}/session/{sid}")).send().await;
    q.stop().await.unwrap();
    ui.shutdown();
}

//! The UI in a real browser: Debian's Chromium, headless, driven through chromedriver's WebDriver
//! protocol. It opens the page of a running query, waits until every chart has drawn data, checks
//! the plan, and saves a screenshot under the target directory; and it opens pages showing a
//! query whose name and id are markup, which must show as text.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

mod common;
use common::{forge_query, start_query, start_ui};
use tributary_ui::Limits;

/// One Chromium at a time (the machine may have two cores).
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Driver(Child);

/// A headless Chromium session through chromedriver.
struct Browser {
    http: reqwest::Client,
    wd: String,
    sid: String,
    _driver: Driver,
}

impl Browser {
    async fn start(profile: &std::path::Path) -> Self {
        let chromium = need("chromium");
        let chromedriver = need("chromedriver");
        let port = free_port();
        let driver = Driver(
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
        Browser {
            http,
            wd,
            sid,
            _driver: driver,
        }
    }

    async fn open(&self, url: &str) {
        self.http
            .post(format!("{}/session/{}/url", self.wd, self.sid))
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
    }

    /// Run `script` in the page; its value.
    async fn script(&self, script: &str) -> Value {
        let v: Value = self
            .http
            .post(format!("{}/session/{}/execute/sync", self.wd, self.sid))
            .json(&json!({ "script": script, "args": [] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["value"].clone()
    }

    /// Poll `script` until `done` holds for its value, for at most 30 s; the last value.
    async fn wait_for(&self, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.script(script).await;
            if done(&v) {
                return v;
            }
            assert!(Instant::now() < deadline, "`{script}` stayed {v}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self) -> Vec<u8> {
        let shot: Value = self
            .http
            .get(format!("{}/session/{}/screenshot", self.wd, self.sid))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        base64::engine::general_purpose::STANDARD
            .decode(shot["value"].as_str().unwrap())
            .unwrap()
    }

    async fn close(self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.wd, self.sid))
            .send()
            .await;
    }
}

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
    let _one = ONE_BROWSER.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let (_session, ui, q) = start_query(tmp.path(), Some("t0ken")).await;
    let browser = Browser::start(&tmp.path().join("chromium-profile")).await;
    browser
        .open(&format!("http://{}/query/{}?token=t0ken", ui.addr, q.id()))
        .await;
    // Wait until every chart drew its points (the page polls the JSON every second).
    let points = browser
        .wait_for(
            "return Array.from(document.querySelectorAll('canvas')).map(c => Number(c.dataset.points || 0))",
            |points| {
                points
                    .as_array()
                    .map(|a| !a.is_empty() && a.iter().all(|p| p.as_u64().unwrap_or(0) >= 3))
                    .unwrap_or(false)
            },
        )
        .await;
    assert_eq!(points.as_array().unwrap().len(), 10, "ten charts");
    let title = browser
        .script("return document.getElementById('title').textContent")
        .await;
    assert_eq!(title, "visitors");
    let plan = browser
        .script("return document.getElementById('plan').textContent")
        .await;
    assert!(
        plan.as_str().unwrap().contains("[stateful] Aggregate"),
        "{plan}"
    );
    // The charts really have ink: some pixels of the input-rows chart are not white.
    let ink = browser
        .script(
            "const c = document.getElementById('c1'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             let n = 0; for (let i = 0; i < d.length; i += 4) { if (d[i+3] > 0 && (d[i] < 200 || d[i+2] < 200)) n++; } return n;",
        )
        .await;
    assert!(ink.as_u64().unwrap() > 100, "the chart is blank: {ink}");
    // The link back to the list keeps the token.
    let back = browser
        .script("return document.getElementById('back').getAttribute('href')")
        .await;
    assert_eq!(back, "/?token=t0ken");
    // The screenshot, under the target directory.
    let png = browser.screenshot().await;
    assert_eq!(&png[1..4], b"PNG");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-query-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    browser.close().await;
    q.stop().await.unwrap();
    ui.shutdown();
}

/// A query whose name and id (read from a checkpoint, so chosen by whoever can write it) are
/// markup: the pages show them as text and no element of theirs appears.
#[tokio::test]
async fn query_names_and_ids_show_as_text_in_chromium() {
    const NAME: &str = "<script>alert(1)</script>";
    const ID: &str = r#"q"><img id="pwned" src="data:,">"#;
    let _one = ONE_BROWSER.lock().await;
    let tmp = tempfile::tempdir().unwrap();
    let (_session, ui) = start_ui("127.0.0.1:0", Some("t0ken"), Limits::default()).await;
    forge_query(&ui, ID, NAME);
    let browser = Browser::start(&tmp.path().join("chromium-profile")).await;
    // The list: the row is drawn from the JSON, with the name as the link's text.
    browser
        .open(&format!("http://{}/?token=t0ken", ui.addr))
        .await;
    let link = browser
        .wait_for(
            "const a = document.querySelector('#queries a'); \
             return a ? [a.textContent, a.getAttribute('href'), document.querySelectorAll('#pwned, #queries script').length] : null",
            |v| !v.is_null(),
        )
        .await;
    let href = format!(
        "/query/{}?token=t0ken",
        "q%22%3E%3Cimg%20id%3D%22pwned%22%20src%3D%22data%3A%2C%22%3E"
    );
    assert_eq!(link, json!([NAME, href, 0]));
    let ids = browser
        .script(
            "return Array.from(document.querySelectorAll('#queries code')).map(c => c.textContent)",
        )
        .await;
    assert_eq!(ids[0], ID);
    // Its page, through the link.
    browser.open(&format!("http://{}{href}", ui.addr)).await;
    let shown = browser
        .wait_for(
            "return document.body.dataset.epochs === undefined ? null : \
             [document.getElementById('title').textContent, document.title, document.body.dataset.id, \
              document.querySelectorAll('#pwned').length, document.querySelectorAll('script').length]",
            |v| !v.is_null(),
        )
        .await;
    assert_eq!(
        shown,
        json!([NAME, format!("Tributary — {NAME}"), ID, 0, 1])
    );
    browser.close().await;
    ui.shutdown();
}

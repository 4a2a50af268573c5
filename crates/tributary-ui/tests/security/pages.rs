//! What the pages contain: query names and ids from the checkpoint escaped, links that keep the
//! token, and the security headers on every response.

use tributary_ui::Limits;

use crate::common::{forge_query, start_ui};

const XSS_NAME: &str = "<script>alert(1)</script>";
const XSS_ID: &str = r#"q"><img id="pwned" src="data:,">"#;

/// The id in a URL path.
fn path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn query_names_and_ids_are_escaped_in_the_page() {
    let (_session, ui) = start_ui("127.0.0.1:0", None, Limits::default()).await;
    forge_query(&ui, XSS_ID, XSS_NAME);
    let page = reqwest::get(format!("http://{}/query/{}", ui.addr, path_segment(XSS_ID)))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<h1 id=\"title\">&lt;script&gt;alert(1)&lt;/script&gt;</h1>"),
        "{page}"
    );
    assert!(
        page.contains("<title>Tributary — &lt;script&gt;alert(1)&lt;/script&gt;</title>"),
        "{page}"
    );
    assert!(
        page.contains(
            r#"data-id="q&quot;&gt;&lt;img id=&quot;pwned&quot; src=&quot;data:,&quot;&gt;""#
        ),
        "{page}"
    );
    assert!(!page.contains(XSS_NAME) && !page.contains("<img"), "{page}");
    // The only script is the page's own file.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains(r#"<script src="/assets/app.js"></script>"#));
    // An unknown id, from the URL, is escaped too.
    let page = reqwest::get(format!("http://{}/query/%3Cb%3Ex", ui.addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<h1 id=\"title\">&lt;b&gt;x</h1>"), "{page}");
    ui.shutdown();
}

#[tokio::test]
async fn links_keep_the_token_the_page_was_opened_with() {
    let token = r#"t0k&n "<x>"#;
    let (_session, ui) = start_ui("127.0.0.1:0", Some(token), Limits::default()).await;
    forge_query(&ui, "q1", "visitors");
    let http = reqwest::Client::new();
    let page = |path: &str, by_query: bool| {
        let r = http.get(format!("http://{}{path}", ui.addr));
        let r = if by_query {
            r.query(&[("token", token)])
        } else {
            r.bearer_auth(token)
        };
        async { r.send().await.unwrap().text().await.unwrap() }
    };
    let q = "?token=t0k%26n%20%22%3Cx%3E";
    for path in ["/", "/query/q1"] {
        // Opened with ?token=: the assets and links carry it.
        let html = page(path, true).await;
        assert!(
            html.contains(&format!(
                r#"<link rel="stylesheet" href="/assets/style.css{q}">"#
            )),
            "{path}: {html}"
        );
        assert!(
            html.contains(&format!(r#"<script src="/assets/app.js{q}"></script>"#)),
            "{path}: {html}"
        );
        // Opened with the header: no token in the page.
        let html = page(path, false).await;
        assert!(!html.contains("token"), "{path}: {html}");
        assert!(
            html.contains(r#"<script src="/assets/app.js"></script>"#),
            "{path}: {html}"
        );
    }
    let html = page("/query/q1", true).await;
    assert!(
        html.contains(&format!(r#"<a id="back" href="/{q}">all queries</a>"#)),
        "{html}"
    );
    let html = page("/query/q1", false).await;
    assert!(
        html.contains(r#"<a id="back" href="/">all queries</a>"#),
        "{html}"
    );
    // The links work: the assets answer with the token they carry.
    for asset in ["/assets/app.js", "/assets/style.css"] {
        let r = http
            .get(format!("http://{}{asset}{q}", ui.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    ui.shutdown();
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (_session, ui) = start_ui("127.0.0.1:0", Some("s3cret"), Limits::default()).await;
    forge_query(&ui, "q1", "visitors");
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", ui.addr);
    let mut answers = Vec::new();
    for path in [
        "/",
        "/query/q1",
        "/assets/app.js",
        "/assets/style.css",
        "/api/queries",
        "/api/queries/q1",
        "/api/queries/nope",
        "/metrics",
        "/no/such/page",
    ] {
        answers.push((path, http.get(url(path)).bearer_auth("s3cret").send().await));
        answers.push((path, http.get(url(path)).send().await));
    }
    answers.push((
        "wrong host",
        http.get(url("/"))
            .header("Host", "evil.example")
            .send()
            .await,
    ));
    let mut statuses = std::collections::BTreeSet::new();
    for (path, r) in answers {
        let r = r.unwrap();
        statuses.insert(r.status().as_u16());
        let h = r.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path} ({}): no {name}", r.status()))
        };
        let csp = get("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("referrer-policy"), "no-referrer", "{path}");
    }
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        [200, 401, 403, 404],
        "the answers checked"
    );
    ui.shutdown();
}

#[tokio::test]
async fn the_pages_have_no_inline_script() {
    let (_session, ui) = start_ui("127.0.0.1:0", None, Limits::default()).await;
    forge_query(&ui, "q1", "visitors");
    for path in ["/", "/query/q1"] {
        let page = reqwest::get(format!("http://{}{path}", ui.addr))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let scripts: Vec<&str> = page
            .match_indices("<script")
            .map(|(i, _)| &page[i..])
            .collect();
        assert_eq!(scripts.len(), 1, "{path}: {page}");
        assert!(
            scripts[0].starts_with(r#"<script src="/assets/app.js"#),
            "{path}: {page}"
        );
        assert!(
            !page.contains(" style=") && !page.contains("<style"),
            "{path}"
        );
    }
    ui.shutdown();
}

//! Who gets an answer: the token on every route (any case of `Bearer`), the Host header of a
//! loopback server, and a server on another address without a token.

use tributary_ui::Limits;

use crate::common::start_ui;

const ROUTES: [&str; 7] = [
    "/",
    "/query/q1",
    "/assets/app.js",
    "/assets/style.css",
    "/api/queries",
    "/metrics",
    "/no/such/page",
];

#[tokio::test]
async fn every_route_needs_the_token_in_any_case_of_bearer() {
    let (_session, ui) = start_ui("127.0.0.1:0", Some("s3cret"), Limits::default()).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", ui.addr);
    for path in ROUTES {
        let r = http.get(url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} answers without the token");
        let r = http
            .get(url(path))
            .header("Authorization", "Bearer wrong")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} answers with a wrong token");
    }
    for auth in [
        "Bearer s3cret",
        "bearer s3cret",
        "BEARER s3cret",
        "bEaReR  s3cret",
    ] {
        let r = http
            .get(url("/assets/app.js"))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "`{auth}` refused");
    }
    for auth in ["Basic s3cret", "Bearer s3cre", "Bearer s3cret2", "s3cret"] {
        let r = http
            .get(url("/api/queries"))
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "`{auth}` accepted");
    }
    let r = http.get(url("/?token=s3cret")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(url("/?token=s3cre")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    ui.shutdown();
}

#[tokio::test]
async fn a_loopback_server_answers_only_loopback_hosts() {
    let (_session, ui) = start_ui("127.0.0.1:0", None, Limits::default()).await;
    let port = ui.addr.port();
    let http = reqwest::Client::new();
    let get = |host: String| {
        http.get(format!("http://{}/api/queries", ui.addr))
            .header("Host", host)
            .send()
    };
    for host in [
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
    ] {
        let r = get(host.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "Host: {host}");
    }
    // A page of another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its name.
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1.evil.example:{port}"),
    ] {
        let r = get(host.clone()).await.unwrap();
        assert_eq!(r.status(), 403, "Host: {host}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains("DNS rebinding") && body.contains("localhost"),
            "Host: {host}: {body}"
        );
    }
    ui.shutdown();
}

#[tokio::test]
async fn a_server_on_another_address_answers_any_host_but_only_with_a_token() {
    // Without a token: nothing is answered, whatever the host.
    let (_session, open) = start_ui("0.0.0.0:0", None, Limits::default()).await;
    let http = reqwest::Client::new();
    let local = format!("http://127.0.0.1:{}", open.addr.port());
    for host in ["localhost", "ui.example"] {
        let r = http
            .get(format!("{local}/api/queries"))
            .header("Host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "Host: {host}");
        let body = r.text().await.unwrap();
        assert!(body.contains("token"), "{body}");
    }
    open.shutdown();
    // With a token: any host, with the token only.
    let (_session, ui) = start_ui("0.0.0.0:0", Some("s3cret"), Limits::default()).await;
    let url = format!("http://127.0.0.1:{}/api/queries", ui.addr.port());
    let r = http
        .get(&url)
        .header("Host", "ui.example")
        .header("Authorization", "Bearer s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(&url)
        .header("Host", "ui.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    ui.shutdown();
}

//! The OmniMart retail example: `cargo run -p tributary-cli --example retail -- --help`.
//! See examples/retail/README.md.

mod pipeline;

use std::path::PathBuf;

use tributary::Trigger;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

#[tokio::main]
async fn main() -> tributary::Result<()> {
    if std::env::args().any(|a| a == "--help") {
        println!(
            "retail --postgres URL --history DIR --movements DIR --lake DIR [--checkpoints DIR] \
             [--threshold N] [--trigger available-now|1s|...] [--serve ADDR]"
        );
        return Ok(());
    }
    let trigger: Trigger = arg("--trigger", "available-now").parse()?;
    let config = pipeline::Config {
        postgres: arg(
            "--postgres",
            "postgresql://postgres@127.0.0.1:5432/postgres",
        ),
        history: PathBuf::from(arg("--history", "examples/retail/data/history")),
        movements: PathBuf::from(arg("--movements", "examples/retail/data/movements")),
        lake: PathBuf::from(arg("--lake", "/tmp/omnimart")),
        checkpoints: PathBuf::from(arg("--checkpoints", "/tmp/omnimart/_checkpoints")),
        threshold: arg("--threshold", "20").parse().unwrap_or(20),
        trigger,
        live_state: std::env::args().any(|a| a == "--serve"),
    };
    let queries = pipeline::run(&config).await?;
    // `--serve ADDR`: psql reads the lake and the live inventory while the queries run.
    let _endpoint = match std::env::args().any(|a| a == "--serve") {
        true => {
            let addr = arg("--serve", "127.0.0.1:5434");
            let password =
                std::env::var("TRIBUTARY_SERVE_PASSWORD").unwrap_or_else(|_| "omnimart".into());
            let endpoint = pipeline::serve(
                &config,
                &queries,
                &addr,
                tributary_serve::Credentials {
                    user: "tributary".into(),
                    password,
                },
            )
            .await?;
            println!(
                "serving on postgresql://tributary@{}/tributary (password: $TRIBUTARY_SERVE_PASSWORD, default omnimart)",
                endpoint.addr()
            );
            Some(endpoint)
        }
        false => None,
    };
    for q in &queries {
        q.await_termination().await?;
    }
    println!("lake written to {}", config.lake.display());
    Ok(())
}

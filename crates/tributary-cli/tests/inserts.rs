//! `INSERT INTO` a table whose column types differ from the SELECT's, through the `tributary`
//! binary: what Spark's store assignment refuses at start, and a value too wide for a narrower
//! column, which stops the query naming the column and the value.

use std::process::Command;

fn tributary(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn text_into_a_number_column_is_refused_at_start_naming_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(input.join("a.json"), "{\"id\":1,\"code\":\"7\"}\n").unwrap();
    let job = dir.path().join("job.sql");
    let write_job = |select: &str| {
        std::fs::write(
            &job,
            format!(
                "CREATE UNBOUNDED EXTERNAL TABLE events (id BIGINT, code VARCHAR) STORED AS JSON \
                 LOCATION '{}';\n\
                 CREATE EXTERNAL TABLE out (id BIGINT, n BIGINT, label VARCHAR) STORED AS JSON \
                 LOCATION '{}';\n\
                 INSERT INTO out {select};\n",
                input.display(),
                dir.path().join("out").display(),
            ),
        )
        .unwrap()
    };
    write_job("SELECT id, code, id AS label FROM events");
    for command in ["run", "batch"] {
        let ckpt = dir.path().join(format!("ckpt-{command}"));
        let mut args = vec![command, job.to_str().unwrap()];
        if command == "run" {
            args.extend(["--checkpoint", ckpt.to_str().unwrap()]);
        }
        let (code, _, stderr) = tributary(&args);
        assert_ne!(code, 0, "{command}");
        assert!(
            stderr.contains("column 'n' is BIGINT in the table but the SELECT gives VARCHAR")
                && stderr.contains("CAST(code AS BIGINT)"),
            "{command}: {stderr}"
        );
    }
    // Cast in the SELECT (and a number into text, which Spark assigns too), it runs.
    write_job("SELECT id, CAST(code AS BIGINT) AS n, id AS label FROM events");
    let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let out = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<String>();
    assert!(
        out.contains("\"n\":7") && out.contains("\"label\":\"1\""),
        "{out}"
    );
}

#[test]
fn a_value_too_wide_for_a_narrower_column_stops_naming_the_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join("a.json"),
        "{\"id\":1,\"big\":7}\n{\"id\":2,\"big\":3000000000}\n",
    )
    .unwrap();
    let job = dir.path().join("job.sql");
    let write_job = |sink: &str| {
        std::fs::write(
            &job,
            format!(
                "CREATE EXTERNAL TABLE src (id BIGINT, big BIGINT) STORED AS JSON LOCATION '{}';\n\
                 CREATE EXTERNAL TABLE out (id BIGINT, n INT) STORED AS {sink} LOCATION '{}';\n\
                 INSERT INTO out SELECT id, big FROM src;\n",
                input.display(),
                dir.path().join(format!("out-{sink}")).display(),
            ),
        )
        .unwrap()
    };
    for sink in ["JSON", "DELTA"] {
        write_job(sink);
        let (code, _, stderr) = tributary(&["batch", job.to_str().unwrap()]);
        assert_ne!(code, 0, "{sink}");
        assert!(
            stderr.contains("column 'n': the value 3000000000 does not fit the table's type INT"),
            "{sink}: {stderr}"
        );
    }
}

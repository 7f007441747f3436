//! compose/docker-compose.yml: valid for `docker-compose config`, built only from the
//! images scripts/images makes, host networking everywhere; and the stack comes up and
//! takes a backup of its sample PostgreSQL through cairn.

use cairn_testcontainers::free_port;
use cairn_tests::util::{poll, run, Output};
use cairn_tests::{cairn_bin, status_of, summary, WAIT_LIMIT};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn compose_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../compose/docker-compose.yml")
}

/// `docker-compose -f compose/docker-compose.yml -p PROJECT <args>` with `env`.
fn compose(project: &str, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut cmd = Command::new("docker-compose");
    cmd.arg("-f")
        .arg(compose_file())
        .args(["-p", project])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(cmd, None, Duration::from_secs(180))
}

#[test]
fn the_compose_file_is_valid_and_uses_local_images_on_the_host_network() {
    let out = compose("cairn-compose-check", &[], &["config"]);
    out.expect_code(0, "docker-compose config");
    let services = compose("cairn-compose-check", &[], &["config", "--services"]);
    let services: Vec<&str> = services.stdout.lines().collect();
    assert_eq!(
        services.len(),
        9,
        "nats, the scheduler (cairn), two dump workers, a restore worker, the sweeper and \
         three sample servers: {services:?}"
    );
    let images: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .collect();
    let host = out
        .stdout
        .lines()
        .filter(|l| l.trim() == "network_mode: host")
        .count();
    assert_eq!(images.len(), services.len(), "{}", out.stdout);
    assert_eq!(
        host,
        services.len(),
        "every service on the host network:\n{}",
        out.stdout
    );
    for image in images {
        assert!(
            image.starts_with("cairn-local/"),
            "{image} is not built by scripts/images"
        );
        let mut inspect = Command::new("docker");
        inspect.args(["image", "inspect", image]);
        run(inspect, None, Duration::from_secs(30)).expect_code(
            0,
            &format!("{image} should exist (scripts/images --cairn-bin …)"),
        );
    }
}

/// Stops and removes the stack (and its volume) when the test ends.
struct Stack {
    project: String,
    env: Vec<(&'static str, String)>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = compose(&self.project, &self.env, &["down", "-v", "--timeout", "5"]);
        if out.code != 0 {
            eprintln!("docker-compose down failed:\n{}", out.all_text());
        }
    }
}

#[test]
fn the_stack_comes_up_and_backs_up_its_sample_database() {
    let (cairn_port, pg_port) = (free_port(), free_port());
    let stack = Stack {
        project: format!("cairn-compose-{}", std::process::id()),
        env: vec![
            ("CAIRN_PORT", cairn_port.to_string()),
            ("SAMPLE_PG_PORT", pg_port.to_string()),
            ("SAMPLE_MYSQL_PORT", free_port().to_string()),
            ("SAMPLE_REDIS_PORT", free_port().to_string()),
            ("NATS_PORT", free_port().to_string()),
        ],
    };
    compose(&stack.project, &stack.env, &["up", "-d"]).expect_code(0, "docker-compose up -d");
    let server = format!("http://127.0.0.1:{cairn_port}");
    let cli = |args: &[&str], token: &Option<String>| -> Output {
        let mut cmd = Command::new(cairn_bin());
        cmd.arg("--server")
            .arg(&server)
            .args(args)
            .env_remove("RUST_LOG");
        if let Some(t) = token {
            cmd.env("CAIRN_TOKEN", t);
        }
        run(cmd, None, WAIT_LIMIT)
    };
    poll(
        "cairn in the stack to answer /v1/health",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || health_ok(cairn_port).then_some(()),
    );
    // The token file exists once cairn is up (when this cairn has API tokens).
    let token_out = compose(
        &stack.project,
        &stack.env,
        &[
            "exec",
            "-T",
            "cairn",
            "cat",
            "/var/lib/cairn/data/admin.token",
        ],
    );
    let token = (token_out.code == 0).then(|| token_out.stdout.trim().to_string());
    let url = format!("postgres://postgres@127.0.0.1:{pg_port}/postgres");
    // PostgreSQL may still be creating its cluster: the first backups may fail; retry.
    cli(
        &[
            "target",
            "add",
            "shop",
            "--url",
            &url,
            "--password-env",
            "SAMPLE_PG_PASSWORD",
        ],
        &token,
    )
    .expect_code(0, "target add shop");
    let summary = poll(
        "a backup through the stack",
        Duration::from_secs(120),
        Duration::from_secs(1),
        || {
            let out = cli(&["backup", "shop", "--wait", "--json"], &token);
            (out.code == 0).then(|| summary(&out))
        },
    );
    assert_eq!(status_of(&summary), "succeeded", "{summary}");
}

/// One HTTP/1.0 `GET /v1/health`; true on a 200 answer.
fn health_ok(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /v1/health HTTP/1.0\r\nHost: cairn\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

//! `motcua serve` in a process of its own, as a deployment runs it: the test binary's sibling,
//! configured only through its environment, on a test's database and Redis prefix.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::{Child, Command};

use crate::helpers::{
    TestApp, eid_issuer, object_store, postgres_server_url, redis_cluster_setting, redis_url,
};

pub struct Process {
    pub child: Child,
    pub address: String,
    log: PathBuf,
}

impl Process {
    /// Starts a server on `app`'s database and Redis prefix (which `app` created and migrated)
    /// and waits until it is ready. `name` tells its log apart; `env` adds to or overrides the
    /// configuration (`MOTCUA_PUBLIC_URL` defaults to the process's own address).
    pub async fn serve(app: &TestApp, name: &str, env: &[(&str, String)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let log = std::env::temp_dir().join(format!("{}.{name}.log", app.db_name));
        let mut command = Command::new(env!("CARGO_BIN_EXE_motcua"));
        command
            .arg("serve")
            .env_clear()
            .env(
                "DATABASE_URL",
                format!("{}/{}", postgres_server_url(), app.db_name),
            )
            .env("REDIS_URL", redis_url())
            .env("MOTCUA_REDIS_CLUSTER", redis_cluster_setting())
            .env("MOTCUA_REDIS_PREFIX", &app.redis_prefix)
            .env("MOTCUA_LISTEN", format!("127.0.0.1:{port}"))
            .env("MOTCUA_PUBLIC_URL", &address)
            .env("MOTCUA_EID_ISSUER", eid_issuer())
            .env("MOTCUA_OBJECT_STORE", object_store(&app.db_name))
            .env("RUST_LOG", "warn,motcua::startup=info");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("motcua serve starts");
        let mut process = Process {
            child,
            address,
            log,
        };
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        loop {
            let response = client.get(process.url("/readyz")).send().await;
            if response.is_ok_and(|r| r.status() == StatusCode::OK) {
                return process;
            }
            let exited = process.child.try_wait().ok().flatten();
            assert!(
                exited.is_none() && started.elapsed() < Duration::from_secs(60),
                "{name} never got ready ({exited:?}): {}",
                process.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// The end of the server's log, for a failure's message.
    pub fn log_text(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = log.len().saturating_sub(4000);
        let start = (start..log.len())
            .find(|i| log.is_char_boundary(*i))
            .unwrap_or(0);
        log[start..].to_string()
    }

    pub fn sigterm(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

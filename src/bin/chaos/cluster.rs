//! The suite's own Postgres cluster, NATS server and engine processes, in a directory of its
//! own and on ports of their own, so that it can kill and restart them without touching any
//! server someone else uses.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::process::{Child, Command};

/// A free TCP port on loopback (free now; the caller binds it soon after).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Sends `signal` to `pid` (`kill -<signal> <pid>`).
pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A Postgres 15 cluster made with `initdb` in the suite's directory, run with `pg_ctl`.
pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    log: PathBuf,
    socket_dir: PathBuf,
    bin: PathBuf,
    /// Postgres refuses to run as root: then every command runs as the `postgres` user.
    as_postgres: bool,
}

impl Postgres {
    /// `initdb` (trust authentication, user `postgres`), then start.
    pub async fn create(dir: &Path, bin: &Path) -> anyhow::Result<Self> {
        let as_postgres = running_as_root();
        let pg = Self {
            port: free_port()?,
            data: dir.join("pg"),
            log: dir.join("postgres.log"),
            socket_dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            as_postgres,
        };
        if as_postgres {
            let status = std::process::Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .context("chown the suite's directory to postgres")?;
            if !status.success() {
                bail!("chown {} to postgres failed", dir.display());
            }
        }
        pg.run(
            &bin.join("initdb"),
            &[
                "-D",
                &pg.data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        )
        .await
        .context("initdb")?;
        pg.start().await?;
        Ok(pg)
    }

    async fn run(&self, program: &Path, args: &[&str]) -> anyhow::Result<()> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("run {}", program.display()))?;
        if !output.status.success() {
            bail!(
                "{} {:?} failed: {}",
                program.display(),
                args,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    }

    fn pg_ctl(&self) -> PathBuf {
        self.bin.join("pg_ctl")
    }

    /// The admin connection URL (database `postgres`, no TLS on loopback).
    pub fn admin_url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }

    /// Starts the cluster and waits until it accepts connections.
    pub async fn start(&self) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on",
            self.port,
            self.socket_dir.display()
        );
        self.run(
            &self.pg_ctl(),
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-l",
                &self.log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        )
        .await
        .context("pg_ctl start")
    }

    /// Stops the cluster: `fast` (sessions are ended, a checkpoint is written) or `immediate`
    /// (every process quits at once; the next start recovers from the WAL, as after a crash).
    pub async fn stop(&self, mode: &str) -> anyhow::Result<()> {
        self.run(
            &self.pg_ctl(),
            &[
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                mode,
                "-w",
                "-t",
                "60",
                "stop",
            ],
        )
        .await
        .with_context(|| format!("pg_ctl stop -m {mode}"))
    }
}

/// Where Postgres 15's programs are (`PG_BIN`, else the Debian layout, else `PATH`).
pub fn pg_bin() -> String {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return bin;
    }
    let debian = "/usr/lib/postgresql/15/bin";
    if Path::new(debian).join("pg_ctl").exists() {
        return debian.into();
    }
    // `PATH`: an empty directory makes `join` give the bare program name.
    String::new()
}

/// A nats-server with JetStream, its store in the suite's directory.
pub struct Nats {
    pub port: u16,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Nats {
    pub async fn start_new(dir: &Path) -> anyhow::Result<Self> {
        let mut nats = Self {
            port: free_port()?,
            store: dir.join("nats"),
            log: dir.join("nats.log"),
            child: None,
        };
        nats.start().await?;
        Ok(nats)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("open the NATS log")?;
        let child = Command::new(std::env::var("NATS_SERVER").unwrap_or("nats-server".into()))
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("start nats-server")?;
        self.child = Some(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("nats-server did not listen within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// Stops the server (SIGTERM: JetStream writes its store out) and waits for it.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal(pid, "TERM");
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

/// One `ticketd serve` process.
pub struct Engine {
    pub name: String,
    pub base: String,
    child: Option<Child>,
    program: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
}

/// The HS256 secret every engine of the suite verifies tokens with.
pub const SECRET: &str = "ticketd-chaos-secret-0123456789-0123456789";

impl Engine {
    /// An engine on a port of its own (not started).
    pub fn new(
        name: &str,
        program: &Path,
        dir: &Path,
        database_url: &str,
        nats_url: &str,
        stream: &str,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let env = [
            ("DATABASE_URL", database_url.to_string()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
            ("JWT_SECRET", SECRET.to_string()),
            ("NATS_URL", nats_url.to_string()),
            ("NATS_STREAM", stream.to_string()),
            ("NATS_SUBJECT_PREFIX", stream.to_lowercase()),
            ("TICKETD_RATE_LIMIT_PER_SECOND", "1000000".to_string()),
            ("TICKETD_RATE_LIMIT_BURST", "1000000".to_string()),
            (
                "RUST_LOG",
                std::env::var("CHAOS_ENGINE_LOG").unwrap_or_else(|_| "warn".into()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Ok(Self {
            name: name.to_string(),
            base: format!("http://127.0.0.1:{port}"),
            child: None,
            program: program.to_path_buf(),
            env,
            log: dir.join(format!("engine-{name}.log")),
        })
    }

    /// Starts the process (the same port every time) and waits until `/readyz` answers 200.
    pub async fn start(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .context("open the engine log")?;
        let mut command = Command::new(&self.program);
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        for (k, v) in &self.env {
            command.env(k, v);
        }
        self.child = Some(
            command
                .spawn()
                .with_context(|| format!("start {}", self.program.display()))?,
        );
        let started = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!(
                        "engine {} exited at start ({status}); see {}",
                        self.name,
                        self.log.display()
                    );
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("engine {} not ready within 60 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `kill -9`, and reaps the process.
    pub async fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal(pid, "KILL");
            }
            let _ = child.wait().await;
        }
    }

    /// SIGTERM (graceful), bounded.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal(pid, "TERM");
            }
            if tokio::time::timeout(Duration::from_secs(15), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `/readyz` as JSON (whatever its status), if the engine answers.
    pub async fn readyz(&self, http: &reqwest::Client) -> Option<Value> {
        http.get(format!("{}/readyz", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
}

//! One large upload (CONTRACT 10, `POST /tickets/{id}/attachments`): a file of
//! `ATTACHMENT_MAX_BYTES`' default (20 MiB) of random bytes, sent over loopback to an engine
//! process that stores it in a local directory, timed from the first byte sent to the `201`,
//! while the engine's resident memory (`VmRSS`) is sampled every 5 ms: the file streams
//! through, so the growth stays far below its size.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;
use tokio::sync::watch;

use super::engine::Engine;
use super::Rng;

/// The size uploaded: 20 MiB.
pub const SIZE: usize = 20 * 1024 * 1024;
const BOUNDARY: &str = "ticketd-bench-upload-boundary";

/// What the upload run measured.
#[derive(Debug, Default, Clone, Serialize)]
pub struct UploadResult {
    pub bytes: usize,
    /// Seconds per upload, in run order (after one warm-up upload).
    pub seconds: Vec<f64>,
    /// Peak resident memory during each upload minus that just before it, in KiB.
    pub rss_growth_kib: Vec<i64>,
    pub median_seconds: f64,
    pub median_rss_growth_mib: f64,
}

/// The engine's resident memory in KiB (`VmRSS` in `/proc/<pid>/status`).
fn rss_kib(pid: u32) -> anyhow::Result<i64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in the engine's status")
}

/// A `multipart/form-data` body holding `content` in a part named `file`.
fn multipart(content: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"20m.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

/// Uploads the file `runs` times (after one warm-up) to one ticket of a fresh engine.
pub async fn run(database_url: &str, runs: usize) -> anyhow::Result<UploadResult> {
    let dir = std::env::temp_dir().join(format!("ticketd-bench-upload-{}", uuid::Uuid::now_v7()));
    let engine = Engine::start_with(
        database_url,
        None,
        &[("ATTACHMENT_DIR", dir.display().to_string())],
    )
    .await?;
    let result = measure(&engine, runs).await;
    engine.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn measure(engine: &Engine, runs: usize) -> anyhow::Result<UploadResult> {
    let pid = engine.pid.context("the engine has no pid")?;
    let ticket = engine.seed(1).await?[0];
    let mut rng = Rng::new(20);
    let content: Vec<u8> = (0..SIZE).map(|_| rng.below(256) as u8).collect();
    let body = multipart(&content);
    drop(content);
    let url = format!("{}/api/v1/tickets/{ticket}/attachments", engine.base);
    let mut result = UploadResult {
        bytes: SIZE,
        ..UploadResult::default()
    };
    for run in 0..=runs {
        let before = rss_kib(pid)?;
        let (stop, mut stopped) = watch::channel(false);
        let sampler = tokio::spawn(async move {
            let mut peak = before;
            loop {
                if let Ok(now) = rss_kib(pid) {
                    peak = peak.max(now);
                }
                tokio::select! {
                    _ = stopped.changed() => return peak,
                    _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
            }
        });
        let started = Instant::now();
        let response = engine
            .client
            .post(&url)
            .bearer_auth(&engine.token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body.clone())
            .send()
            .await
            .context("upload")?;
        let status = response.status();
        let answer = response.text().await?;
        let elapsed = started.elapsed().as_secs_f64();
        let _ = stop.send(true);
        let peak = sampler.await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("the upload answered {status}: {answer}");
        }
        // The first upload warms the engine up (allocator pools, connections).
        if run > 0 {
            result.seconds.push(elapsed);
            result.rss_growth_kib.push(peak - before);
        }
    }
    result.median_seconds = median(&result.seconds);
    let growth: Vec<f64> = result
        .rss_growth_kib
        .iter()
        .map(|&k| k as f64 / 1024.0)
        .collect();
    result.median_rss_growth_mib = median(&growth);
    Ok(result)
}

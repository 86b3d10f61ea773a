//! A bounded HTTP load generator for motcua. It only targets loopback addresses and stops by
//! itself after `--duration` seconds or `--requests` requests, whichever comes first.
//!
//!     cargo run --release -p motcua-load -- --url http://127.0.0.1:8080/healthz

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
#[command(about = "Bounded load against a local motcua")]
struct Args {
    /// Target URL (must be on 127.0.0.0/8 or ::1).
    #[arg(long)]
    url: String,
    /// Concurrent connections.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after this many requests in total.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Header to send, as `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    method: String,
    /// Request body (form or JSON as given).
    #[arg(long)]
    body: Option<String>,
    /// Seconds of warm-up not counted in the results.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url = reqwest::Url::parse(&args.url).context("--url")?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    if !loopback {
        bail!("refusing to load a non-loopback address: {url}");
    }
    let mut headers = reqwest::header::HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .context("--header must be `Name: value`")?;
        headers.insert(
            reqwest::header::HeaderName::from_bytes(name.trim().as_bytes())?,
            value.trim().parse()?,
        );
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    let method: reqwest::Method = args.method.parse()?;

    let warmup_end = Instant::now() + Duration::from_secs(args.warmup);
    while Instant::now() < warmup_end {
        let _ = client
            .request(method.clone(), url.clone())
            .body(args.body.clone().unwrap_or_default())
            .send()
            .await;
    }

    let budget = Arc::new(AtomicU64::new(args.requests));
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, url, method, body, budget) = (
            client.clone(),
            url.clone(),
            method.clone(),
            args.body.clone(),
            budget.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut errors = 0u64;
            while Instant::now() < deadline
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_ok()
            {
                let t = Instant::now();
                let mut req = client.request(method.clone(), url.clone());
                if let Some(body) = &body {
                    req = req.body(body.clone());
                }
                match req.send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let _ = resp.bytes().await;
                        *statuses.entry(status).or_default() += 1;
                        let _ = hist.record(t.elapsed().as_micros() as u64);
                    }
                    Err(_) => errors += 1,
                }
            }
            (hist, statuses, errors)
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
    let mut errors = 0;
    for w in workers {
        let (h, s, e) = w.await?;
        hist.add(h)?;
        for (k, v) in s {
            *statuses.entry(k).or_default() += v;
        }
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = hist.len();
    let report = serde_json::json!({
        "url": url.as_str(),
        "method": method.as_str(),
        "concurrency": args.concurrency,
        "seconds": (elapsed * 100.0).round() / 100.0,
        "requests": total,
        "errors": errors,
        "statuses": statuses,
        "requests_per_second": (total as f64 / elapsed).round(),
        "latency_ms": {
            "p50": hist.value_at_quantile(0.50) as f64 / 1000.0,
            "p90": hist.value_at_quantile(0.90) as f64 / 1000.0,
            "p99": hist.value_at_quantile(0.99) as f64 / 1000.0,
            "max": hist.max() as f64 / 1000.0,
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

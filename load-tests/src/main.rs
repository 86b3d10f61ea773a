//! A bounded HTTP load generator for motcua. It only targets loopback addresses and stops by
//! itself after `--duration` seconds or `--requests` requests, whichever comes first.
//!
//!     cargo run --release -p motcua-load -- --url http://127.0.0.1:8080/healthz
//!
//! With `--items FILE`, `{item}` in the URL and bodies stands for one line of the file: worker
//! `w` of `c` takes the lines `w, w + c, w + 2c, …` in turn, so with as many lines as workers each
//! worker owns one item. Several `--body` values are sent in turn for each item, which drives a
//! state machine back and forth (a dossier between two statuses, say) without two workers racing
//! on one item.

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
    /// Request body (form or JSON as given); repeatable: each item gets them in turn.
    #[arg(long = "body")]
    bodies: Vec<String>,
    /// File of items substituted for `{item}` in the URL and bodies, one per line.
    #[arg(long)]
    items: Option<std::path::PathBuf>,
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

    let items: Vec<String> = match &args.items {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--items {}", path.display()))?
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| line.trim().to_string())
            .collect(),
        None => Vec::new(),
    };
    if args.items.is_some() && items.is_empty() {
        bail!("--items: the file has no items");
    }
    let plan = Arc::new(Plan {
        url: args.url.clone(),
        bodies: args.bodies.clone(),
        items,
        concurrency: args.concurrency,
    });

    let warmup_end = Instant::now() + Duration::from_secs(args.warmup);
    let budget = Arc::new(AtomicU64::new(args.requests));
    let deadline = warmup_end + Duration::from_secs(args.duration);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let (client, method, budget, plan) =
            (client.clone(), method.clone(), budget.clone(), plan.clone());
        workers.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
            let mut statuses = std::collections::BTreeMap::<u16, u64>::new();
            let mut errors = 0u64;
            let mut sent = 0usize;
            loop {
                let now = Instant::now();
                let counted = now >= warmup_end;
                if now >= deadline
                    || (counted
                        && budget
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            })
                            .is_err())
                {
                    break;
                }
                let (url, body) = plan.request(worker, sent);
                sent += 1;
                let t = Instant::now();
                let mut req = client.request(method.clone(), url);
                if let Some(body) = body {
                    req = req.body(body);
                }
                let result = req.send().await;
                if !counted {
                    if let Ok(resp) = result {
                        let _ = resp.bytes().await;
                    }
                    continue;
                }
                match result {
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
    let started = warmup_end;
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
    let elapsed = started
        .elapsed()
        .as_secs_f64()
        .min(args.duration as f64)
        .max(0.001);
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

/// What each worker sends: its `n`-th request.
struct Plan {
    url: String,
    bodies: Vec<String>,
    items: Vec<String>,
    concurrency: usize,
}

impl Plan {
    fn request(&self, worker: usize, n: usize) -> (String, Option<String>) {
        let (item, round) = if self.items.is_empty() {
            (None, n)
        } else {
            // The worker's items are `worker, worker + c, …`; with fewer items than workers,
            // workers share them.
            let first = worker % self.items.len();
            let own = (self.items.len() - first).div_ceil(self.concurrency).max(1);
            let item = &self.items[first + (n % own) * self.concurrency];
            (Some(item.as_str()), n / own)
        };
        let fill = |text: &str| match item {
            Some(item) => text.replace("{item}", item),
            None => text.to_string(),
        };
        let body = match self.bodies.len() {
            0 => None,
            len => Some(fill(&self.bodies[round % len])),
        };
        (fill(&self.url), body)
    }
}

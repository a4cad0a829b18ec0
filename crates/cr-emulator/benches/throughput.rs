//! Requests per second of the emulator for the two hottest read calls — EC2
//! DescribeCapacityReservations (SigV4-verified) and GCE reservations.get (bearer-checked) —
//! with faults and latency off. Client and server share the process (and the machine's
//! cores), over plain HTTP/1.1 keep-alive connections.
//!
//! Run: `cargo bench -p cr-emulator --bench throughput` (release build). Optional
//! arguments: `--seconds N` (default 5) and `--concurrency N` (default 32).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Signer, form_encode, sign};
use serde_json::json;

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn run<F, Fut>(label: &str, seconds: u64, concurrency: u64, call: F)
where
    F: Fn(reqwest::Client) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let call = Arc::new(call);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (call, ok, failed, stop) = (call.clone(), ok.clone(), failed.clone(), stop.clone());
        let client = reqwest::Client::builder()
            .http1_only()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .build()
            .expect("client");
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if call(client.clone()).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // Warm-up: connections, caches, allocator.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (ok0, started) = (ok.load(Ordering::Relaxed), Instant::now());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let done = ok.load(Ordering::Relaxed) - ok0;
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    println!(
        "{label:<32} {:>9.0} req/s  ({done} ok in {elapsed:.1} s, {} failed, concurrency {concurrency})",
        done as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
}

fn main() {
    let seconds = arg("--seconds", 5);
    let concurrency = arg("--concurrency", 32);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let emu = common::start("seed: 1\nlatency: {fixed_ms: 0, jitter_ms: 0}\n").await;
        println!(
            "cr-emulator throughput, {} available cores, faults and latency off",
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );

        // EC2: ten reservations to describe.
        for i in 0..10 {
            let zone = if i % 2 == 0 {
                "us-east-1a"
            } else {
                "us-east-1b"
            };
            let r = common::ec2(
                &emu,
                "us-east-1",
                &[
                    ("Action", "CreateCapacityReservation"),
                    ("InstanceType", "i4i.large"),
                    ("InstancePlatform", "Linux/UNIX"),
                    ("AvailabilityZone", zone),
                    ("InstanceCount", "1"),
                ],
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let signer = Signer::for_emulator(&emu, "us-east-1");
        let base = emu.http_url().to_owned();
        let host = base.trim_start_matches("http://").to_owned();
        run(
            "EC2 DescribeCapacityReservations",
            seconds,
            concurrency,
            move |client| {
                let body = form_encode(&[
                    ("Action", "DescribeCapacityReservations"),
                    ("Version", "2016-11-15"),
                ]);
                let mut req = client.post(format!("{base}/")).body(body.clone());
                for (k, v) in sign(&signer, &host, &body) {
                    req = req.header(k, v);
                }
                async move {
                    match req.send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            },
        )
        .await;

        // GCE: one reservation to get.
        let token = common::gce_token(&emu).await;
        let (status, _) = common::gce(
            &emu,
            &token,
            reqwest::Method::POST,
            "zones/us-east1-b/reservations",
            Some(common::reservation_body(
                "bench",
                "n2-standard-8",
                json!("2"),
            )),
        )
        .await;
        assert_eq!(status, 200);
        let url = format!(
            "{}/compute/v1/projects/{}/zones/us-east1-b/reservations/bench",
            emu.http_url(),
            emu.credentials().gce.project_id
        );
        run(
            "GCE reservations.get",
            seconds,
            concurrency,
            move |client| {
                let req = client.get(&url).bearer_auth(&token);
                async move {
                    match req.send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            },
        )
        .await;
        emu.shutdown().await;
    });
}

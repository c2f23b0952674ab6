//! A multi-node search on localhost: a global orchestrator and three node processes, one peer
//! each, end where one peer on the whole batch ends.
//!
//! The test binary plays every part: run plainly, it starts itself again as the orchestrator
//! and as each node (the role in an environment variable), waits for the nodes, and compares
//! what they wrote with a one-peer search run in-process.
mod common;
use common::*;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burn::backend::flex::FlexDevice;
use burn::tensor::backend::Backend;
use tangle_optim::{Method, OptimError, Peers, Regression, Search, SearchConfig, WeightOptimizer};

const TEST: &str = "three_nodes_on_localhost_end_as_one_peer";
const ROLE: &str = "TANGLE_MULTINODE_ROLE";
const NODES: u32 = 3;

fn config() -> SearchConfig {
    SearchConfig {
        epochs: 3,
        warmup_epochs: 1,
        weight_optimizer: WeightOptimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 3e-4,
        },
        lr: 0.05,
        arch_lr: 0.05,
        ..SearchConfig::default()
    }
}

/// α, weights and bias after the search, as one flat list.
fn search(peers: Option<Peers<FlexDevice>>) -> Vec<f32> {
    // Every process builds the same initial supernet from the same seed.
    AB::seed(&FlexDevice, 17);
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 4, 24, &FlexDevice);
    let mut s = Search::with_method(probe, Method::Drnas, config(), 7, &FlexDevice).unwrap();
    if let Some(p) = peers {
        s = s.with_peers(p);
    }
    s.run(&data, &Regression).unwrap();
    let mut out: Vec<f32> = s.alphas.values().concat();
    out.extend(s.model.fc.weight.val().into_data().to_vec::<f32>().unwrap());
    out.extend(
        s.model
            .fc
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec::<f32>()
            .unwrap(),
    );
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(role: &str, envs: &[(&str, String)], log: &Path) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        TEST,
        "--exact",
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .stdout(Stdio::from(std::fs::File::create(log).unwrap()))
    .stderr(Stdio::from(
        std::fs::File::create(log.with_extension("err")).unwrap(),
    ));
    for (k, v) in envs {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn logs(dir: &Path) -> String {
    let mut all = String::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut s = String::new();
        let _ = std::fs::File::open(&p).and_then(|mut f| f.read_to_string(&mut s));
        all += &format!("--- {}\n{s}\n", p.display());
    }
    all
}

// Not in the default suite: Burn 0.21's global collective makes this test flaky. Measured
// 2026-12-03 under two CPU hogs, 5 of 30 runs failed: a node panicked inside burn-collective
// (`global/node/ring.rs`: "Peer closed download connection"; burn-communication: "Failed to
// connect to data server") or all waited forever. docs/optim.md names the causes. Run it with
// `cargo test -p tangle-optim --test multinode -- --include-ignored`.
#[test]
#[ignore = "flaky: Burn 0.21's global collective races between per-operation sessions (docs/optim.md)"]
fn three_nodes_on_localhost_end_as_one_peer() {
    let var = |k: &str| std::env::var(k).unwrap();
    match std::env::var(ROLE).as_deref() {
        Ok("orchestrator") => {
            tangle_optim::parallel::run_orchestrator(var("TANGLE_PORT").parse().unwrap()).unwrap();
            return;
        }
        Ok("node") => {
            let node: u32 = var("TANGLE_NODE").parse().unwrap();
            let peers = Peers::threads(FlexDevice, 1)
                .unwrap()
                .across_nodes(
                    node,
                    NODES,
                    &format!("ws://127.0.0.1:{}", var("TANGLE_PORT")),
                    &format!("ws://127.0.0.1:{}", var("TANGLE_DATA_PORT")),
                    var("TANGLE_DATA_PORT").parse().unwrap(),
                )
                .unwrap();
            let out = search(Some(peers));
            std::fs::write(var("TANGLE_OUT"), serde_json::to_string(&out).unwrap()).unwrap();
            return;
        }
        _ => {}
    }
    let dir: PathBuf =
        std::env::temp_dir().join(format!("tangle-multinode-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let mut orchestrator = spawn(
        "orchestrator",
        &[("TANGLE_PORT", port.to_string())],
        &dir.join("orchestrator.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the orchestrator never listened");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut nodes: Vec<Child> = (0..NODES)
        .map(|node| {
            spawn(
                "node",
                &[
                    ("TANGLE_PORT", port.to_string()),
                    ("TANGLE_NODE", node.to_string()),
                    ("TANGLE_DATA_PORT", free_port().to_string()),
                    (
                        "TANGLE_OUT",
                        dir.join(format!("node{node}.json")).display().to_string(),
                    ),
                ],
                &dir.join(format!("node{node}.log")),
            )
        })
        .collect();
    // A hung all-reduce must fail the test, not hang CI.
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut done = vec![false; NODES as usize];
    while !done.iter().all(|d| *d) {
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Some(status) = n.try_wait().unwrap() {
                if !status.success() {
                    let _ = orchestrator.kill();
                    panic!("node {i} failed ({status}):\n{}", logs(&dir));
                }
                done[i] = true;
            }
        }
        if Instant::now() > deadline {
            for n in &mut nodes {
                let _ = n.kill();
            }
            let _ = orchestrator.kill();
            panic!("the nodes did not finish in 300 s:\n{}", logs(&dir));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = orchestrator.kill();
    let _ = orchestrator.wait();
    let one = search(None);
    for node in 0..NODES {
        let text = std::fs::read_to_string(dir.join(format!("node{node}.json"))).unwrap();
        let got: Vec<f32> = serde_json::from_str(&text).unwrap();
        assert_eq!(got.len(), one.len());
        for (i, (g, w)) in got.iter().zip(&one).enumerate() {
            assert!(
                (g - w).abs() <= 2e-5 * (1.0 + w.abs()),
                "node {node}, value {i}: {g} on {NODES} nodes, {w} on one peer"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A node whose partner never comes stops with an error after the exchange timeout instead of
/// waiting forever (no orchestrator listens either).
#[test]
fn a_node_without_its_partner_stops_with_an_error_after_the_timeout() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let port = free_port();
    let data_port = free_port();
    let peers = Peers::threads(FlexDevice, 1)
        .unwrap()
        .across_nodes(
            0,
            2,
            &format!("ws://127.0.0.1:{port}"),
            &format!("ws://127.0.0.1:{data_port}"),
            data_port,
        )
        .unwrap()
        .with_timeout(Duration::from_secs(3))
        .unwrap();
    let probe = Probe::<AB>::new(false, &FlexDevice);
    let data = ProbeData::<AB>::new(3, 4, 24, &FlexDevice);
    let mut s = Search::with_method(probe, Method::Drnas, config(), 7, &FlexDevice)
        .unwrap()
        .with_peers(peers);
    let start = Instant::now();
    let err = s.run(&data, &Regression).unwrap_err();
    assert!(
        matches!(&err, OptimError::Collective(m) if m.contains("did not complete within 3s")),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    let err = Peers::threads(FlexDevice, 1)
        .unwrap()
        .with_timeout(Duration::ZERO)
        .unwrap_err();
    assert!(err.to_string().contains("timeout is zero"), "{err}");
}

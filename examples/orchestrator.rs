//! The global orchestrator of a multi-node search: start it once, then one example process per
//! node (one per device) with `--nodes N --node I --global-address ws://THIS_HOST:PORT
//! --node-address ws://NODE_HOST:DATA_PORT --data-port DATA_PORT`. It runs until stopped
//! (Ctrl-C).
//!
//! ```text
//! cargo run --release --example orchestrator -- --port 3000
//! ```

/// The command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "orchestrator",
    about = "The global orchestrator of a multi-node search."
)]
struct Cli {
    /// The port it listens on.
    #[arg(long, default_value_t = 3000)]
    port: u16,
}

fn main() {
    let port = <Cli as clap::Parser>::parse().port;
    println!("orchestrator listening on port {port} (Ctrl-C stops it)");
    if let Err(e) = tangle_optim::parallel::run_orchestrator(port) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

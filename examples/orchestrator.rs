//! The global orchestrator of a multi-node search: start it once, then one example process per
//! node (one per device) with `--nodes N --node I --global-address ws://THIS_HOST:PORT
//! --node-address ws://NODE_HOST:DATA_PORT --data-port DATA_PORT`. It runs until stopped
//! (Ctrl-C).
//!
//! ```text
//! cargo run --release --example orchestrator -- --port 3000
//! ```

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let port = match argv.as_slice() {
        [] => Ok(3000),
        [flag, value] if flag == "--port" => value
            .parse::<u16>()
            .map_err(|_| format!("--port: cannot parse {value:?}")),
        [flag] if flag == "-h" || flag == "--help" => {
            println!("orchestrator [--port PORT (3000)]");
            return;
        }
        other => Err(format!(
            "unexpected arguments {other:?}; usage: orchestrator [--port PORT]"
        )),
    };
    let port = port.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    println!("orchestrator listening on port {port} (Ctrl-C stops it)");
    if let Err(e) = tangle_optim::parallel::run_orchestrator(port) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

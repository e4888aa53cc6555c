//! `cargo run --release -p igdemu-harness --example bench [--json] [--quick]`:
//! every figure of BENCHMARKS.md, printed as a table (or JSON).

use igdemu_harness::bench::{maybe_run_child, run_benches, BenchOptions};

fn main() {
    maybe_run_child();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = BenchOptions::default();
    if args.iter().any(|a| a == "--quick") {
        opts.repeats = 1;
    }
    let report = run_benches(&opts);
    if args.iter().any(|a| a == "--json") {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!("{report}");
    }
}

//! Criterion benches over the same functions as `igdemu bench`
//! (`igdemu_harness::bench`): `cargo bench -p igdemu-harness`.
//! The full table with ratios: `cargo run --release -p igdemu-harness --example bench`.

use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use igdemu_harness::bench::{
    builtin_roms, corpus_roms, run_corpus, run_igdemu, scenario, BenchOptions, GttFixture, RawSetup,
};

fn guest(c: &mut Criterion) {
    let mut g = c.benchmark_group("post_vbe");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, rom) in corpus_roms(&BenchOptions::default()) {
        let sc = scenario(&rom);
        let Ok(run) = igdemu::session::run(&rom, &sc) else {
            continue;
        };
        g.throughput(Throughput::Elements(run.report.instructions));
        g.bench_with_input(BenchmarkId::new("igdemu", &name), &rom, |b, rom| {
            b.iter(|| run_igdemu(rom));
        });
        if let Ok(raw) = RawSetup::from_run(&rom, &sc, &run) {
            if raw.run(true).faithful() {
                g.bench_with_input(BenchmarkId::new("raw_unicorn", &name), &raw, |b, raw| {
                    b.iter(|| raw.run(false));
                });
            }
        }
    }
    g.finish();
}

fn gtt(c: &mut Criterion) {
    let fx = GttFixture::new(2 << 20);
    let mut g = c.benchmark_group("gtt_sweep_2M");
    g.throughput(Throughput::Elements(2 << 20));
    g.bench_function("sweep_gtt", |b| b.iter(|| fx.sweep()));
    g.bench_function("u64_sum", |b| b.iter(|| fx.sum()));
    g.finish();
}

fn corpus(c: &mut Criterion) {
    let roms = builtin_roms();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let mut g = c.benchmark_group("corpus");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(roms.len() as u64));
    g.bench_function("1_thread", |b| b.iter(|| run_corpus(&roms, 1)));
    g.bench_function(format!("{threads}_threads"), |b| {
        b.iter(|| run_corpus(&roms, threads));
    });
    g.finish();
}

criterion_group!(benches, guest, gtt, corpus);

fn main() {
    // Figure e re-executes the current binary.
    igdemu_harness::bench::maybe_run_child();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

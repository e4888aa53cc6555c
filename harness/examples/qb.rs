use igdemu_harness::bench::*;
fn main() {
    let which = std::env::args().nth(1).unwrap_or("skl-legacy".into());
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let roms = corpus_roms(&BenchOptions::default());
    let rom = &roms.iter().find(|(n, _)| *n == which).unwrap().1;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(run_igdemu(rom));
    }
    println!("{:?} per run", t.elapsed() / n as u32);
}

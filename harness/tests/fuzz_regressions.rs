//! Every input the fuzzers ever found (`fuzz/artifacts/<target>/`, kept in
//! `fuzz/regressions/<target>/` once fixed) and the seed corpora, replayed
//! through the same code as their target (`igdemu::fuzz`), so a fixed crash
//! stays fixed.

use std::path::{Path, PathBuf};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 4] = [
    ("rom_parser", igdemu::fuzz::rom_parser),
    ("load_and_run", igdemu::fuzz::load_and_run),
    ("strict_guest_ops", igdemu::fuzz::strict_guest_ops),
    ("pte_decode", igdemu::fuzz::pte_decode),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn replay(kind: &str) -> usize {
    let mut n = 0;
    for (name, target) in TARGETS {
        for path in files(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&path).expect("readable input");
            println!(
                "replay {kind}/{name}/{}",
                path.file_name()
                    .map(|f| f.to_string_lossy())
                    .unwrap_or_default()
            );
            target(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn artifacts_and_regressions_replay_clean() {
    let n = replay("artifacts") + replay("regressions");
    println!("fuzz regressions: {n} inputs replayed");
}

#[test]
fn seed_corpus_replays_clean() {
    let n = replay("corpus");
    println!("fuzz corpus: {n} seed inputs replayed");
}

/// Edge inputs every target must take without a panic.
#[test]
fn edge_inputs() {
    let rom = igdemu_roms::build(igdemu_roms::Personality::SnbLegacy, &Default::default())
        .expect("builds");
    for (_, target) in TARGETS {
        target(&[]);
        target(&[0x55, 0xAA]);
        target(&[0xFF; 64]);
        target(&rom[..rom.len() / 3]);
    }
}

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

/// Every target has committed inputs to replay (seed corpus or regressions):
/// a replay of nothing would pass whatever the code does.
#[test]
fn seed_corpus_replays_clean() {
    let n = replay("corpus");
    println!("fuzz corpus: {n} seed inputs replayed");
    for (name, _) in TARGETS {
        let have = files(&fuzz_dir().join("corpus").join(name)).len()
            + files(&fuzz_dir().join("regressions").join(name)).len();
        assert!(
            have > 0,
            "nothing to replay for {name}: run `cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus` (or IGDEMU_WRITE_SEEDS=1 cargo test --test fuzz_regressions)"
        );
    }
}

/// The committed seeds of the generated targets are what
/// `igdemu::fuzz::*_seeds` produce (`IGDEMU_WRITE_SEEDS=1` rewrites them).
#[test]
fn generated_seeds_are_committed() {
    let write = std::env::var_os("IGDEMU_WRITE_SEEDS").is_some();
    for (target, seeds) in [
        ("strict_guest_ops", igdemu::fuzz::strict_guest_ops_seeds()),
        ("pte_decode", igdemu::fuzz::pte_decode_seeds()),
    ] {
        let dir = fuzz_dir().join("corpus").join(target);
        let names: std::collections::BTreeSet<_> = seeds.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), seeds.len(), "{target}: seed names are unique");
        for (name, bytes) in seeds {
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(&path, &bytes).expect("write seed");
            }
            let have = std::fs::read(&path).unwrap_or_default();
            assert!(
                have == bytes,
                "{} is missing or stale: IGDEMU_WRITE_SEEDS=1 cargo test -p igdemu-harness --test fuzz_regressions",
                path.display()
            );
        }
    }
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

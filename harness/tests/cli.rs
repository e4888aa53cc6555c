//! The `igdemu` binary as a user runs it: exit codes, the summary, the JSON
//! report, the trace, errors that speak to a person.

use std::path::PathBuf;
use std::process::{Command, Output};

fn igdemu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_igdemu"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("igdemu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The process's stderr as text.
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write `bytes` to a temporary file called `name` and return its path.
fn rom_file(name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = tmp(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

#[test]
fn run_clean_exits_0_and_violations_exit_1_with_json_and_trace() {
    let o = igdemu(&["run", "builtin:snb-legacy", "--remapper", "strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("verdict   CLEAN"), "{}", stdout(&o));

    let json = tmp("r.json");
    let trace = tmp("t.jsonl");
    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--remapper",
        "qemu-2016",
        "--json",
        json.to_str().expect("utf-8"),
        "--trace",
        trace.to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("verdict   CORRUPT"), "{out}");
    assert!(out.contains("(at C000:"), "violations carry CS:IP: {out}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("valid JSON");
    assert_eq!(doc["schema"], 1);
    assert_eq!(doc["report"]["verdict"], "Corrupt");
    assert_eq!(doc["report"]["remapper"], "qemu-2016");
    assert!(
        doc["report"]["check"]["violations"]
            .as_array()
            .expect("array")
            .len()
            > 500
    );
    let lines = std::fs::read_to_string(&trace).expect("trace written");
    let first: serde_json::Value =
        serde_json::from_str(lines.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(first["seq"], 0);
    assert!(lines.lines().count() > 1000);
    assert!(
        lines.contains("\"Passthrough\""),
        "passthrough decisions are in the trace"
    );
}

#[test]
fn the_same_rom_is_clean_under_qemu_2025_when_it_reads_config_bdsm() {
    let o = igdemu(&[
        "run",
        "builtin:skl-legacy",
        "--remapper",
        "qemu-2025",
        "--source",
        "config-bdsm",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = igdemu(&[
        "run",
        "builtin:skl-legacy",
        "--remapper",
        "qemu-2025",
        "--source",
        "baked",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("ESCAPE"), "{}", stdout(&o));
}

#[test]
fn a_rom_that_cannot_run_exits_2_with_a_reason() {
    let bad = rom_file(
        "truncated.rom",
        igdemu_roms::broken::build_broken(igdemu_roms::broken::Broken::Truncated),
    );
    let o = igdemu(&["run", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("truncated"), "{err}");

    let o = igdemu(&["run", "/nonexistent/x.rom"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("builtin:NAME"));

    let rom = igdemu_roms::build(
        igdemu_roms::Personality::SnbLegacy,
        &igdemu_roms::Options {
            poll_unknown: Some((0x4F100, 1 << 5)),
            ..Default::default()
        },
    )
    .expect("builds");
    let spin = rom_file("spin.rom", rom);
    let o = igdemu(&["run", spin.to_str().expect("utf-8"), "--budget", "2000000"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("register 0x4f100"), "{}", stdout(&o));
}

#[test]
fn bad_checksum_is_refused_then_run_with_the_flag() {
    let bad = rom_file(
        "sum.rom",
        igdemu_roms::broken::build_broken(igdemu_roms::broken::Broken::BadChecksum),
    );
    let o = igdemu(&["run", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--allow-bad-checksum"));
    let o = igdemu(&[
        "run",
        bad.to_str().expect("utf-8"),
        "--allow-bad-checksum",
        "--script",
        "",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("WRONG (run anyway)"));
}

#[test]
fn rom_build_inspect_and_listing() {
    let out = tmp("ivb.rom");
    let o = igdemu(&[
        "rom",
        "build",
        "ivb-legacy",
        "-o",
        out.to_str().expect("utf-8"),
        "--source",
        "baked",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let o = igdemu(&["inspect", out.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("8086:0166"), "{text}");
    assert!(text.contains("checksum  ok"), "{text}");
    assert!(text.contains("BDB version 170"), "{text}");
    let o = igdemu(&["rom", "listing", "snb-legacy"]);
    assert!(stdout(&o).contains("gtt_loop:"));
    let o = igdemu(&["rom", "build", "nonsense", "-o", "/tmp/x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("snb-legacy"), "lists the valid names");
}

#[test]
fn corpus_table_and_regression_exit() {
    let dir = tmp("corpus");
    std::fs::create_dir_all(dir.join("sub")).expect("dir");
    let good = igdemu_roms::build(igdemu_roms::Personality::SnbLegacy, &Default::default())
        .expect("builds");
    std::fs::write(dir.join("sub/good.rom"), good).expect("write");
    let o = igdemu(&["corpus", dir.to_str().expect("utf-8"), "--jobs", "2"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("sub/good.rom"), "{text}");
    assert!(text.contains("corrupt (1155)"), "{text}");
    std::fs::write(
        dir.join("bad.bin"),
        igdemu_roms::broken::build_broken(igdemu_roms::broken::Broken::InfiniteLoop),
    )
    .expect("write");
    let o = igdemu(&[
        "corpus",
        dir.to_str().expect("utf-8"),
        "--script",
        "",
        "--budget",
        "5000000",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("REGRESSION bad.bin"), "{}", stdout(&o));
}

/// `--remapper qemu-X.Y[,options]`: a release with its options runs; an
/// option the release lacks, an unknown release and a refused device each
/// say why, with exit code 2.
#[test]
fn qemu_releases_and_their_options_on_the_command_line() {
    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--remapper",
        "qemu-10.0,x-igd-gms=2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("remapper  qemu-10.0"), "{}", stdout(&o));
    // 64 MiB (GMS 2) reserved: the option reached etc/igd-bdsm-size.
    assert!(stdout(&o).contains("64 MiB"), "{}", stdout(&o));

    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--remapper",
        "qemu-9.2,x-igd-gms=2",
    ]);
    assert!(
        stderr(&o).contains("x-igd-gms=0x2 is accepted and ignored by qemu-9.2"),
        "{}",
        stderr(&o)
    );

    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--remapper",
        "qemu-9.1,x-igd-lpc=on",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("qemu-9.1 has no x-igd-lpc (added in qemu-10.0 by 674f61117d36)"),
        "{}",
        stderr(&o)
    );
    let o = igdemu(&["run", "builtin:snb-legacy", "--remapper", "qemu-1.5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown QEMU release"),
        "{}",
        stderr(&o)
    );

    let o = igdemu(&["run", "builtin:snb-legacy", "--remapper", "qemu-5.0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("compiled out"), "{}", stderr(&o));
    let o = igdemu(&["run", "builtin:icl-legacy", "--remapper", "qemu-10.1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("dd69d846046f"), "{}", stderr(&o));
}

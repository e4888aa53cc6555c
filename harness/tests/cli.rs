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
    // It runs, but its init only returns: nothing reached the GTT or the
    // aperture, so nothing is proven (exit 3).
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("WRONG (run anyway)"));
    assert!(
        stdout(&o).contains("verdict   INCONCLUSIVE"),
        "{}",
        stdout(&o)
    );
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
    std::fs::write(dir.join("sub/good.rom"), &good).expect("write");
    // vBIOS dumps come with any extension: recognised by content.
    std::fs::write(dir.join("sub/dump.dat"), &good).expect("write");
    std::fs::write(dir.join("notes.txt"), b"not a ROM").expect("write");
    let o = igdemu(&["corpus", dir.to_str().expect("utf-8"), "--jobs", "2"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("sub/good.rom"), "{text}");
    assert!(text.contains("sub/dump.dat"), "{text}");
    assert!(
        stderr(&o).contains("skipped") && stderr(&o).contains("notes.txt: starts with 6e 6f"),
        "{}",
        stderr(&o)
    );
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

/// The built-in SNB ROM with its PCIR edited: vendor, device, device list
/// (empty: no list) and code type.
fn edited_rom(vendor: u16, device: u16, list: &[u16], code_type: u8) -> Vec<u8> {
    use igdemu_roms::image::{fix_checksum, PCIR_OFFSET};
    let mut img = igdemu_roms::build(
        igdemu_roms::Personality::SnbLegacy,
        &igdemu_roms::Options::default(),
    )
    .expect("builds");
    let p = PCIR_OFFSET;
    img[p + 4..p + 6].copy_from_slice(&vendor.to_le_bytes());
    img[p + 6..p + 8].copy_from_slice(&device.to_le_bytes());
    if list.is_empty() {
        img[p + 8..p + 10].copy_from_slice(&0u16.to_le_bytes());
    } else {
        let at = p + usize::from(u16::from_le_bytes([img[p + 8], img[p + 9]]));
        for (i, id) in list.iter().chain(&[0]).enumerate() {
            img[at + 2 * i..at + 2 * i + 2].copy_from_slice(&id.to_le_bytes());
        }
    }
    img[p + 0x14] = code_type;
    fix_checksum(&mut img);
    img
}

#[test]
fn device_ids_are_hex_and_unknown_ones_are_errors_that_say_how_to_choose() {
    let o = igdemu(&["run", "builtin:snb-legacy", "--device-id", "1912"]);
    assert!(
        stdout(&o).contains("device    1912 SKL (gen9)"),
        "{}",
        stdout(&o)
    );
    let o = igdemu(&["run", "builtin:snb-legacy", "--device-id", "0x0166"]);
    assert!(
        stdout(&o).contains("device    0166 IVB (gen7)"),
        "{}",
        stdout(&o)
    );

    let o = igdemu(&["run", "builtin:snb-legacy", "--device-id", "0x1234"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("unknown Intel graphics device ID 0x1234"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--gen N"), "{}", stderr(&o));

    // An Intel ROM whose PCIR device and list are unknown: no silent fallback.
    let rom = rom_file("unknown-dev.rom", edited_rom(0x8086, 0x1234, &[0x1235], 0));
    let o = igdemu(&["run", rom.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("unknown Intel graphics device ID 0x1234 (the ROM's PCIR device, nor any of its listed IDs 1235)"), "{err}");
    assert!(err.contains("--gen N"), "{err}");
}

#[test]
fn pcir_placeholder_id_picks_the_first_listed_known_id_and_says_so() {
    let rom = rom_file(
        "placeholder.rom",
        edited_rom(0x8086, 0x0406, &[0x3E00, 0x3E92, 0x3E90], 0),
    );
    let o = igdemu(&["run", rom.to_str().expect("utf-8")]);
    let out = stdout(&o);
    assert!(out.contains("device    3e92 CFL (gen9)"), "{out}");
    assert!(
        out.contains(
            "PCIR device 0406 is not in the list, 3e92 is its first listed ID igdemu knows"
        ),
        "{out}"
    );
    let o = igdemu(&["inspect", rom.to_str().expect("utf-8")]);
    assert!(
        stdout(&o)
            .contains("run as    3e92 CFL gen9 GT2 desktop; chosen from the ROM's device list"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn non_intel_and_uefi_only_roms_are_named_for_what_they_are() {
    let amd = rom_file("amd.rom", edited_rom(0x1002, 0x98E0, &[], 0));
    let o = igdemu(&["run", amd.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("1002:98e0, not an Intel IGD vBIOS"), "{err}");
    assert!(err.contains("to run it anyway as a machine test"), "{err}");
    // ...and it runs when the IGD is named.
    let o = igdemu(&["run", amd.to_str().expect("utf-8"), "--gen", "9"]);
    assert!(
        stdout(&o).contains("device    1902 SKL (gen9)"),
        "{}",
        stderr(&o)
    );

    let gop = rom_file("gop.efirom", edited_rom(0x8086, 0x3E92, &[], 3));
    let o = igdemu(&["run", gop.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("UEFI GOP driver for 8086:3e92"), "{err}");
    assert!(err.contains("not a legacy vBIOS"), "{err}");
}

/// The real Coffee Lake image (`IGDEMU_VBIOS_DIR`, default `../shared/vbios`):
/// PCIR 0406, list 3e90.. .
#[test]
fn real_cfl_image_runs_as_its_first_listed_device() {
    let dir = std::env::var("IGDEMU_VBIOS_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vbios").to_string());
    let path = std::path::Path::new(&dir).join("cfl-1014.rom");
    if !path.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{} missing (set IGDEMU_VBIOS_DIR)",
            path.display()
        );
        println!("skipped: {} missing (set IGDEMU_VBIOS_DIR)", path.display());
        return;
    }
    let o = igdemu(&[
        "run",
        path.to_str().expect("utf-8"),
        "--script",
        "",
        "--budget",
        "2000000",
    ]);
    let out = stdout(&o);
    assert!(out.contains("device    3e90 CFL (gen9)"), "{out}");
    assert!(out.contains("PCIR device 0406 is not in the list"), "{out}");
}

#[test]
fn device_id_is_hex_without_prefix() {
    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--device-id",
        "0126",
        "--script",
        "",
    ]);
    let out = stdout(&o);
    assert!(out.contains("device    0126 SNB"), "{out}{}", stderr(&o));
    let o = igdemu(&[
        "rom",
        "build",
        "skl-legacy",
        "--device-id",
        "1912",
        "-o",
        tmp("skl.rom").to_str().expect("utf-8"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rom = std::fs::read(tmp("skl.rom")).expect("written");
    let o = igdemu(&["inspect", tmp("skl.rom").to_str().expect("utf-8")]);
    assert!(stdout(&o).contains("1912"), "{}", stdout(&o));
    assert!(!rom.is_empty());
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

/// `--remapper xen` and `--remapper acrn` through the binary: ACRN prints its
/// OVMF/GOP note; a device outside ACRN's allowlist is an error naming why
/// (exit 2, as every set-up error); an unknown remapper lists both.
#[test]
fn xen_and_acrn_remappers_from_the_command_line() {
    let o = igdemu(&[
        "run",
        "builtin:skl-legacy",
        "--remapper",
        "acrn",
        "--script",
        "",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("remapper  acrn"), "{out}");
    assert!(
        out.contains("note: ACRN documents GVT-d with OVMF"),
        "{out}"
    );
    assert!(
        out.contains("guest stolen  [0x7c000000, 0x80000000)"),
        "{out}"
    );
    let o = igdemu(&[
        "run",
        "builtin:snb-legacy",
        "--remapper",
        "xen",
        "--script",
        "",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(
        out.contains("guest stolen  [0x8b800000, 0x8f800000)"),
        "{out}"
    );
    assert!(!out.contains("note:"), "{out}");
    let o = igdemu(&["run", "builtin:snb-legacy", "--remapper", "acrn"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not in ACRN's igd_device_tbl"),
        "{}",
        stderr(&o)
    );
    let o = igdemu(&["run", "builtin:snb-legacy", "--remapper", "bhyve"]);
    assert!(stderr(&o).contains("xen, acrn"), "{}", stderr(&o));
}

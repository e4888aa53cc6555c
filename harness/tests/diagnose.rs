//! Issue 14: the diagnosis follows the value from the device read to the
//! branch that decides on it, through read helpers, far returns, stack
//! saves, partial registers and shifts; it finds the loop's timeout, and it
//! tells a halt the ROM chose from a wait. Each shape is a project ROM
//! (`igdemu_roms::shapes`) with the diagnosis asserted exactly; the real
//! images (when present) are run with an override that forces a stall, and
//! the diagnosis must name the register and bit.

use igdemu::cpu::RunOutcome;
use igdemu::diagnose::walk::TimeoutKind;
use igdemu::diagnose::{Diagnosis, StopKind};
use igdemu::igd::{PolledRegister, RegisterOverride, WaitCondition};
use igdemu::session::{self, RemapperKind, Scenario};
use igdemu::trace::CsIp;
use igdemu_roms::shapes::{build_shape, Shape, TABLE_VALUES};

fn diagnose(rom: &[u8], overrides: &[&str], budget: u64) -> (Diagnosis, Option<RunOutcome>) {
    let mut sc = Scenario::for_rom(rom, RemapperKind::Strict);
    sc.overrides = overrides
        .iter()
        .map(|o| RegisterOverride::parse(o).expect("override parses"))
        .collect();
    sc.machine.budget = budget;
    let run = session::run(rom, &sc).expect("scenario runs");
    let step = run.report.steps[0].clone();
    (
        step.diagnosis
            .clone()
            .unwrap_or_else(|| panic!("no diagnosis: {step:?}")),
        step.run,
    )
}

/// A strict scenario for `rom` with register overrides, a script after POST
/// and an instruction budget per step.
fn scenario(rom: &[u8], overrides: &[&str], script: Vec<session::Step>, budget: u64) -> Scenario {
    let mut sc = Scenario::for_rom(rom, RemapperKind::Strict).with_script(script);
    sc.overrides = overrides
        .iter()
        .map(|o| RegisterOverride::parse(o).expect("override parses"))
        .collect();
    sc.machine.budget = budget;
    sc
}

fn vbe_1024() -> Vec<session::Step> {
    vec![session::Step::vbe(1024, 768, 32)]
}

fn at(ip: u16) -> CsIp {
    CsIp::new(0xC000, ip)
}

#[test]
fn a_poll_through_a_read_helper_waits_for_bit_16_to_clear() {
    let r = build_shape(Shape::HelperPoll).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0xe1100=const:0x10000"], 500_000);
    assert_eq!(d.kind, StopKind::Wait);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xE1100));
    assert_eq!(d.mask, Some(0x10000));
    assert_eq!(d.waiting_for, WaitCondition::BitClear(16));
    assert_eq!(d.value_read, 0x10000);
    assert_eq!(
        (d.cs, d.ip, d.end),
        (0xC000, r.labels["top"], r.labels["end"])
    );
    assert_eq!(d.read_at, Some(at(r.labels["read"])));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert_eq!(d.timeout, None);
    assert!(
        d.suggestion
            .ends_with("no timeout; try --override 0xe1100=const:0x0"),
        "{}",
        d.suggestion
    );
    assert_eq!(
        d.profile,
        vec!["overrides = [\"0xe1100=const:0x0\"]".to_string()]
    );
}

/// Issue 15: after a poll longer than the trace keeps, the diagnosis still
/// names the loop that stalled (it comes from the CPU's record, not the
/// trace).
#[test]
fn a_long_poll_before_the_stall_does_not_hide_it() {
    let r = build_shape(Shape::LongPollThenWait).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0xe1100=const:0x10000"], 3_000_000);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xE1100));
    assert_eq!(d.waiting_for, WaitCondition::BitClear(16));
    assert_eq!((d.ip, d.end), (r.labels["top"], r.labels["end"]));
}

#[test]
fn a_counted_poll_through_push_pop_shr_movzx_bt_has_a_counter_timeout() {
    let r = build_shape(Shape::CountedPoll).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0xc7200=const:0"], 500_000);
    assert_eq!(d.kind, StopKind::Wait);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC7200));
    assert_eq!(d.name, Some("PCH_PP_STATUS"));
    assert_eq!(d.mask, Some(1 << 31));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(31));
    assert_eq!((d.ip, d.end), (r.labels["top"], r.labels["expired"]));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    let t = d.timeout.expect("a timeout");
    assert_eq!(
        t.kind,
        TimeoutKind::Counter {
            register: "ECX".into()
        }
    );
    assert_eq!(t.at, at(r.labels["timeout"]));
    assert_eq!(t.expires_to, at(r.labels["expired"]));
}

#[test]
fn a_poll_on_a_high_byte_with_a_pm_timer_deadline() {
    let r = build_shape(Shape::DeadlinePoll).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0xc5108=const:0"], 500_000);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC5108));
    assert_eq!(d.mask, Some(1 << 11));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(11));
    assert_eq!(d.ip, r.labels["top"]);
    let t = d.timeout.expect("a timeout");
    assert!(
        matches!(t.kind, TimeoutKind::Deadline { port: Some(_) }),
        "{t:?}"
    );
    assert_eq!(t.at, at(r.labels["timeout"]));
    assert_eq!(t.expires_to, at(r.labels["expired"]));
}

#[test]
fn a_byte_test_through_bar0_in_unreal_mode() {
    let r = build_shape(Shape::UnrealPoll).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0xc7200=const:0"], 500_000);
    assert_eq!(d.register, PolledRegister::Mmio(0xC7203));
    assert_eq!(d.name, Some("PCH_PP_STATUS"));
    assert_eq!(d.mask, Some(1 << 31));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(31));
    assert_eq!((d.ip, d.end), (r.labels["top"], r.labels["end"]));
    assert_eq!(d.read_at, Some(at(r.labels["top"])));
    assert!(
        d.suggestion
            .ends_with("try --override 0xc7200=const:0x80000000"),
        "{}",
        d.suggestion
    );
}

#[test]
fn a_far_returning_helper_and_a_masked_compare() {
    let r = build_shape(Shape::FarPoll).unwrap();
    let (d, _) = diagnose(&r.bytes, &["0x130040=const:0"], 500_000);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x130040));
    assert_eq!(d.mask, Some(3));
    assert_eq!(
        d.waiting_for,
        WaitCondition::MaskEquals { mask: 3, value: 2 }
    );
    assert_eq!((d.ip, d.end), (r.labels["top"], r.labels["end"]));
    assert!(
        d.suggestion.ends_with("try --override 0x130040=const:0x2"),
        "{}",
        d.suggestion
    );
}

#[test]
fn a_table_lookup_that_fails_into_jmp_self_is_a_halt() {
    let r = build_shape(Shape::TableHalt).unwrap();
    let (d, outcome) = diagnose(&r.bytes, &["0x46000=const:0"], 500_000);
    assert!(matches!(outcome, Some(RunOutcome::BudgetExhausted { .. })));
    assert_eq!(d.kind, StopKind::Halt);
    assert_eq!(d.halt.as_deref(), Some("`jmp $`"));
    assert_eq!((d.cs, d.ip), (0xC000, r.labels["halt"]));
    assert_eq!(
        d.register,
        PolledRegister::IoBarIndex(0x46000),
        "{d:#?} {:x?}",
        r.labels
    );
    assert_eq!(d.name, Some("CDCLK_CTL"));
    assert_eq!(d.read_at, Some(at(r.labels["read"])));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert_eq!(
        d.waiting_for,
        WaitCondition::MaskEquals {
            mask: 0x7FF,
            value: u32::from(TABLE_VALUES[0])
        }
    );
    assert!(d.suggestion.starts_with(&format!(
        "the ROM stopped itself at c000:{:04x} (`jmp $`) after reading register 0x46000 CDCLK_CTL = 0x0 at c000:{:04x}; the branch at c000:{:04x} took the failure path",
        r.labels["halt"], r.labels["read"], r.labels["branch"]
    )), "{}", d.suggestion);
    // The suggested override gets past it.
    let fix = d
        .suggestion
        .rsplit("--override ")
        .next()
        .unwrap()
        .to_string();
    let mut sc = Scenario::for_rom(&r.bytes, RemapperKind::Strict);
    sc.overrides = vec![RegisterOverride::parse(&fix).unwrap()];
    sc.machine.budget = 500_000;
    let run = session::run(&r.bytes, &sc).unwrap();
    assert!(run.report.steps[0].returned, "{:?}", run.report.steps[0]);
}

#[test]
fn a_byte_lane_test_that_fails_into_cli_hlt_is_a_halt() {
    let r = build_shape(Shape::CliHlt).unwrap();
    let (d, outcome) = diagnose(&r.bytes, &["0xc7200=const:0"], 500_000);
    assert!(
        matches!(outcome, Some(RunOutcome::Idle { .. })),
        "{outcome:?}"
    );
    assert_eq!(d.kind, StopKind::Halt);
    assert_eq!(d.ip, r.labels["halt"] + 1, "the hlt after the cli");
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC7200));
    assert_eq!(d.mask, Some(1 << 31));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(31));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert!(
        d.suggestion
            .ends_with("try --override 0xc7200=const:0x80000000"),
        "{}",
        d.suggestion
    );
}

#[test]
fn a_vbe_call_that_fails_after_a_register_read_is_a_give_up() {
    let r = build_shape(Shape::VbeGiveUp).unwrap();
    let sc = scenario(&r.bytes, &["0xc7200=const:0"], vbe_1024(), 500_000);
    let run = session::run(&r.bytes, &sc).unwrap();
    let step = &run.report.steps[1];
    assert!(step.returned, "{step:?}");
    let d = step.diagnosis.clone().unwrap_or_else(|| panic!("{step:?}"));
    assert_eq!(d.kind, StopKind::GiveUp);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC7200));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(31));
    assert_eq!(
        d.decisions,
        vec![format!(
            "read register 0xc7200 PCH_PP_STATUS = 0x0 at c000:{:04x}; the branch at c000:{:04x} was not taken: bit 31 is 0",
            r.labels["read"], r.labels["branch"]
        )]
    );
}

/// The real images: `IGDEMU_VBIOS_DIR` (default `../shared/vbios` from the
/// workspace root). Missing: skipped with a message, or a failure under CI.
fn real_image(name: &str) -> Option<Vec<u8>> {
    let dir = std::env::var("IGDEMU_VBIOS_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vbios").to_string());
    let path = std::path::Path::new(&dir).join(name);
    match std::fs::read(&path) {
        Ok(b) => Some(b),
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{}: {e} (CI=true requires the real images)", path.display())
        }
        Err(e) => {
            eprintln!("SKIPPED: {}: {e}", path.display());
            None
        }
    }
}

fn real(name: &str, device: Option<u16>, overrides: &[&str]) -> Option<Diagnosis> {
    let rom = real_image(name)?;
    let mut sc = match device {
        Some(id) => Scenario::for_device(id, RemapperKind::Strict),
        None => Scenario::for_rom(&rom, RemapperKind::Strict),
    };
    sc.overrides = overrides
        .iter()
        .map(|o| RegisterOverride::parse(o).expect("override parses"))
        .collect();
    sc.machine.budget = 20_000_000;
    let run = session::run(&rom, &sc).expect("runs");
    let step = &run.report.steps[0];
    Some(
        step.diagnosis
            .clone()
            .unwrap_or_else(|| panic!("no diagnosis: {step:?}")),
    )
}

/// The CRT hotplug force trigger (`ADPA` bit 16, which the hardware clears
/// when detection completes) held set at `adpa`: the ROM spins on it, and the
/// diagnosis names the register and the bit.
fn crt_hotplug_held(file: &str, adpa: u32) -> Option<Diagnosis> {
    let d = real(file, None, &[&format!("{adpa:#x}=const:0x10000")])?;
    assert_eq!(d.register, PolledRegister::IoBarIndex(adpa));
    assert_eq!(d.waiting_for, WaitCondition::BitClear(16));
    Some(d)
}

#[test]
fn real_snb_crt_hotplug_trigger_held_is_diagnosed() {
    // PCH_ADPA (0xE1100).
    let Some(d) = crt_hotplug_held("intel-fsp-chiefriver-snm_2170.dat", 0xE1100) else {
        return;
    };
    assert_eq!(d.kind, StopKind::Wait);
    assert!(d.branch_at.is_some() && d.end > d.ip, "{d:?}");
}

#[test]
fn real_hsw_crt_hotplug_trigger_held_is_diagnosed() {
    crt_hotplug_held("intel-fsp-sharkbay-hsw2180.dat", 0xE1100);
}

#[test]
fn real_byt_crt_hotplug_trigger_held_is_diagnosed() {
    // VLV's display registers sit at 0x180000 + the gmch offset.
    crt_hotplug_held("intel-fsp-baytrail-vga.dat", 0x1E1100);
}

#[test]
fn real_cfl_unknown_cdclk_is_a_halt_after_the_table_lookup() {
    let Some(d) = real("cfl-1014.rom", Some(0x3E92), &["0x46000=const:0"]) else {
        return;
    };
    assert_eq!(d.kind, StopKind::Halt);
    assert_eq!(d.halt.as_deref(), Some("`jmp $`"));
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x46000));
    assert_eq!(d.name, Some("CDCLK_CTL"));
    assert!(
        matches!(d.waiting_for, WaitCondition::MaskEquals { mask: 0x7FF, .. }),
        "{d:?}"
    );
}

#[test]
fn real_byt_dp_aux_transaction_that_never_finishes_is_diagnosed() {
    // DP_AUX_CH_CTL SEND_BUSY (bit 31) clears when the AUX transaction ends;
    // held set on VLV's port B channel, the ROM waits on it for ever.
    let Some(d) = real(
        "intel-fsp-baytrail-vga.dat",
        None,
        &["0x1e4110=const:0x80000000"],
    ) else {
        return;
    };
    assert_eq!(d.kind, StopKind::Wait);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x1E4110));
    assert_eq!(d.name, Some("DPB_AUX_CH_CTL"));
    assert_eq!(d.waiting_for, WaitCondition::BitClear(31));
    assert_eq!(d.value_read, 0x8000_0000);
}

#[test]
fn real_byt_pll_that_never_locks_is_diagnosed() {
    // VLV DPLL_A (0x186014): DPLL_LOCK_VLV (bit 15) sets once the enabled
    // PLL locks; held clear, the ROM waits for it.
    let Some(d) = real("intel-fsp-baytrail-vga.dat", None, &["0x186014=ro:0"]) else {
        return;
    };
    assert_eq!(d.kind, StopKind::Wait);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x186014));
    assert_eq!(d.name, Some("DPLL_A"));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(15));
}

/// The regression flow through the CLI: a ROM whose profile forces a
/// register the ROM rejects halts; `igdemu run` prints the profile lines
/// that get past it; written to the profile, the re-run returns.
#[test]
fn profile_round_trip_through_the_cli() {
    let dir = std::env::temp_dir().join(format!("igdemu-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rom = dir.join("table-halt.rom");
    std::fs::write(&rom, build_shape(Shape::TableHalt).unwrap().bytes).unwrap();
    let profile = dir.join("table-halt.rom.toml");
    std::fs::write(
        &profile,
        "overrides = [\"0x46000=const:0\"]\nnote = \"CDCLK_CTL reads 0\"\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", rom.to_str().unwrap(), "--budget", "500000"];
        args.extend_from_slice(extra);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_igdemu"))
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(&[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("profile   "),
        "the profile in use is shown: {text}"
    );
    let lines: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("profile   to get past this stop"))
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(
        lines,
        vec![
            format!("overrides = [\"0x46000=const:{:#x}\"]", TABLE_VALUES[0]),
            "note = \"stalled on 0x46000 CDCLK_CTL\"".to_string(),
        ],
        "{text}"
    );
    std::fs::write(&profile, lines.join("\n") + "\n").unwrap();
    let (code, text) = run(&["--script", "post"]);
    assert!(
        text.contains("step      post               returned"),
        "{text}"
    );
    assert_ne!(code, Some(2), "{text}");
    // `igdemu corpus` reads the profile beside the ROM too.
    let corpus = |dir: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_igdemu"))
            .args([
                "corpus",
                dir.to_str().unwrap(),
                "--jobs",
                "1",
                "--budget",
                "500000",
            ])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let table = corpus(&dir);
    assert!(
        table.contains(&format!(
            "corpus: {} runs with its profile {}",
            rom.display(),
            profile.display()
        )),
        "{table}"
    );
    // --profile FILE takes a profile from anywhere.
    let elsewhere = dir.join("other.toml");
    std::fs::write(&elsewhere, "overrides = [\"0x46000=const:0x0\"]\n").unwrap();
    let (code, _) = run(&["--profile", elsewhere.to_str().unwrap()]);
    assert_eq!(code, Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_annotates_the_loop_with_reads_and_branch_directions() {
    let dir = std::env::temp_dir().join(format!("igdemu-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = build_shape(Shape::HelperPoll).unwrap();
    let rom = dir.join("helper-poll.rom");
    std::fs::write(&rom, &r.bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_igdemu"))
        .args([
            "explain",
            rom.to_str().unwrap(),
            "--override",
            "0xe1100=const:0x10000",
            "--budget",
            "300000",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let branch = text
        .lines()
        .find(|l| {
            l.get(2..)
                .unwrap_or("")
                .starts_with(&format!("c000:{:04x}", r.labels["branch"]))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(branch.contains("not taken 0x, last taken"), "{branch}");
    assert!(
        branch.contains("deciding branch: the other way needs bit 16 to become 0"),
        "{branch}"
    );
    let read = text
        .lines()
        .find(|l| l.starts_with(&format!("=>c000:{:04x}", r.labels["read"])))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(read.contains("read register 0xe1100"), "{read}");
    assert!(read.contains(" = 0x10000 ("), "{read}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unsigned_range_compare_on_a_field_is_decoded() {
    let r = build_shape(Shape::RangePoll).unwrap();
    // Power sequence field (bits 29:28) = 1: below the 2 the loop waits for.
    let (d, _) = diagnose(&r.bytes, &["0xc7200=const:0x10000000"], 500_000);
    assert_eq!(d.kind, StopKind::Wait);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC7200));
    assert_eq!(d.mask, Some(0x3000_0000));
    assert_eq!(
        d.waiting_for,
        WaitCondition::FieldAtLeast {
            mask: 0x3000_0000,
            shift: 28,
            limit: 2
        }
    );
    assert_eq!(d.value_read, 0x1000_0000);
    assert_eq!(
        (d.cs, d.ip, d.end),
        (0xC000, r.labels["top"], r.labels["end"])
    );
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert!(
        d.suggestion.starts_with(
            "register 0xc7200 PCH_PP_STATUS: waiting for bits 29:28 at least 0x2 (last read 0x10000000)"
        ),
        "{}",
        d.suggestion
    );
    assert!(
        d.suggestion
            .ends_with("no timeout; try --override 0xc7200=const:0x20000000"),
        "{}",
        d.suggestion
    );
}

#[test]
fn int_19h_after_a_register_read_is_a_halt_the_rom_chose() {
    let r = build_shape(Shape::Int19Halt).unwrap();
    let (d, run) = diagnose(&r.bytes, &["0x4f018=const:0"], 500_000);
    assert_eq!(
        run,
        Some(RunOutcome::BootRequest {
            at: at(r.labels["halt"]),
            vector: 0x19
        })
    );
    assert_eq!(d.kind, StopKind::Halt);
    assert_eq!(d.halt.as_deref(), Some("INT 19h (bootstrap loader)"));
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x4F018));
    assert_eq!(d.read_at, Some(at(r.labels["read"])));
    assert_eq!(d.branch_at, Some(at(r.labels["branch"])));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(0));
    assert_eq!((d.cs, d.ip), (0xC000, r.labels["halt"]));
    assert!(
        d.suggestion.starts_with(&format!(
            "the ROM stopped itself at c000:{:04x} (INT 19h (bootstrap loader)) after reading register 0x4f018",
            r.labels["halt"]
        )),
        "{}",
        d.suggestion
    );
}

#[test]
fn a_wait_that_timed_out_in_post_explains_a_later_failure() {
    let r = build_shape(Shape::TimeoutThenGiveUp).unwrap();
    // GMBUS2 with HW_RDY (bit 11) never set.
    let sc = scenario(&r.bytes, &["0xc5108=const:0x8400"], vbe_1024(), 2_000_000);
    let run = session::run(&r.bytes, &sc).unwrap();
    let post = &run.report.steps[0];
    assert!(post.succeeded, "{post:?}");
    assert_eq!(post.timeouts.len(), 1, "{post:?}");
    let t = &post.timeouts[0];
    assert_eq!(t.kind, StopKind::TimedOut);
    assert_eq!(t.register, PolledRegister::IoBarIndex(0xC5108));
    assert_eq!(t.waiting_for, WaitCondition::BitSet(11));
    assert_eq!(t.value_read, 0x8400);
    assert_eq!(t.expired, 1);
    assert_eq!(t.branch_at, Some(at(r.labels["branch"])));
    let timeout = t.timeout.clone().expect("a timeout");
    assert_eq!(
        timeout.kind,
        TimeoutKind::Counter {
            register: "CX".into()
        }
    );
    assert_eq!(timeout.at, at(r.labels["timeout"]));
    assert_eq!(timeout.expires_to, at(r.labels["expired"]));
    assert_eq!((t.cs, t.ip), (0xC000, r.labels["top"]));
    assert!(post.notes.contains(&t.suggestion), "{post:?}");

    // The VBE call reads nothing and fails: the wait that timed out is named.
    let vbe = &run.report.steps[1];
    assert!(vbe.returned && !vbe.succeeded, "{vbe:?}");
    let d = vbe.diagnosis.clone().unwrap_or_else(|| panic!("{vbe:?}"));
    assert_eq!(d.kind, StopKind::GiveUp);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC5108));
    assert_eq!(d.waiting_for, WaitCondition::BitSet(11));
    assert!(
        d.suggestion.contains(
            "before it, register 0xc5108 GMBUS2: a wait for bit 11 to become 1 timed out (last read 0x8400)"
        ),
        "{}",
        d.suggestion
    );
    assert_eq!(d.profile, vec!["overrides = [\"0xc5108=const:0x8c00\"]"]);

    // HW_RDY set: the poll ends at once, nothing timed out, and the same
    // failure names no wait.
    let sc = scenario(&r.bytes, &["0xc5108=const:0x800"], vbe_1024(), 2_000_000);
    let run = session::run(&r.bytes, &sc).unwrap();
    assert!(run.report.steps.iter().all(|s| s.timeouts.is_empty()));
    assert!(run.report.steps[1].diagnosis.is_none());
}

/// GMBUS held in use by someone else (`GMBUS2` bit 15 `GMBUS_INUSE` always
/// set): the HSW+BDW image's acquire loop times out in POST, the EDID is
/// never read, and the desktop image lists no 1024x768 mode. The VBE step's
/// failure names the wait that timed out.
#[test]
fn real_bdw_gmbus_held_in_use_is_named_when_the_mode_is_missing() {
    let Some(rom) = real_image("chromebox-bdw-1040.bin") else {
        return;
    };
    let sc = scenario(&rom, &["0xc5108=const:0x8000"], vbe_1024(), 20_000_000);
    let run = session::run(&rom, &sc).expect("runs");
    let post = &run.report.steps[0];
    assert!(post.succeeded, "{post:?}");
    let t = post
        .timeouts
        .iter()
        .find(|t| t.register == PolledRegister::IoBarIndex(0xC5108))
        .unwrap_or_else(|| panic!("no GMBUS2 timeout: {post:?}"));
    assert_eq!(t.waiting_for, WaitCondition::BitClear(15));
    assert!(matches!(
        t.timeout.as_ref().map(|x| &x.kind),
        Some(TimeoutKind::Counter { .. })
    ));
    let vbe = &run.report.steps[1];
    assert!(!vbe.succeeded, "{vbe:?}");
    let d = vbe.diagnosis.clone().unwrap_or_else(|| panic!("{vbe:?}"));
    assert_eq!(d.kind, StopKind::GiveUp);
    assert_eq!(d.register, PolledRegister::IoBarIndex(0xC5108));
    assert_eq!(d.waiting_for, WaitCondition::BitClear(15));
    assert_eq!(d.profile, vec!["overrides = [\"0xc5108=const:0x0\"]"]);
}

/// POST that returns without writing a GTT entry, and nothing later that
/// does: the run is inconclusive, and POST carries the branches on device
/// reads that led there.
#[test]
fn a_post_that_never_touches_the_gtt_shows_its_decisions() {
    let r = build_shape(Shape::Int19Halt).unwrap();
    let sc = scenario(&r.bytes, &["0x4f018=const:1"], Vec::new(), 500_000);
    let run = session::run(&r.bytes, &sc).unwrap();
    assert_eq!(run.report.verdict, session::Verdict::Inconclusive);
    let post = &run.report.steps[0];
    assert!(post.succeeded, "{post:?}");
    let d = post.diagnosis.clone().unwrap_or_else(|| panic!("{post:?}"));
    assert_eq!(d.kind, StopKind::GiveUp);
    assert_eq!(
        d.halt.as_deref(),
        Some("POST returned without writing a GTT entry")
    );
    assert_eq!(d.register, PolledRegister::IoBarIndex(0x4F018));
    assert_eq!(
        d.decisions,
        vec![format!(
            "read register 0x4f018 = 0x1 at c000:{:04x}; the branch at c000:{:04x} was taken: bit 0 is 1",
            r.labels["read"], r.labels["branch"]
        )]
    );
}

/// A mode set that returns AX=004Fh but leaves every display plane off is a
/// failed step: DSPCNTR held at 0 on the SNB/IVB image.
#[test]
fn real_snb_mode_set_that_leaves_the_plane_off_is_a_give_up() {
    let Some(rom) = real_image("intel-fsp-chiefriver-snm_2170.dat") else {
        return;
    };
    let planes_off = ["0x70180=const:0", "0x71180=const:0", "0x72180=const:0"];
    let mut sc = scenario(&rom, &planes_off, vbe_1024(), 20_000_000);
    let run = session::run(&rom, &sc).expect("runs");
    let vbe = &run.report.steps[1];
    assert!(vbe.returned && !vbe.succeeded, "{vbe:?}");
    assert!(
        vbe.outcome.contains("no display plane is enabled"),
        "{}",
        vbe.outcome
    );
    let d = vbe.diagnosis.clone().unwrap_or_else(|| panic!("{vbe:?}"));
    assert_eq!(d.kind, StopKind::GiveUp);
    assert!(!d.decisions.is_empty(), "{d:?}");
    // The same image with the plane free to enable sets the mode.
    sc.overrides.clear();
    let run = session::run(&rom, &sc).expect("runs");
    assert!(run.report.steps[1].succeeded, "{:?}", run.report.steps[1]);
}

//! One run of a vBIOS through the whole pipeline (DESIGN.md: ROM bytes →
//! OptionRom → Machine → Run → Trace → Checker → Report): build the machine
//! with the IGD behind a remapper at 00:02.0, do the firmware step SeaBIOS does
//! for IGD, POST the ROM, run a script of INT 10h calls (and FLRs), then check
//! every GTT entry and device access against the guest stolen region.
//!
//! ```no_run
//! use igdemu::session::{RemapperKind, Scenario, Step};
//! let rom = std::fs::read("snb.rom").unwrap();
//! let scenario = Scenario::for_rom(&rom, RemapperKind::Strict)
//!     .with_script(vec![Step::vbe(1024, 768, 32)]);
//! let run = igdemu::session::run(&rom, &scenario).unwrap();
//! assert!(run.report.verdict.is_clean(), "{:?}", run.report.verdict);
//! ```

use std::collections::BTreeMap;

use crate::addr::{GuestPhys, HostPhys, Region};
use crate::check::{self, CheckInput, Origin, Violation};
use crate::cpu::rom;
use crate::cpu::{Registers, RunOutcome};
use crate::igd::generation::{self, BdsmLocation, Gen, GenError};
use crate::igd::{
    diagnose_spin, IgdConfig, IgdDevice, IgdError, PolledRegister, RegisterOverride, SpinDiagnosis,
    SpinLoop,
};
use crate::machine::igd_slot::{DmaRun, IgdFunction};
use crate::machine::iommu::{AccessClass, Iommu, Mapping};
use crate::machine::memory::E820Type;
use crate::machine::{slot, LoadOptions, Machine, MachineConfig, MachineError};
use crate::passthrough::firmware::{self, BdsmWrite, FirmwareInput};
use crate::passthrough::qemu_release::{self, QemuSetup, Refusal};
use crate::passthrough::{
    Outcome, PassthroughEvent, Qemu2016, Qemu2025, QemuIgd, Remapper, Strict,
};
use crate::pci::{cap_id, PciFunction};
use crate::trace::{CsIp, EventKind};

const MIB: u64 = 1 << 20;

/// Which passthrough policy sits between guest and device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum RemapperKind {
    /// `qemu-2016`: QEMU 9.1.0, the last release of the BAR4 rebase era.
    Qemu2016,
    /// `qemu-2025`: QEMU 10.1.0: emulated BDSM and BAR0 mirrors, no BAR4 rewrite.
    Qemu2025,
    /// igdemu's strict remapper (refuse what it cannot contain).
    Strict,
    /// One QEMU release (2.7 to 10.2) with `x-igd-*` options
    /// (`qemu-9.1,x-igd-gms=2`).
    Qemu(QemuSetup),
}

impl RemapperKind {
    /// The matrix columns, in order.
    pub const ALL: [RemapperKind; 3] = [
        RemapperKind::Qemu2016,
        RemapperKind::Qemu2025,
        RemapperKind::Strict,
    ];

    /// CLI name (a release's name without its options).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            RemapperKind::Qemu2016 => "qemu-2016",
            RemapperKind::Qemu2025 => "qemu-2025",
            RemapperKind::Strict => "strict",
            RemapperKind::Qemu(s) => s.release.name(),
        }
    }

    /// Parse a CLI name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_spec(s).ok()
    }

    /// Parse `strict`, `qemu-2016`, `qemu-2025` or `qemu-X.Y[,x-igd-...=V]...`,
    /// explaining a rejected release or option.
    pub fn parse_spec(s: &str) -> Result<Self, String> {
        if let Some(k) = Self::ALL.into_iter().find(|k| k.name() == s) {
            return Ok(k);
        }
        if !s.starts_with("qemu-") {
            return Err(format!(
                "unknown remapper {s:?}: strict, qemu-2016, qemu-2025 or qemu-X.Y (2.7 to 10.2) with x-igd-* options"
            ));
        }
        QemuSetup::parse(s)
            .map(RemapperKind::Qemu)
            .map_err(|e| e.to_string())
    }

    /// The QEMU release and options this kind stands for (aliases included).
    #[must_use]
    pub const fn qemu(self) -> Option<QemuSetup> {
        match self {
            RemapperKind::Qemu2016 => Some(QemuSetup::release(qemu_release::ALIAS_2016)),
            RemapperKind::Qemu2025 => Some(QemuSetup::release(qemu_release::ALIAS_2025)),
            RemapperKind::Strict => None,
            RemapperKind::Qemu(s) => Some(s),
        }
    }

    /// Whether the VMM gives this device legacy mode at all (QEMU's realize
    /// for the host config space `host`).
    pub fn admit(self, host: &crate::pci::ConfigSpace) -> Result<(), Refusal> {
        match self.qemu() {
            Some(setup) => qemu_release::realize(&setup, host).map(|_| ()),
            None => Ok(()),
        }
    }

    /// A fresh remapper of this kind.
    #[must_use]
    pub fn build(self) -> Box<dyn Remapper> {
        match self {
            RemapperKind::Qemu2016 => Box::new(Qemu2016::new()),
            RemapperKind::Qemu2025 => Box::new(Qemu2025::new()),
            RemapperKind::Strict => Box::new(Strict::default()),
            RemapperKind::Qemu(s) => Box::new(QemuIgd::new(s)),
        }
    }

    /// How firmware writes BDSM under this VMM: QEMU boots SeaBIOS, whose
    /// `intel_igd_setup` always writes 32 bits at 0x5C; igdemu's own policy
    /// pairs with a firmware that writes the generation's register.
    #[must_use]
    pub const fn default_bdsm_write(self, loc: BdsmLocation) -> BdsmWrite {
        match (self, loc) {
            (RemapperKind::Strict, BdsmLocation::ConfigC0) => BdsmWrite::Generation(loc),
            _ => BdsmWrite::SeaBios,
        }
    }
}

/// One step of the script run after POST.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Step {
    /// Find a VBE mode with this geometry (4F00, 4F01 over the mode list) and
    /// set it with a linear framebuffer (4F02).
    Vbe {
        /// Width in pixels.
        width: u16,
        /// Height in pixels.
        height: u16,
        /// Bits per pixel.
        bpp: u8,
    },
    /// Set VGA text mode 3 and write a string with INT 10h AH=0Eh.
    Text(String),
    /// Function-level reset of the IGD (as the VMM does between boots).
    Flr,
    /// Reload the ROM into the shadow and run its init again.
    Post,
}

impl Step {
    /// `Step::Vbe` shorthand.
    #[must_use]
    pub const fn vbe(width: u16, height: u16, bpp: u8) -> Step {
        Step::Vbe { width, height, bpp }
    }

    /// Parse a script: comma-separated `vbe:1024x768x32`, `text:hello`, `flr`, `post`.
    pub fn parse_script(s: &str) -> Result<Vec<Step>, String> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let step = if let Some(g) = item.strip_prefix("vbe:") {
                let parts: Vec<_> = g.split('x').collect();
                let n = |i: usize| parts.get(i).and_then(|p| p.parse::<u16>().ok());
                match (n(0), n(1), n(2)) {
                    (Some(w), Some(h), Some(b)) if parts.len() == 3 && b <= 32 => {
                        Step::vbe(w, h, b as u8)
                    }
                    _ => {
                        return Err(format!(
                            "bad VBE mode {g:?}: write WIDTHxHEIGHTxBPP, e.g. vbe:1024x768x32"
                        ))
                    }
                }
            } else if let Some(t) = item.strip_prefix("text:") {
                Step::Text(t.to_string())
            } else if item == "flr" {
                Step::Flr
            } else if item == "post" {
                Step::Post
            } else {
                return Err(format!(
                    "unknown script step {item:?}: use vbe:WxHxBPP, text:STRING, flr or post"
                ));
            };
            out.push(step);
        }
        Ok(out)
    }

    fn label(&self) -> String {
        match self {
            Step::Vbe { width, height, bpp } => format!("vbe {width}x{height}x{bpp}"),
            Step::Text(t) => format!("text {t:?}"),
            Step::Flr => "flr".into(),
            Step::Post => "post".into(),
        }
    }
}

/// Everything a run depends on.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// IGD device ID (decides the generation).
    pub device_id: u16,
    /// Host BDSM (1 MiB aligned).
    pub host_bdsm: u64,
    /// Host stolen (DSM) size; must be expressible in GGC.
    pub stolen_size: u64,
    /// GTT (GSM) size.
    pub gtt_size: u64,
    /// The passthrough policy.
    pub remapper: RemapperKind,
    /// Steps after POST.
    pub script: Vec<Step>,
    /// The machine.
    pub machine: MachineConfig,
    /// Run a ROM whose checksum is wrong.
    pub allow_bad_checksum: bool,
    /// How the firmware writes BDSM (SeaBIOS: 32-bit at 0x5C always).
    pub bdsm_write: Option<BdsmWrite>,
    /// Register behaviour overrides (`--override REG=BEHAVIOUR`).
    pub overrides: Vec<RegisterOverride>,
}

/// Default host BDSM: 1 MiB aligned, above a 2 GiB guest's RAM.
pub const DEFAULT_HOST_BDSM: u64 = 0x8B80_0000;

impl Scenario {
    /// A scenario for the generation's default device.
    #[must_use]
    pub fn for_device(device_id: u16, remapper: RemapperKind) -> Self {
        let info = generation::lookup(device_id)
            .unwrap_or_else(|_| generation::default_for_gen(Gen::Gen9));
        let mut machine = MachineConfig {
            host_bridge: (info.host_bridge_id, 0x09),
            lpc_bridge: (info.lpc_bridge_id, 0x04),
            ..MachineConfig::default()
        };
        machine.budget = 400_000_000;
        Self {
            device_id,
            host_bdsm: DEFAULT_HOST_BDSM,
            stolen_size: 64 * MIB,
            gtt_size: 2 * MIB,
            remapper,
            script: Vec::new(),
            machine,
            allow_bad_checksum: false,
            bdsm_write: None,
            overrides: Vec::new(),
        }
    }

    /// A scenario for a ROM: its PCIR device if that is a known Intel IGD,
    /// otherwise a Skylake IGD (the ROM then drives another device, e.g.
    /// SeaVGABIOS the standard VGA at 00:03.0).
    #[must_use]
    pub fn for_rom(rom_bytes: &[u8], remapper: RemapperKind) -> Self {
        let id = rom::select_x86(rom_bytes)
            .ok()
            .map(|(img, _, _)| img)
            .filter(|img| img.vendor == 0x8086)
            .and_then(|img| {
                std::iter::once(img.device)
                    .chain(img.device_list)
                    .find(|d| generation::lookup(*d).is_ok())
            })
            .unwrap_or(generation::default_for_gen(Gen::Gen9).device_ids[0]);
        Self::for_device(id, remapper)
    }

    /// The same scenario with another script.
    #[must_use]
    pub fn with_script(mut self, script: Vec<Step>) -> Self {
        self.script = script;
        self
    }

    /// The IGD configuration this scenario describes.
    pub fn igd_config(&self) -> Result<IgdConfig, SessionError> {
        let mut cfg = IgdConfig::for_device(self.device_id)?;
        let info = generation::lookup(self.device_id)?;
        let gms = info
            .gms_for_size(self.stolen_size)
            .ok_or(SessionError::StolenSize {
                size: self.stolen_size,
                platform: info.name,
            })?;
        let ggms = info
            .ggms_for_size(self.gtt_size)
            .ok_or(SessionError::GttSize {
                size: self.gtt_size,
                platform: info.name,
            })?;
        cfg.ggc = info.encode_ggc(gms, ggms);
        cfg.host_bdsm = HostPhys(self.host_bdsm);
        Ok(cfg)
    }
}

/// Why a run could not be set up. (A ROM that faults or hangs is not an
/// error: it is a [`StepReport`] outcome.)
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The device ID or GGC is not valid.
    #[error(transparent)]
    Device(#[from] IgdError),
    /// Unknown device.
    #[error(transparent)]
    Generation(#[from] GenError),
    /// The ROM image is malformed.
    #[error("the ROM is not a valid option ROM: {0}")]
    Rom(#[from] rom::RomError),
    /// The machine could not be built or driven.
    #[error(transparent)]
    Machine(#[from] MachineError),
    /// Stolen size not expressible.
    #[error("{platform} cannot encode a stolen size of {size:#x} bytes in GGC (try 32M, 64M, 128M; gen9+ also 4M..60M)")]
    StolenSize {
        /// Size asked for.
        size: u64,
        /// Platform name.
        platform: &'static str,
    },
    /// GTT size not expressible.
    #[error("{platform} cannot encode a GTT size of {size:#x} bytes in GGC")]
    GttSize {
        /// Size asked for.
        size: u64,
        /// Platform name.
        platform: &'static str,
    },
    /// The firmware step failed.
    #[error("firmware step: {0}")]
    Firmware(#[from] firmware::FirmwareError),
    /// The QEMU release gives this device no legacy mode (or fails to start).
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// The ROM as loaded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RomSummary {
    /// File size in bytes.
    pub size: usize,
    /// PCIR vendor:device of the x86 image.
    pub vendor: u16,
    /// PCIR device.
    pub device: u16,
    /// Image size from the header.
    pub image_size: usize,
    /// Whether the checksum held.
    pub checksum_ok: bool,
    /// The function the ROM was initialized for.
    pub bdf: Option<String>,
}

/// The simulated IGD.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeviceSummary {
    /// Device ID.
    pub device_id: u16,
    /// Platform name.
    pub platform: &'static str,
    /// Generation.
    pub gen: String,
    /// GGC as the host has it.
    pub ggc: u16,
}

/// The memory regions that matter.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Regions {
    /// Host stolen memory.
    pub host_stolen: Region<HostPhys>,
    /// Guest stolen region the firmware reserved.
    pub guest_stolen: Option<Region<GuestPhys>>,
    /// The OpRegion.
    pub opregion: Option<Region<GuestPhys>>,
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// What the step was.
    pub step: String,
    /// Whether the guest code returned.
    pub returned: bool,
    /// A one-line outcome.
    pub outcome: String,
    /// Extra findings (VBE mode chosen, text read back...).
    pub notes: Vec<String>,
    /// For a run that spun until the budget ran out: the register it polled
    /// and what it waited for.
    pub diagnosis: Option<SpinDiagnosis>,
    /// The outcome in full (faults with CS:IP and the last instructions).
    #[serde(skip)]
    pub run: Option<RunOutcome>,
}

/// A run of GTT entries written with a constant stride, as the device ended
/// up holding them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GttRun {
    /// First entry index.
    pub first: u64,
    /// Entries in the run.
    pub count: u64,
    /// What the guest wrote to the first entry (dwords assembled).
    pub guest_first: u64,
    /// What the device holds in the first entry.
    pub device_first: u64,
    /// Increment per entry (4096 for a run of pages; 0 for identical entries).
    pub step: u64,
    /// What the passthrough layer did.
    pub outcome: String,
    /// The instruction that wrote them (the last write).
    pub at: CsIp,
}

/// The worst thing that happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Verdict {
    /// Every entry and access inside guest stolen memory.
    Clean,
    /// Accesses that no IOMMU mapping covers (DMAR faults).
    Fault,
    /// Accesses into other guest RAM (silent corruption).
    Corrupt,
    /// Untranslated host stolen addresses reached the device.
    Escape,
    /// The VMM stopped the VM (QEMU's hw_error).
    Stopped,
    /// The ROM could not run: POST or a script step did not complete.
    DidNotRun,
}

impl Verdict {
    /// Lower-case name for tables.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Fault => "fault",
            Verdict::Corrupt => "corrupt",
            Verdict::Escape => "escape",
            Verdict::Stopped => "stopped",
            Verdict::DidNotRun => "did-not-run",
        }
    }

    /// Whether nothing went wrong.
    #[must_use]
    pub fn is_clean(self) -> bool {
        self == Verdict::Clean
    }
}

/// The result of a run: everything a user (and a snapshot) needs, stable
/// across runs and machines (no timestamps, no host paths).
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionReport {
    /// The ROM.
    pub rom: RomSummary,
    /// The IGD.
    pub device: DeviceSummary,
    /// The remapper.
    pub remapper: &'static str,
    /// Regions.
    pub regions: Regions,
    /// POST and each script step.
    pub steps: Vec<StepReport>,
    /// GTT entries written (folded into runs).
    pub gtt: Vec<GttRun>,
    /// The containment check.
    pub check: check::Report,
    /// Device DMA runs (aperture accesses after GTT translation).
    pub dma: Vec<DmaRun>,
    /// Aperture accesses through invalid entries.
    pub aperture_faults: u64,
    /// Guest instructions executed.
    pub instructions: u64,
    /// Trace events recorded (and dropped past the cap).
    pub trace_events: u64,
    /// Events past the cap.
    pub trace_dropped: u64,
    /// Worst outcome.
    pub verdict: Verdict,
}

/// A finished run: the report and the machine (trace, memory, device state).
pub struct SessionRun {
    /// The report.
    pub report: SessionReport,
    /// The machine after the run.
    pub machine: Machine,
}

impl std::fmt::Debug for SessionRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRun")
            .field("report", &self.report)
            .finish_non_exhaustive()
    }
}

impl SessionRun {
    /// The IGD function.
    #[must_use]
    pub fn igd(&self) -> Option<&IgdFunction> {
        self.machine.device::<IgdFunction>(slot::DISPLAY)
    }
}

/// Run `rom` through `scenario`.
pub fn run(rom_bytes: &[u8], scenario: &Scenario) -> Result<SessionRun, SessionError> {
    let info = generation::lookup(scenario.device_id)?;
    let config = scenario.igd_config()?;
    let ggc = config.ggc;
    let mut device = IgdDevice::new(config)?;
    scenario.remapper.admit(device.config())?;
    for o in &scenario.overrides {
        device.apply_override(o);
    }
    let host_stolen = Region::new(device.host_bdsm(), device.stolen_size());
    let mut machine = Machine::new(scenario.machine.clone())?;
    let low = scenario
        .machine
        .ram_size
        .min(crate::machine::memory::PCI_HOLE);
    let iommu = Iommu::new(
        vec![Mapping {
            guest: Region::new(GuestPhys(0), low),
            host: HostPhys(0x1_0000_0000),
        }],
        None,
        host_stolen,
    );
    let mut igd = IgdFunction::new(
        device,
        scenario.remapper.build(),
        iommu,
        machine.memory().clone(),
    );

    // Firmware step (SeaBIOS intel_igd_setup): reserve guest stolen memory and
    // the OpRegion, write BDSM and ASLS.
    let e820 = machine.state().e820().entries().to_vec();
    let bdsm_write = scenario
        .bdsm_write
        .unwrap_or(scenario.remapper.default_bdsm_write(info.bdsm));
    let layout = firmware::intel_igd_setup(&FirmwareInput {
        ram_top_below_4g: low,
        e820,
        bdsm_size: igd.passthrough().bdsm_size(),
        opregion: Some(firmware::default_opregion()),
        bdsm_write,
    })?;
    for poke in &layout.config_writes {
        igd.config_write(poke.offset, &poke.data);
    }
    igd.set_guest_stolen(layout.stolen);
    if let Some(r) = layout.stolen {
        machine.set_e820(r.base.0, r.size, E820Type::Reserved);
    }
    if let Some(r) = layout.opregion {
        machine.set_e820(r.base.0, r.size, E820Type::Nvs);
        machine.write_guest(r.base.0, &layout.opregion_bytes)?;
    }
    machine.plug(slot::DISPLAY, Box::new(igd))?;

    // POST.
    let loaded = machine.load_option_rom(
        rom_bytes,
        LoadOptions {
            allow_bad_checksum: scenario.allow_bad_checksum,
            bdf: None,
        },
    )?;
    let rom_summary = RomSummary {
        size: rom_bytes.len(),
        vendor: loaded.image.vendor,
        device: loaded.image.device,
        image_size: loaded.image.size,
        checksum_ok: loaded.checksum_ok,
        bdf: loaded.bdf.map(|b| b.to_string()),
    };
    let mut steps = Vec::new();
    let mut instructions = 0u64;
    let post = machine.run_option_rom_init();
    instructions += outcome_instructions(&post);
    let mut alive = post.returned();
    steps.push(step_report("post".into(), post, Vec::new()));
    diagnose_last(&machine, info.platform, &mut steps);
    for step in &scenario.script {
        if !alive {
            steps.push(StepReport {
                step: step.label(),
                returned: false,
                outcome: "skipped: an earlier step failed".into(),
                notes: Vec::new(),
                diagnosis: None,
                run: None,
            });
            continue;
        }
        let (outcome, notes) = run_step(&mut machine, step, rom_bytes, scenario)?;
        instructions += outcome.as_ref().map_or(0, outcome_instructions);
        alive = outcome.as_ref().is_none_or(RunOutcome::returned);
        let rep = match outcome {
            Some(o) => step_report(step.label(), o, notes),
            None => StepReport {
                step: step.label(),
                returned: true,
                outcome: "done".into(),
                notes,
                diagnosis: None,
                run: None,
            },
        };
        steps.push(rep);
        diagnose_last(&machine, info.platform, &mut steps);
    }

    // Check.
    let device_summary = DeviceSummary {
        device_id: scenario.device_id,
        platform: info.name,
        gen: info.gen.to_string(),
        ggc,
    };
    // Close the DMA run still open and move it into the trace and the report.
    if let Some(f) = machine.device_mut::<IgdFunction>(slot::DISPLAY) {
        f.dma_mut().flush();
    }
    machine.flush_device_events(slot::DISPLAY);
    let trace = machine.trace();
    let pt_events: Vec<(CsIp, &PassthroughEvent)> = trace
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Passthrough(p) => Some((e.at, p)),
            _ => None,
        })
        .collect();
    let Some(f) = machine.device::<IgdFunction>(slot::DISPLAY) else {
        return Err(SessionError::Machine(MachineError::SlotTaken(
            slot::DISPLAY,
        )));
    };
    let gtt = f.passthrough().host().gtt();
    let events: Vec<&PassthroughEvent> = pt_events.iter().map(|(_, e)| *e).collect();
    let dma = f.dma().classified();
    let mut report = check::check(&CheckInput {
        gtt: gtt.bytes(),
        format: gtt.format(),
        iommu: f.dma().iommu(),
        events: &events,
        dma: &dma,
    });
    let writers = gtt_writers(&pt_events, gtt.format().size());
    for v in &mut report.violations {
        let at = match v {
            Violation::GttEntry { index, .. } => writers.get(index).map(|w| w.at),
            Violation::Dma { iova, .. } => f
                .dma()
                .runs()
                .iter()
                .find(|r| r.iova == *iova)
                .and_then(|r| r.at),
            Violation::Fatal { .. } => pt_events
                .iter()
                .find(|(_, e)| {
                    matches!(
                        e,
                        PassthroughEvent::Bar4DataWrite {
                            outcome: Outcome::Fatal { .. },
                            ..
                        }
                    )
                })
                .map(|(at, _)| *at),
        };
        if let Some(at) = at {
            v.set_origin(origin(&machine, at));
        }
    }
    let gtt_runs = fold_gtt(&writers, gtt);
    let regions = Regions {
        host_stolen,
        guest_stolen: f.dma().iommu().guest_stolen,
        opregion: layout.opregion,
    };
    let dma_runs = f.dma().runs().to_vec();
    let aperture_faults = f.aperture_faults().len() as u64;
    let verdict = verdict(&steps, &report);
    let dropped = machine.state().trace().dropped();
    let report = SessionReport {
        rom: rom_summary,
        device: device_summary,
        remapper: scenario.remapper.name(),
        regions,
        steps,
        gtt: gtt_runs,
        check: report,
        dma: dma_runs,
        aperture_faults,
        instructions,
        trace_events: trace.len() as u64 + dropped,
        trace_dropped: dropped,
        verdict,
    };
    Ok(SessionRun { report, machine })
}

fn outcome_instructions(o: &RunOutcome) -> u64 {
    match o {
        RunOutcome::Returned { instructions } => *instructions,
        _ => 0,
    }
}

fn step_report(step: String, o: RunOutcome, notes: Vec<String>) -> StepReport {
    StepReport {
        step,
        returned: o.returned(),
        outcome: describe(&o),
        notes,
        diagnosis: None,
        run: Some(o),
    }
}

/// If the last step ran out of budget or time, find the register its loop
/// polled and what it waited for.
fn diagnose_last(machine: &Machine, platform: crate::igd::Platform, steps: &mut [StepReport]) {
    let Some(step) = steps.last_mut() else { return };
    if !matches!(
        step.run,
        Some(RunOutcome::BudgetExhausted { .. } | RunOutcome::Timeout { .. })
    ) {
        return;
    }
    if let Some(d) = spin_diagnosis(machine, platform) {
        step.notes.push(d.suggestion.clone());
        step.diagnosis = Some(d);
    }
}

/// The last register read before the run stopped, and the loop around it.
pub fn spin_diagnosis(machine: &Machine, platform: crate::igd::Platform) -> Option<SpinDiagnosis> {
    let igd_io = machine.bar_address(slot::DISPLAY, 4);
    let trace = machine.trace();
    let (pos, read) = trace
        .iter()
        .enumerate()
        .rev()
        .find(|(_, e)| match &e.kind {
            EventKind::PortIn { .. } => true,
            EventKind::MmioRead { bdf, bar: 0, .. } => *bdf == slot::DISPLAY,
            _ => false,
        })?;
    let (register, value) = match &read.kind {
        EventKind::PortIn { port, value, .. } => {
            let data_port = igd_io.map(|b| b + 4);
            if Some(u64::from(*port)) == data_port {
                let index = trace.get(..pos)?.iter().rev().find_map(|e| match &e.kind {
                    EventKind::PortOut {
                        port: p, value: v, ..
                    } if Some(u64::from(*p)) == igd_io => Some(*v),
                    _ => None,
                })?;
                (PolledRegister::IoBarIndex(index), *value)
            } else {
                (PolledRegister::Port(*port), *value)
            }
        }
        EventKind::MmioRead { offset, value, .. } => {
            (PolledRegister::Mmio(*offset as u32), *value as u32)
        }
        _ => return None,
    };
    // The loop: the first backward conditional branch after the read (a read
    // inside a subroutine ends the search at its `ret`).
    let mut code = [0u8; 128];
    machine.read_guest(u64::from(read.linear), &mut code).ok()?;
    let read_ip = u64::from(read.at.ip);
    let mut dec = iced_x86::Decoder::with_ip(16, &code, read_ip, iced_x86::DecoderOptions::NONE);
    let mut start = read_ip;
    let mut end = read_ip + 1;
    while dec.can_decode() {
        let insn = dec.decode();
        if insn.is_invalid() || insn.flow_control() == iced_x86::FlowControl::Return {
            break;
        }
        if insn.flow_control() == iced_x86::FlowControl::ConditionalBranch
            && insn.near_branch_target() <= read_ip
        {
            start = insn.near_branch_target();
            end = insn.next_ip();
            break;
        }
    }
    let len = usize::try_from(end.saturating_sub(start)).ok()?.min(256);
    let mut bytes = vec![0u8; len];
    machine
        .read_guest((u64::from(read.at.cs) << 4) + start, &mut bytes)
        .ok()?;
    Some(diagnose_spin(&SpinLoop {
        bytes: &bytes,
        cs: read.at.cs,
        ip: start as u16,
        value_read: value,
        register,
        platform: Some(platform),
    }))
}

/// One line for a run outcome.
#[must_use]
pub fn describe(o: &RunOutcome) -> String {
    match o {
        RunOutcome::Returned { .. } => "returned".into(),
        RunOutcome::BudgetExhausted { at, .. } => format!("instruction budget exhausted at {at}"),
        RunOutcome::Timeout { at, .. } => format!("deadline exceeded at {at}"),
        RunOutcome::Fault { at, kind, .. } => format!("CPU fault at {at}: {kind:?}"),
        RunOutcome::Idle { at } => format!("halted with nothing to wake it at {at}"),
    }
}

fn verdict(steps: &[StepReport], report: &check::Report) -> Verdict {
    if steps.iter().any(|s| !s.returned) {
        return Verdict::DidNotRun;
    }
    let mut v = Verdict::Clean;
    for viol in &report.violations {
        let this = match viol {
            Violation::Fatal { .. } => Verdict::Stopped,
            Violation::GttEntry { class, .. } | Violation::Dma { class, .. } => match class {
                AccessClass::GuestStolen => Verdict::Clean,
                AccessClass::Unmapped => Verdict::Fault,
                AccessClass::OtherGuestRam => Verdict::Corrupt,
                AccessClass::HostStolenEscape => Verdict::Escape,
            },
        };
        v = v.max(this);
    }
    v
}

fn origin(machine: &Machine, at: CsIp) -> Origin {
    let instruction = crate::trace::disassemble_at(machine, at.cs, at.ip)
        .map(|s| {
            s.split_once("  ")
                .map_or(s.clone(), |(_, t)| t.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    Origin {
        cs: at.cs,
        ip: at.ip,
        instruction,
    }
}

/// Per GTT entry: the guest value (dwords assembled), the outcome of the last
/// write and where it came from.
struct Writer {
    guest: u64,
    outcome: String,
    at: CsIp,
}

/// The kind of a reason (its variant name), without the per-entry values, so
/// runs of entries with the same treatment fold together.
fn reason_kind(reason: &crate::passthrough::Reason) -> String {
    let text = format!("{reason:?}");
    text.split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Forwarded => "forwarded".into(),
        Outcome::Rewritten { reason, .. } => format!("rewritten: {}", reason_kind(reason)),
        Outcome::Replaced { reason, .. } => format!("replaced: {}", reason_kind(reason)),
        Outcome::Emulated { reason } => format!("emulated: {}", reason_kind(reason)),
        Outcome::Refused { reason } => format!("refused: {}", reason_kind(reason)),
        Outcome::Fatal { .. } => "VM stopped".into(),
    }
}

fn gtt_writers(events: &[(CsIp, &PassthroughEvent)], pte_size: u64) -> BTreeMap<u64, Writer> {
    let mut out: BTreeMap<u64, Writer> = BTreeMap::new();
    for (at, e) in events {
        let (index, shift, value, outcome) = match e {
            PassthroughEvent::Bar4DataWrite {
                index,
                offset,
                guest_value,
                outcome,
                ..
            } if index & 1 == 1 => {
                let byte = u64::from(index & !3) + u64::from(*offset);
                (
                    byte / pte_size,
                    (byte % pte_size) * 8,
                    u64::from(*guest_value),
                    outcome,
                )
            }
            PassthroughEvent::Bar0GttWrite {
                gtt_offset,
                guest_value,
                outcome,
                ..
            } => (
                gtt_offset / pte_size,
                (gtt_offset % pte_size) * 8,
                *guest_value,
                outcome,
            ),
            _ => continue,
        };
        let w = out.entry(index).or_insert(Writer {
            guest: 0,
            outcome: String::new(),
            at: *at,
        });
        let mask = if shift == 0 && pte_size == 8 && value > u64::from(u32::MAX) {
            u64::MAX
        } else {
            u64::from(u32::MAX) << shift
        };
        w.guest = (w.guest & !mask) | ((value << shift) & mask);
        w.outcome = outcome_name(outcome);
        w.at = *at;
    }
    out
}

fn fold_gtt(writers: &BTreeMap<u64, Writer>, gtt: &crate::igd::Gtt) -> Vec<GttRun> {
    let mut runs: Vec<GttRun> = Vec::new();
    for (&index, w) in writers {
        let device = gtt.raw(index);
        if let Some(r) = runs.last_mut() {
            let k = index.wrapping_sub(r.first);
            let step = if r.count == 1 {
                w.guest.wrapping_sub(r.guest_first)
            } else {
                r.step
            };
            if k == r.count
                && r.outcome == w.outcome
                && r.at == w.at
                && w.guest == r.guest_first.wrapping_add(step.wrapping_mul(k))
                && device == r.device_first.wrapping_add(step.wrapping_mul(k))
            {
                r.step = step;
                r.count += 1;
                continue;
            }
        }
        runs.push(GttRun {
            first: index,
            count: 1,
            guest_first: w.guest,
            device_first: device,
            step: 0,
            outcome: w.outcome.clone(),
            at: w.at,
        });
    }
    runs
}

/// Register set for a host INT call.
fn regs(ax: u16) -> Registers {
    let mut r = Registers::default();
    r.set_ax(ax);
    r
}

/// Scratch buffer for VBE calls (below the EBDA, above the stack).
const VBE_BUF: u64 = 0x8000;

fn run_step(
    machine: &mut Machine,
    step: &Step,
    rom_bytes: &[u8],
    scenario: &Scenario,
) -> Result<(Option<RunOutcome>, Vec<String>), SessionError> {
    let mut notes = Vec::new();
    match step {
        Step::Vbe { width, height, bpp } => {
            let mut buf = [0u8; 512];
            buf[..4].copy_from_slice(b"VBE2");
            machine.write_guest(VBE_BUF, &buf)?;
            let mut r = regs(0x4F00);
            r.es = (VBE_BUF >> 4) as u16;
            r.edi = 0;
            let (out, o) = machine.call_int(0x10, r)?;
            if !o.returned() {
                return Ok((Some(o), notes));
            }
            if out.ax() != 0x004F {
                notes.push(format!("4F00 returned AX={:#06x}: no VBE", out.ax()));
                return Ok((Some(o), notes));
            }
            machine.read_guest(VBE_BUF, &mut buf)?;
            let ptr = u32::from_le_bytes([buf[14], buf[15], buf[16], buf[17]]);
            let list = (u64::from(ptr >> 16) << 4) + u64::from(ptr & 0xFFFF);
            let mut modes = Vec::new();
            for i in 0..256u64 {
                let mut m = [0u8; 2];
                machine.read_guest(list + 2 * i, &mut m)?;
                let mode = u16::from_le_bytes(m);
                if mode == 0xFFFF {
                    break;
                }
                modes.push(mode);
            }
            let mut chosen = None;
            for mode in modes {
                let mut r = regs(0x4F01);
                r.set_cx(mode);
                r.es = ((VBE_BUF + 0x200) >> 4) as u16;
                r.edi = 0;
                let (out, o) = machine.call_int(0x10, r)?;
                if !o.returned() {
                    return Ok((Some(o), notes));
                }
                if out.ax() != 0x004F {
                    continue;
                }
                let mut mi = [0u8; 256];
                machine.read_guest(VBE_BUF + 0x200, &mut mi)?;
                let w = u16::from_le_bytes([mi[0x12], mi[0x13]]);
                let h = u16::from_le_bytes([mi[0x14], mi[0x15]]);
                let b = mi[0x19];
                let lfb = u32::from_le_bytes([mi[0x28], mi[0x29], mi[0x2A], mi[0x2B]]);
                if (w, h, b) == (*width, *height, *bpp) {
                    chosen = Some((mode, lfb));
                    break;
                }
            }
            let Some((mode, lfb)) = chosen else {
                notes.push(format!(
                    "no VBE mode {width}x{height}x{bpp} in the mode list"
                ));
                return Ok((None, notes));
            };
            notes.push(format!("mode {mode:#06x}, linear framebuffer at {lfb:#x}"));
            let mut r = regs(0x4F02);
            r.set_bx(mode | 0x4000);
            let (out, o) = machine.call_int(0x10, r)?;
            if o.returned() && out.ax() != 0x004F {
                notes.push(format!("4F02 returned AX={:#06x}", out.ax()));
            }
            Ok((Some(o), notes))
        }
        Step::Text(text) => {
            let (_, o) = machine.call_int(0x10, regs(0x0003))?;
            if !o.returned() {
                return Ok((Some(o), notes));
            }
            let mut total = 0;
            for ch in text.bytes() {
                let mut r = regs(0x0E00 | u16::from(ch));
                r.ebx = 0x0007;
                let (_, o) = machine.call_int(0x10, r)?;
                total += outcome_instructions(&o);
                if !o.returned() {
                    return Ok((Some(o), notes));
                }
            }
            let mut screen = vec![0u8; 2 * text.len()];
            machine.read_guest(0xB8000, &mut screen)?;
            let shown: String = screen.iter().step_by(2).map(|b| char::from(*b)).collect();
            notes.push(format!("screen reads {shown:?}"));
            Ok((
                Some(RunOutcome::Returned {
                    instructions: total,
                }),
                notes,
            ))
        }
        Step::Flr => {
            let Some(f) = machine.device_mut::<IgdFunction>(slot::DISPLAY) else {
                return Ok((None, vec!["no IGD".into()]));
            };
            match f.config().find_capability(cap_id::AF) {
                Some(af) => {
                    f.config_write(af + 4, &[1]);
                    notes.push(format!(
                        "FLR through the Advanced Features capability at {af:#x}"
                    ));
                }
                None => notes.push("no Advanced Features capability: no FLR".into()),
            }
            Ok((None, notes))
        }
        Step::Post => {
            machine.load_option_rom(
                rom_bytes,
                LoadOptions {
                    allow_bad_checksum: scenario.allow_bad_checksum,
                    bdf: None,
                },
            )?;
            Ok((Some(machine.run_option_rom_init()), notes))
        }
    }
}

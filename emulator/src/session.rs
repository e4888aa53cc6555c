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

use crate::addr::{GuestPhys, HostPhys, Region};
use crate::check::{self, CheckInput, Origin, Violation};
use crate::cpu::rom;
use crate::cpu::{Registers, RunOutcome};
use crate::diagnose::{self, Diagnosis};
use crate::igd::display::DisplayTopology;
use crate::igd::generation::{self, BdsmLocation, Gen, GenError};
use crate::igd::{IgdConfig, IgdDevice, IgdError, RegisterOverride};
use crate::machine::igd_slot::{DmaRun, DmaTotals, IgdFunction};
use crate::machine::iommu::{AccessClass, Iommu, Mapping};
use crate::machine::memory::E820Type;
use crate::machine::pci_bus::SimpleFunction;
use crate::machine::{chipset, slot, Board, LoadOptions, Machine, MachineConfig, MachineError};
use crate::passthrough::firmware::{self, BdsmWrite, FirmwareInput};
use crate::passthrough::qemu_release::{self, QemuSetup, Refusal};
use crate::passthrough::{Acrn, Qemu2016, Qemu2025, QemuIgd, Remapper, Strict, Xen};
use crate::passthrough::{HostBridgeView, HostMapped, VmmError};
use crate::pci::{cap_id, PciFunction};
use crate::trace::CsIp;

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
    /// `xen`: Xen's `gfx_passthru` (qemu-xen, hvmloader, RDM identity
    /// mapping of host stolen memory): [`crate::passthrough::xen`].
    Xen,
    /// `acrn`: ACRN's GVT-d (host DSM mapped at `GPU_DSM_GPA`, or identity
    /// on gen 11+): [`crate::passthrough::acrn`].
    Acrn,
}

impl RemapperKind {
    /// The matrix columns, in order.
    pub const ALL: [RemapperKind; 5] = [
        RemapperKind::Qemu2016,
        RemapperKind::Qemu2025,
        RemapperKind::Strict,
        RemapperKind::Xen,
        RemapperKind::Acrn,
    ];

    /// CLI name (a release's name without its options).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            RemapperKind::Qemu2016 => "qemu-2016",
            RemapperKind::Qemu2025 => "qemu-2025",
            RemapperKind::Strict => "strict",
            RemapperKind::Qemu(s) => s.release.name(),
            RemapperKind::Xen => "xen",
            RemapperKind::Acrn => "acrn",
        }
    }

    /// Parse a CLI name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_spec(s).ok()
    }

    /// Parse `strict`, `qemu-2016`, `qemu-2025`, `xen`, `acrn` or
    /// `qemu-X.Y[,x-igd-...=V]...`, explaining a rejected release or option.
    pub fn parse_spec(s: &str) -> Result<Self, String> {
        if let Some(k) = Self::ALL.into_iter().find(|k| k.name() == s) {
            return Ok(k);
        }
        if !s.starts_with("qemu-") {
            return Err(format!(
                "unknown remapper {s:?}: strict, qemu-2016, qemu-2025, xen, acrn or qemu-X.Y (2.7 to 10.2) with x-igd-* options"
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
            RemapperKind::Strict | RemapperKind::Xen | RemapperKind::Acrn => None,
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

    /// Whether a VMM that maps host stolen memory itself (Xen, ACRN) can set
    /// up the device whose host config space is `host` (ACRN's allowlist and
    /// DSM size decode); `Ok` for every other kind.
    pub fn admit_mapping(
        self,
        info: &'static generation::PlatformInfo,
        host: &crate::pci::ConfigSpace,
    ) -> Result<(), VmmError> {
        let mut r = self.build();
        r.realize(info, host);
        r.host_mapped().transpose().map(|_| ())
    }

    /// A fresh remapper of this kind.
    #[must_use]
    pub fn build(self) -> Box<dyn Remapper> {
        match self {
            RemapperKind::Qemu2016 => Box::new(Qemu2016::new()),
            RemapperKind::Qemu2025 => Box::new(Qemu2025::new()),
            RemapperKind::Strict => Box::new(Strict::default()),
            RemapperKind::Qemu(s) => Box::new(QemuIgd::new(s)),
            RemapperKind::Xen => Box::new(Xen::new()),
            RemapperKind::Acrn => Box::new(Acrn::new()),
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
    /// How `device_id` was chosen (reported with the device).
    pub device_choice: DeviceChoice,
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
    /// What is attached to the display outputs (`--display`).
    pub display: DisplayTopology,
}

/// Default host BDSM: 1 MiB aligned, above a 2 GiB guest's RAM.
pub const DEFAULT_HOST_BDSM: u64 = 0x8B80_0000;

/// How the IGD device ID of a run was chosen.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum DeviceChoice {
    /// The caller named it (`--device-id`, `--gen`, [`Scenario::for_device`]).
    Given,
    /// The ROM's PCIR device ID, which the device table knows.
    Pcir,
    /// The PCIR device ID is absent from the ROM's own device list (PCI
    /// Firmware Specification 3.0 device list pointer), as with the 0x0406
    /// placeholder of gen9 images: the first listed ID the device table knows.
    FirstListed {
        /// The PCIR device ID.
        pcir: u16,
    },
    /// The ROM is not for an Intel device: it drives its own device (e.g.
    /// SeaVGABIOS the standard VGA at 00:03.0) next to a default IGD, as a
    /// test of the machine.
    MachineTest {
        /// PCIR vendor ID.
        vendor: u16,
        /// PCIR device ID.
        device: u16,
    },
}

impl DeviceChoice {
    /// What to tell the user, when the choice was not theirs or the PCIR's.
    #[must_use]
    pub fn note(&self, chosen: u16) -> Option<String> {
        match self {
            DeviceChoice::Given | DeviceChoice::Pcir => None,
            DeviceChoice::FirstListed { pcir } => Some(format!(
                "chosen from the ROM's device list: PCIR device {pcir:04x} is not in the list, {chosen:04x} is its first listed ID igdemu knows (--device-id or --gen to choose another)"
            )),
            DeviceChoice::MachineTest { vendor, device } => Some(format!(
                "machine test: the ROM ({vendor:04x}:{device:04x}) is not an Intel IGD vBIOS; it runs next to a default IGD"
            )),
        }
    }
}

/// Why no IGD device could be chosen for a ROM.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceChoiceError {
    /// An Intel ROM whose PCIR device and device list name no ID the device
    /// table knows.
    #[error("unknown Intel graphics device ID {pcir:#06x} (the ROM's PCIR device{}): igdemu's device table (every gen 6-12 IGD ID Linux i915 knows) does not have it; choose a device with --gen N (6, 7, 7.5, 8, 9, 11, 12) or --device-id ID", listed_note(.listed))]
    UnknownDevice {
        /// PCIR device ID.
        pcir: u16,
        /// The ROM's device list.
        listed: Vec<u16>,
    },
    /// The ROM is for another vendor's device.
    #[error("the ROM is for {vendor:04x}:{device:04x}, not an Intel IGD vBIOS (PCIR vendor is not 8086); to run it anyway as a machine test (it drives its own device, next to an IGD at 00:02.0), name the IGD with --gen N or --device-id ID")]
    NotIntel {
        /// PCIR vendor ID.
        vendor: u16,
        /// PCIR device ID.
        device: u16,
    },
    /// The image cannot be read (including UEFI-only images).
    #[error(transparent)]
    Rom(#[from] rom::RomError),
}

fn listed_note(listed: &[u16]) -> String {
    if listed.is_empty() {
        String::new()
    } else {
        let ids: Vec<String> = listed.iter().map(|d| format!("{d:04x}")).collect();
        format!(", nor any of its listed IDs {}", ids.join(" "))
    }
}

/// Choose the IGD device ID for a ROM from its x86 image's PCIR: the PCIR
/// device when the device table knows it and the ROM's device list (if any)
/// contains it; otherwise the first listed ID the table knows; otherwise the
/// PCIR device if known. Never a silent fallback to another device.
pub fn choose_device(rom_bytes: &[u8]) -> Result<(u16, DeviceChoice), DeviceChoiceError> {
    let (img, _, _) = rom::select_x86(rom_bytes)?;
    if img.vendor != INTEL_VENDOR_ID {
        return Err(DeviceChoiceError::NotIntel {
            vendor: img.vendor,
            device: img.device,
        });
    }
    let known = |d: &u16| generation::lookup(*d).is_ok();
    let pcir_known = known(&img.device);
    if pcir_known && (img.device_list.is_empty() || img.device_list.contains(&img.device)) {
        return Ok((img.device, DeviceChoice::Pcir));
    }
    if let Some(first) = img.device_list.iter().copied().find(known) {
        return Ok((first, DeviceChoice::FirstListed { pcir: img.device }));
    }
    if pcir_known {
        return Ok((img.device, DeviceChoice::Pcir));
    }
    Err(DeviceChoiceError::UnknownDevice {
        pcir: img.device,
        listed: img.device_list,
    })
}

/// PCI vendor ID of Intel.
const INTEL_VENDOR_ID: u16 = 0x8086;

/// The IGD a machine test runs next to: gen9's first device (SKL GT1 desktop).
fn machine_test_device() -> u16 {
    generation::default_for_gen(Gen::Gen9)
        .device_ids
        .first()
        .copied()
        .unwrap_or(0x1902)
}

impl Scenario {
    /// A scenario for IGD `device_id`, with the host and LPC bridges a board
    /// carrying that device has ([`crate::machine::chipset`]). An ID the device
    /// table does not know is kept: [`run`] then fails naming it.
    #[must_use]
    pub fn for_device(device_id: u16, remapper: RemapperKind) -> Self {
        let mut machine = MachineConfig::default();
        if let Ok(d) = generation::device(device_id) {
            let c = chipset::for_device(d);
            machine.host_bridge = c.host_bridge;
            machine.lpc_bridge = c.lpc_bridge;
        }
        machine.budget = 400_000_000;
        Self {
            device_id,
            device_choice: DeviceChoice::Given,
            host_bdsm: DEFAULT_HOST_BDSM,
            stolen_size: 64 * MIB,
            gtt_size: 2 * MIB,
            remapper,
            script: Vec::new(),
            machine,
            allow_bad_checksum: false,
            bdsm_write: None,
            overrides: Vec::new(),
            display: DisplayTopology::default(),
        }
    }

    /// A scenario for a ROM, its device chosen by [`choose_device`].
    pub fn try_for_rom(
        rom_bytes: &[u8],
        remapper: RemapperKind,
    ) -> Result<Self, DeviceChoiceError> {
        let (id, choice) = choose_device(rom_bytes)?;
        let mut sc = Self::for_device(id, remapper);
        sc.device_choice = choice;
        Ok(sc)
    }

    /// A scenario for a ROM ([`Scenario::try_for_rom`]), for callers that run
    /// any ROM: a ROM for another vendor's device (SeaVGABIOS) runs as a
    /// machine test next to the default gen9 IGD, and says so in the report;
    /// an Intel ROM with an unknown device keeps its PCIR ID, so [`run`]
    /// fails naming it; an unreadable or UEFI-only image fails in [`run`]
    /// with the loader's error.
    #[must_use]
    pub fn for_rom(rom_bytes: &[u8], remapper: RemapperKind) -> Self {
        match Self::try_for_rom(rom_bytes, remapper) {
            Ok(sc) => sc,
            Err(DeviceChoiceError::NotIntel { vendor, device }) => {
                let mut sc = Self::for_device(machine_test_device(), remapper);
                sc.device_choice = DeviceChoice::MachineTest { vendor, device };
                sc
            }
            Err(DeviceChoiceError::UnknownDevice { pcir, .. }) => {
                let mut sc = Self::for_device(pcir, remapper);
                sc.device_choice = DeviceChoice::Pcir;
                sc
            }
            Err(DeviceChoiceError::Rom(_)) => {
                // `run` reports the loader's error for these bytes.
                Self::for_device(machine_test_device(), remapper)
            }
        }
    }

    /// The machine this scenario's VMM builds around the host IGD whose config
    /// space is `host`: under a QEMU release its `pc` machine with the host
    /// bridges' IDs copied as the release does
    /// ([`qemu_release::lpc_quirk`]); under igdemu's own policy the
    /// platform's bridges ([`Board`]).
    #[must_use]
    pub fn machine_config(&self, host: &crate::pci::ConfigSpace) -> MachineConfig {
        let mut config = self.machine.clone();
        config.board = match self.remapper.qemu() {
            Some(setup) => Board::QemuPc {
                igd_lpc: qemu_release::lpc_quirk(&setup, host),
            },
            None => Board::Platform,
        };
        config
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
    /// A VMM that maps host stolen memory cannot set this guest up (Xen's
    /// RDM conflict, ACRN's DSM decode).
    #[error(transparent)]
    Vmm(#[from] VmmError),
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
    /// How the device was chosen, when neither the caller nor the ROM's
    /// PCIR named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub choice: Option<String>,
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
    /// Whether the step did what it was asked: the guest code returned and,
    /// for a VBE step, every 4F0x call succeeded and a mode matched; for a
    /// text step, the screen shows the string; for an FLR, the device has
    /// the capability.
    pub succeeded: bool,
    /// A one-line outcome.
    pub outcome: String,
    /// Extra findings (VBE mode chosen, text read back...).
    pub notes: Vec<String>,
    /// For a run that spun until the budget ran out, halted, or returned a
    /// failure: the register and branch behind it ([`crate::diagnose`]).
    pub diagnosis: Option<Diagnosis>,
    /// Waits on a register that timed out during the step, the ROM going on
    /// ([`diagnose::expiry`]); each also gives a note.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timeouts: Vec<Diagnosis>,
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
    /// The instruction that wrote them: the last writer of the first
    /// entry's low dword (its valid bit and page address).
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
    /// The ROM could not run: POST or a script step did not complete or
    /// failed (and no containment violation was found).
    DidNotRun,
    /// Every step succeeded but the guest never wrote a GTT entry nor touched
    /// the aperture: nothing was exercised, so nothing is proven.
    Inconclusive,
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
            Verdict::Inconclusive => "inconclusive",
        }
    }

    /// The verdict of a device access landing in `class`.
    #[must_use]
    pub const fn of_class(class: AccessClass) -> Verdict {
        match class {
            AccessClass::GuestStolen => Verdict::Clean,
            AccessClass::Unmapped => Verdict::Fault,
            AccessClass::OtherGuestRam => Verdict::Corrupt,
            AccessClass::HostStolenEscape => Verdict::Escape,
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
    /// What the user should know about the VMM's support for this set-up
    /// ([`Remapper::caveat`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caveat: Option<&'static str>,
    /// Regions.
    pub regions: Regions,
    /// POST and each script step.
    pub steps: Vec<StepReport>,
    /// GTT entries written (folded into runs).
    pub gtt: Vec<GttRun>,
    /// The containment check.
    pub check: check::Report,
    /// Device DMA runs (aperture accesses after GTT translation), the first
    /// [`crate::machine::igd_slot::DMA_RUNS_KEPT`].
    pub dma: Vec<DmaRun>,
    /// Totals over every DMA run, listed or not.
    pub dma_totals: DmaTotals,
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
    device.set_topology(&scenario.display);
    scenario.remapper.admit(device.config())?;
    for o in &scenario.overrides {
        device.apply_override(o);
    }
    let host_stolen = Region::new(device.host_bdsm(), device.stolen_size());
    let mut low = scenario
        .machine
        .ram_size
        .min(crate::machine::memory::PCI_HOLE)
        .min(scenario.machine.low_ram_end.unwrap_or(u64::MAX));
    // A VMM that maps host stolen memory itself (Xen, ACRN) says where,
    // before the machine is built: the ranges outside RAM need backing, and
    // RAM may have to make room.
    let mut remapper = scenario.remapper.build();
    remapper.realize(info, device.config());
    let mapped = remapper.host_mapped().transpose()?;
    let mut machine_config = scenario.machine_config(device.config());
    let mut mappings = Vec::new();
    if let Some(m) = &mapped {
        let end = remapper.guest_ram_end(low)?;
        if end != low {
            low = end;
            machine_config.low_ram_end = Some(end);
        }
        machine_config.vmm_memory = vmm_backing(remapper.name(), m, low)?;
        mappings.push(Mapping {
            guest: m.mapping,
            host: m.host,
        });
    }
    let caveat = remapper.caveat();
    let mut machine = Machine::new(machine_config)?;
    mappings.push(Mapping {
        guest: Region::new(GuestPhys(0), low),
        host: HostPhys(0x1_0000_0000),
    });
    let iommu = Iommu::new(mappings, None, host_stolen);
    let mut igd = IgdFunction::new(device, remapper, iommu, machine.memory().clone());

    let opregion = match &mapped {
        Some(m) => {
            // The VMM's own layout: the stolen range and the OpRegion it
            // maps, reserved in the guest's e820; BDSM and ASLS already set.
            igd.set_guest_stolen(Some(m.stolen));
            for r in &m.reserved {
                machine.set_e820(r.base.0, r.size, E820Type::Reserved);
            }
            machine.write_guest(m.opregion.base.0, &firmware::default_opregion())?;
            Some(m.opregion)
        }
        None => {
            // Firmware step (SeaBIOS intel_igd_setup): reserve guest stolen
            // memory and the OpRegion, write BDSM and ASLS.
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
            layout.opregion
        }
    };
    present_host_bridge(&mut machine, &igd, low);
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
    // Every guest instruction from POST on, returned or not (the clock counts
    // them in the block hook).
    let instructions_before = machine.state().clock().instructions;
    let post = machine.run_option_rom_init();
    let mut alive = post.returned();
    steps.push(step_report("post".into(), post, Vec::new()));
    diagnose_last(&mut machine, info.platform, &mut steps);
    // An Intel vBIOS whose POST returned without writing a GTT entry: the
    // branches on device reads that led there, kept for the report should
    // nothing reach the GTT or the aperture later either.
    let post_wrote_nothing = loaded.image.vendor == INTEL_VENDOR_ID
        && machine
            .device::<IgdFunction>(slot::DISPLAY)
            .is_some_and(|f| f.gtt_ledger().writes() == 0);
    let quiet_post = match steps.last().and_then(|s| s.run.as_ref()) {
        Some(o) if alive && post_wrote_nothing => diagnose_outcome(
            &machine,
            info.platform,
            o,
            Some("POST returned without writing a GTT entry"),
        ),
        _ => None,
    };
    for step in &scenario.script {
        if !alive {
            steps.push(StepReport {
                step: step.label(),
                returned: false,
                succeeded: false,
                outcome: "skipped: an earlier step failed".into(),
                notes: Vec::new(),
                diagnosis: None,
                timeouts: Vec::new(),
                run: None,
            });
            continue;
        }
        let StepDone {
            outcome,
            notes,
            mut failure,
        } = run_step(&mut machine, step, rom_bytes, scenario)?;
        // An Intel vBIOS that says it set a graphics mode has lit a plane
        // (DSPCNTR / PLANE_CTL bit 31 of pipe A, B or C): a mode set that
        // leaves every plane off failed, whatever AX says.
        if matches!(step, Step::Vbe { .. })
            && failure.is_none()
            && loaded.image.vendor == INTEL_VENDOR_ID
            && outcome.as_ref().is_some_and(RunOutcome::returned)
            && !plane_enabled(&machine)
        {
            failure = Some(
                "4F02 returned AX=0x004f but no display plane is enabled (DSPCNTR/PLANE_CTL bit 31 clear on pipes A-C)"
                    .into(),
            );
        }
        alive = outcome.as_ref().is_none_or(RunOutcome::returned);
        let mut rep = match outcome {
            Some(o) => step_report(step.label(), o, notes),
            None => StepReport {
                step: step.label(),
                returned: true,
                succeeded: true,
                outcome: "done".into(),
                notes,
                diagnosis: None,
                timeouts: Vec::new(),
                run: None,
            },
        };
        if let Some(why) = failure {
            if rep.returned {
                rep.outcome = format!("failed: {why}");
            }
            rep.succeeded = false;
        }
        steps.push(rep);
        diagnose_last(&mut machine, info.platform, &mut steps);
    }

    // The expired-wait log is bounded: say what it could not keep.
    let (unexamined, unkept) = {
        let log = machine.state().expiry();
        (log.unexamined, log.unkept)
    };
    if unexamined > 0 || unkept > 0 {
        if let Some(last) = steps.last_mut() {
            last.notes.push(format!(
                "timed-out waits: {unexamined} long loop ends not examined ({} sites known), {unkept} expired waits not kept ({} kept)",
                diagnose::expiry::SITES,
                diagnose::expiry::WAITS
            ));
        }
    }

    // Check.
    let device_summary = DeviceSummary {
        device_id: scenario.device_id,
        platform: info.name,
        gen: info.gen.to_string(),
        ggc,
        choice: scenario.device_choice.note(scenario.device_id),
    };
    // Close the DMA run still open and move it into the trace and the report.
    if let Some(f) = machine.device_mut::<IgdFunction>(slot::DISPLAY) {
        f.dma_mut().flush();
    }
    machine.flush_device_events(slot::DISPLAY);
    let trace_len = machine.trace().len() as u64;
    let Some(f) = machine.device::<IgdFunction>(slot::DISPLAY) else {
        return Err(SessionError::Machine(MachineError::SlotTaken(
            slot::DISPLAY,
        )));
    };
    // Every fact below comes from the device's, the passthrough layer's and
    // the DMA glue's own state, never from the (bounded) trace.
    let gtt = f.passthrough().host().gtt();
    let ledger = f.gtt_ledger();
    let dma = f.dma().classified();
    let mut report = check::check(&CheckInput {
        gtt: gtt.bytes(),
        format: gtt.format(),
        iommu: f.dma().iommu(),
        ledger,
        dma: &dma,
        dma_unlisted: f.dma().unlisted(),
    });
    for v in &mut report.violations {
        let at = match v {
            Violation::GttEntry { index, .. } => ledger.get(*index).map(|w| w.origin()),
            Violation::Dma { iova, .. } => f
                .dma()
                .runs()
                .iter()
                .find(|r| r.iova == *iova)
                .and_then(|r| r.at),
            Violation::DmaUnlisted {
                write,
                class,
                first_iova,
                ..
            } => f
                .dma()
                .unlisted()
                .iter()
                .find(|u| u.write == *write && u.class == *class && u.first_iova == *first_iova)
                .and_then(|u| u.first_at),
            Violation::Fatal { .. } => ledger.fatal().map(|s| s.at),
        };
        if let Some(at) = at {
            v.set_origin(origin(&machine, at));
        }
    }
    let gtt_runs = fold_gtt(ledger, gtt);
    let regions = Regions {
        host_stolen,
        guest_stolen: f.dma().iommu().guest_stolen,
        opregion,
    };
    let dma_runs = f.dma().runs().to_vec();
    let aperture_faults = f.aperture_faults().count();
    let dma_totals = f.dma().totals();
    let exercised = ledger.writes() > 0 || dma_totals.runs > 0 || aperture_faults > 0;
    let verdict = verdict(&steps, &report, exercised);
    if verdict == Verdict::Inconclusive {
        if let (Some(d), Some(post)) = (quiet_post, steps.first_mut()) {
            if post.diagnosis.is_none() {
                post.diagnosis = Some(d);
            }
        }
    }
    let instructions = machine
        .state()
        .clock()
        .instructions
        .saturating_sub(instructions_before);
    let dropped = machine.state().trace().dropped();
    let report = SessionReport {
        rom: rom_summary,
        device: device_summary,
        remapper: scenario.remapper.name(),
        caveat,
        regions,
        steps,
        gtt: gtt_runs,
        check: report,
        dma: dma_runs,
        dma_totals,
        aperture_faults,
        instructions,
        trace_events: trace_len + dropped,
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
        succeeded: o.returned(),
        outcome: describe(&o),
        notes,
        diagnosis: None,
        timeouts: Vec::new(),
        run: Some(o),
    }
}

/// Diagnose the last step: a loop that ran out of budget or time, a halt
/// (`hlt` with nothing to wake it, a triple fault, `jmp $`, INT 18h/19h), or
/// a step that returned a failure; and the waits that timed out in it. Facts
/// come from the CPU's bounded flow record and its expired-wait log.
fn diagnose_last(machine: &mut Machine, platform: crate::igd::Platform, steps: &mut [StepReport]) {
    let ctx = diagnose::Context {
        igd: slot::DISPLAY,
        platform,
    };
    let new = machine.state_mut().expiry_mut().take_new();
    let Some(step) = steps.last_mut() else { return };
    step.timeouts = new
        .iter()
        .filter_map(|w| diagnose::timed_out(w, &ctx, w.new))
        .collect();
    for t in &step.timeouts {
        step.notes.push(t.suggestion.clone());
    }
    let failure = (step.returned && !step.succeeded).then(|| step.outcome.clone());
    let mut d = match &step.run {
        Some(o) => diagnose_outcome(machine, platform, o, failure.as_deref()),
        None => None,
    };
    if let Some(why) = &failure {
        // A step that returned a failure: the waits that timed out so far
        // (in this step or an earlier one) come first, since a ROM that
        // gave up on a register usually fails later, not where it gave up.
        let mut waits = machine.state().expiry().waits().to_vec();
        waits.sort_by_key(|w| std::cmp::Reverse(w.read.seq));
        let timeouts: Vec<Diagnosis> = waits
            .iter()
            .filter_map(|w| diagnose::timed_out(w, &ctx, w.times))
            .collect();
        if let Some(g) = diagnose::give_up_after_timeouts(d.take(), &timeouts, why) {
            d = Some(g);
        }
    }
    if let Some(d) = d {
        // A give-up already has its failure in the notes; its diagnosis is in
        // the report (and printed by `igdemu run`).
        if d.kind != diagnose::StopKind::GiveUp {
            step.notes.push(d.suggestion.clone());
        }
        step.diagnosis = Some(d);
    }
}

/// The diagnosis of one run outcome; `failure`: why a step that returned
/// failed (a VBE call that returned AX other than 004Fh...), for a give-up.
#[must_use]
pub fn diagnose_outcome(
    machine: &Machine,
    platform: crate::igd::Platform,
    outcome: &RunOutcome,
    failure: Option<&str>,
) -> Option<Diagnosis> {
    let code = |addr: u64, buf: &mut [u8]| machine.read_guest(addr, buf).is_ok();
    let record = machine.state().flow();
    let ctx = diagnose::Context {
        igd: slot::DISPLAY,
        platform,
    };
    match outcome {
        RunOutcome::BudgetExhausted { at, .. } | RunOutcome::Timeout { at, .. } => {
            diagnose::diagnose_wait(&code, record, &ctx, *at)
        }
        RunOutcome::Idle { at } => diagnose::diagnose_halt(
            &code,
            record,
            &ctx,
            *at,
            "`hlt` with nothing to wake it".into(),
        ),
        RunOutcome::Fault {
            at,
            kind: crate::cpu::FaultKind::TripleFault { .. },
            ..
        } => diagnose::diagnose_halt(&code, record, &ctx, *at, "a triple fault".into()),
        RunOutcome::BootRequest { at, vector } => {
            diagnose::diagnose_halt(&code, record, &ctx, *at, boot_request(*vector))
        }
        RunOutcome::Returned { .. } => diagnose::diagnose_give_up(&code, record, &ctx, failure?),
        RunOutcome::Fault { .. } => None,
    }
}

/// Whether the IGD's display engine scans a primary plane out
/// ([`crate::igd::display::plane::active_primary_plane`]).
fn plane_enabled(machine: &Machine) -> bool {
    machine
        .device::<IgdFunction>(slot::DISPLAY)
        .is_some_and(|f| {
            let host = f.passthrough().host();
            crate::igd::display::plane::active_primary_plane(host.info().platform, host.mmio())
                .is_some()
        })
}

/// What INT 18h/19h asks of the system BIOS.
fn boot_request(vector: u8) -> String {
    match vector {
        0x18 => "INT 18h (boot failure)".into(),
        _ => format!("INT {vector:02X}h (bootstrap loader)"),
    }
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
        RunOutcome::BootRequest { at, vector } => {
            format!("stopped itself with {} at {at}", boot_request(*vector))
        }
    }
}

/// The worst containment violation; without one, did-not-run when a step
/// failed, inconclusive when nothing reached the GTT or the aperture, else
/// clean. A violation is never hidden behind a step that did not complete.
fn verdict(steps: &[StepReport], report: &check::Report, exercised: bool) -> Verdict {
    let v = worst_violation(report);
    if v != Verdict::Clean {
        v
    } else if steps.iter().any(|s| !s.succeeded) {
        Verdict::DidNotRun
    } else if !exercised {
        Verdict::Inconclusive
    } else {
        Verdict::Clean
    }
}

fn worst_violation(report: &check::Report) -> Verdict {
    let mut v = Verdict::Clean;
    for viol in &report.violations {
        let this = match viol {
            Violation::Fatal { .. } => Verdict::Stopped,
            Violation::GttEntry { class, .. }
            | Violation::Dma { class, .. }
            | Violation::DmaUnlisted { class, .. } => Verdict::of_class(*class),
        };
        v = v.max(this);
    }
    v
}

fn origin(machine: &Machine, at: CsIp) -> Origin {
    let instruction = machine
        .disassemble_at(at.cs, at.ip)
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

/// Fold the entries the guest wrote into runs of constant stride, with what
/// the device holds.
fn fold_gtt(ledger: &check::GttLedger, gtt: &crate::igd::Gtt) -> Vec<GttRun> {
    let mut runs: Vec<GttRun> = Vec::new();
    for (index, w) in ledger.iter() {
        let device = gtt.raw(index);
        let outcome = ledger.outcome(w);
        if let Some(r) = runs.last_mut() {
            let k = index.wrapping_sub(r.first);
            let step = if r.count == 1 {
                w.guest.wrapping_sub(r.guest_first)
            } else {
                r.step
            };
            if k == r.count
                && r.outcome == outcome
                && r.at == w.origin()
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
            outcome: outcome.to_string(),
            at: w.origin(),
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

/// What a script step did: the guest run it ended with (None when it ran no
/// guest code), notes, and why it failed, if it did.
struct StepDone {
    outcome: Option<RunOutcome>,
    notes: Vec<String>,
    failure: Option<String>,
}

impl StepDone {
    fn ran(outcome: RunOutcome, notes: Vec<String>) -> Self {
        Self {
            outcome: Some(outcome),
            notes,
            failure: None,
        }
    }

    fn failed(outcome: Option<RunOutcome>, notes: Vec<String>, why: String) -> Self {
        Self {
            outcome,
            notes,
            failure: Some(why),
        }
    }
}

fn run_step(
    machine: &mut Machine,
    step: &Step,
    rom_bytes: &[u8],
    scenario: &Scenario,
) -> Result<StepDone, SessionError> {
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
                return Ok(StepDone::ran(o, notes));
            }
            if out.ax() != 0x004F {
                let why = format!("4F00 returned AX={:#06x}: no VBE", out.ax());
                return Ok(StepDone::failed(Some(o), notes, why));
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
            let mut unavailable = Vec::new();
            for mode in modes {
                let mut r = regs(0x4F01);
                r.set_cx(mode);
                r.es = ((VBE_BUF + 0x200) >> 4) as u16;
                r.edi = 0;
                let (out, o) = machine.call_int(0x10, r)?;
                if !o.returned() {
                    return Ok(StepDone::ran(o, notes));
                }
                if out.ax() & 0xFF != 0x4F {
                    // 4F01 itself not supported: not a VBE BIOS after all.
                    let why = format!(
                        "4F01 for mode {mode:#06x} (in the mode list) returned AX={:#06x}",
                        out.ax()
                    );
                    return Ok(StepDone::failed(Some(o), notes, why));
                }
                if out.ax() != 0x004F {
                    // Supported but failed (AH 1-3): the mode is listed but the
                    // current hardware configuration cannot show it (VBE 3.0
                    // §4.2 return status); a client skips it.
                    unavailable.push(format!("{mode:#06x} (AX={:#06x})", out.ax()));
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
            if !unavailable.is_empty() {
                notes.push(format!(
                    "listed but unavailable (4F01 failed): {}",
                    unavailable.join(", ")
                ));
            }
            let Some((mode, lfb)) = chosen else {
                let why = format!("no VBE mode {width}x{height}x{bpp} in the mode list");
                return Ok(StepDone::failed(None, notes, why));
            };
            notes.push(format!("mode {mode:#06x}, linear framebuffer at {lfb:#x}"));
            let mut r = regs(0x4F02);
            r.set_bx(mode | 0x4000);
            let (out, o) = machine.call_int(0x10, r)?;
            if o.returned() && out.ax() != 0x004F {
                let why = format!("4F02 returned AX={:#06x}", out.ax());
                return Ok(StepDone::failed(Some(o), notes, why));
            }
            Ok(StepDone::ran(o, notes))
        }
        Step::Text(text) => {
            let (_, o) = machine.call_int(0x10, regs(0x0003))?;
            if !o.returned() {
                return Ok(StepDone::ran(o, notes));
            }
            let mut total = 0;
            for ch in text.bytes() {
                let mut r = regs(0x0E00 | u16::from(ch));
                r.ebx = 0x0007;
                let (_, o) = machine.call_int(0x10, r)?;
                total += outcome_instructions(&o);
                if !o.returned() {
                    return Ok(StepDone::ran(o, notes));
                }
            }
            let mut screen = vec![0u8; 2 * text.len()];
            machine.read_guest(0xB8000, &mut screen)?;
            let shown: String = screen.iter().step_by(2).map(|b| char::from(*b)).collect();
            let done = RunOutcome::Returned {
                instructions: total,
            };
            if shown != *text {
                let why = format!("the screen reads {shown:?}, not {text:?}");
                return Ok(StepDone::failed(Some(done), notes, why));
            }
            notes.push(format!("screen reads {shown:?}"));
            Ok(StepDone::ran(done, notes))
        }
        Step::Flr => {
            let Some(f) = machine.device_mut::<IgdFunction>(slot::DISPLAY) else {
                return Ok(StepDone::failed(None, Vec::new(), "no IGD".into()));
            };
            match f.config().find_capability(cap_id::AF) {
                Some(af) => {
                    f.config_write(af + 4, &[1]);
                    notes.push(format!(
                        "FLR through the Advanced Features capability at {af:#x}"
                    ));
                }
                None => {
                    let why = "no Advanced Features capability: no FLR".to_string();
                    return Ok(StepDone::failed(None, notes, why));
                }
            }
            Ok(StepDone {
                outcome: None,
                notes,
                failure: None,
            })
        }
        Step::Post => {
            machine.load_option_rom(
                rom_bytes,
                LoadOptions {
                    allow_bad_checksum: scenario.allow_bad_checksum,
                    bdf: None,
                },
            )?;
            Ok(StepDone::ran(machine.run_option_rom_init(), notes))
        }
    }
}

/// Where igdemu's machine places PCI BARs (from the PCI hole up); a VMM
/// mapping there would collide with them.
const BAR_WINDOW: (u64, u64) = (crate::machine::memory::PCI_HOLE, 0xF000_0000);

/// The backing a VMM's host-mapped ranges need outside guest RAM below 4 GiB
/// (`[0, ram_below_4g)`), as machine memory ranges; refused where igdemu's
/// machine places BARs.
fn vmm_backing(
    vmm: &'static str,
    m: &HostMapped,
    ram_below_4g: u64,
) -> Result<Vec<(u64, u64)>, VmmError> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for r in &m.reserved {
        let start = r.base.0.max(ram_below_4g);
        let end = r.end();
        if start >= end {
            continue;
        }
        if start < BAR_WINDOW.1 && end > BAR_WINDOW.0 {
            return Err(VmmError::InBarWindow {
                vmm,
                start,
                end,
                hole: BAR_WINDOW.0,
                hole_end: BAR_WINDOW.1,
            });
        }
        // Merge with a range it touches (Xen's RDM and OpRegion are apart,
        // ACRN's OpRegion sits right below its DSM).
        match out.iter_mut().find(|(b, s)| *b + *s == start) {
            Some(prev) => prev.1 += end - start,
            None => out.push((start, end - start)),
        }
    }
    Ok(out)
}

/// Host bridge (00:00.0) DRAM-controller registers a vBIOS reads (Intel Core
/// datasheets vol. 2, host bridge: `GGC` 0x50, `BDSM` 0xB0, `TOLUD` 0xBC).
const HB_GGC: u16 = 0x50;
const HB_BDSM: u16 = 0xB0;
const HB_TOLUD: u16 = 0xBC;

/// Give the host bridge the platform's graphics registers as the guest sees
/// the IGD, when the VMM's host bridge presents them ([`HostBridgeView`]).
fn present_host_bridge(machine: &mut Machine, igd: &IgdFunction, ram_below_4g: u64) {
    let pt = igd.passthrough();
    match pt.host_bridge_view() {
        HostBridgeView::Platform => {}
        HostBridgeView::IdsOnly => return,
        HostBridgeView::HostGraphicsControl => {
            // Only the host's GGC: BDSM and TOLUD are not copied (read 0).
            let host_ggc = pt.host().config().read_u16(HB_GGC);
            if let Some(hb) = machine.device_mut::<SimpleFunction>(slot::HOST_BRIDGE) {
                hb.config_mut().set_u16(HB_GGC, host_ggc);
            }
            return;
        }
    }
    let regs = pt.regs();
    if let Some(hb) = machine.device_mut::<SimpleFunction>(slot::HOST_BRIDGE) {
        let cs = hb.config_mut();
        cs.set_u16(HB_GGC, regs.ggc);
        cs.set_u32(HB_BDSM, regs.bdsm as u32 & 0xFFF0_0000);
        cs.set_u32(HB_TOLUD, ram_below_4g as u32 & 0xFFF0_0000);
    }
}

#[cfg(test)]
mod device_choice_tests {
    use super::*;
    use crate::cpu::rom::tests::{fix, image};

    /// An x86 image with PCIR vendor:device and a PCI 3.0 device list.
    fn rom(vendor: u16, device: u16, list: &[u16], code_type: u8) -> Vec<u8> {
        let mut r = image(1, code_type, true);
        r[0x24..0x26].copy_from_slice(&vendor.to_le_bytes());
        r[0x26..0x28].copy_from_slice(&device.to_le_bytes());
        if !list.is_empty() {
            r[0x28..0x2A].copy_from_slice(&0x20u16.to_le_bytes()); // list at PCIR+0x20
            for (i, id) in list.iter().enumerate() {
                r[0x40 + 2 * i..0x42 + 2 * i].copy_from_slice(&id.to_le_bytes());
            }
        }
        fix(&mut r);
        r
    }

    #[test]
    fn pcir_id_absent_from_its_list_picks_the_first_known_listed_id() {
        // The gen9 layout: PCIR 0406 (a HSW ID) and a list of CFL IDs, led by
        // one igdemu does not know.
        let r = rom(0x8086, 0x0406, &[0x3E00, 0x3E90, 0x3E91], 0);
        let (id, choice) = choose_device(&r).unwrap();
        assert_eq!(id, 0x3E90);
        assert_eq!(choice, DeviceChoice::FirstListed { pcir: 0x0406 });
        let note = choice.note(id).unwrap();
        assert!(
            note.contains("PCIR device 0406 is not in the list"),
            "{note}"
        );
        assert!(note.contains("3e90 is its first listed ID"), "{note}");
        // The scenario carries the CFL chipset (CNP Z390 + CFL-S host bridge).
        let sc = Scenario::try_for_rom(&r, RemapperKind::Strict).unwrap();
        assert_eq!(sc.device_id, 0x3E90);
        assert_eq!(sc.machine.lpc_bridge, (0xA305, 0x10));
        assert_eq!(sc.machine.host_bridge, (0x3EC2, 0x07));
    }

    #[test]
    fn pcir_id_in_its_list_or_without_a_list_is_used() {
        let r = rom(0x8086, 0x0126, &[0x0106, 0x0126], 0);
        assert_eq!(choose_device(&r).unwrap(), (0x0126, DeviceChoice::Pcir));
        let r = rom(0x8086, 0x0F31, &[], 0);
        assert_eq!(choose_device(&r).unwrap(), (0x0F31, DeviceChoice::Pcir));
        // A known PCIR ID whose list holds only unknown IDs.
        let r = rom(0x8086, 0x0416, &[0x0090, 0x0BD0], 0);
        assert_eq!(choose_device(&r).unwrap(), (0x0416, DeviceChoice::Pcir));
        let sc = Scenario::try_for_rom(&r, RemapperKind::Strict).unwrap();
        assert_eq!(sc.machine.host_bridge, (0x0C04, 0x06));
        assert_eq!(sc.machine.lpc_bridge, (0x8C4F, 0x05));
    }

    #[test]
    fn unknown_intel_device_is_an_error_naming_it_and_how_to_choose() {
        let r = rom(0x8086, 0x1234, &[0x1235], 0);
        let e = choose_device(&r).unwrap_err();
        assert_eq!(
            e,
            DeviceChoiceError::UnknownDevice {
                pcir: 0x1234,
                listed: vec![0x1235]
            }
        );
        let msg = e.to_string();
        assert!(msg.contains("0x1234"), "{msg}");
        assert!(msg.contains("1235"), "{msg}");
        assert!(msg.contains("--gen N"), "{msg}");
        // for_rom keeps the ID: the run fails naming it, no Skylake fallback.
        let sc = Scenario::for_rom(&r, RemapperKind::Strict);
        assert_eq!(sc.device_id, 0x1234);
        let err = run(&r, &sc).unwrap_err().to_string();
        assert!(
            err.contains("unknown Intel graphics device ID 0x1234"),
            "{err}"
        );
        assert!(err.contains("--gen"), "{err}");
    }

    #[test]
    fn non_intel_rom_is_named_and_runs_only_as_a_machine_test() {
        let r = rom(0x1002, 0x98E0, &[], 0);
        let e = choose_device(&r).unwrap_err();
        assert_eq!(
            e,
            DeviceChoiceError::NotIntel {
                vendor: 0x1002,
                device: 0x98E0
            }
        );
        let msg = e.to_string();
        assert!(msg.contains("1002:98e0, not an Intel IGD vBIOS"), "{msg}");
        assert!(msg.contains("machine test"), "{msg}");
        assert!(msg.contains("--gen N"), "{msg}");
        let sc = Scenario::for_rom(&r, RemapperKind::Strict);
        assert_eq!(sc.device_id, 0x1902);
        assert_eq!(
            sc.device_choice.note(sc.device_id).unwrap(),
            "machine test: the ROM (1002:98e0) is not an Intel IGD vBIOS; it runs next to a default IGD"
        );
    }

    #[test]
    fn uefi_only_image_is_named_a_gop_driver() {
        let r = rom(0x8086, 0x3E92, &[], crate::cpu::rom::CODE_TYPE_EFI);
        let e = choose_device(&r).unwrap_err();
        assert!(
            e.to_string().contains("UEFI GOP driver for 8086:3e92"),
            "{e}"
        );
        assert!(e.to_string().contains("not a legacy vBIOS"), "{e}");
        let sc = Scenario::for_rom(&r, RemapperKind::Strict);
        let err = run(&r, &sc).unwrap_err().to_string();
        assert!(err.contains("UEFI GOP driver"), "{err}");
    }
}

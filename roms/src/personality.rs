//! The project's own option ROMs: each a documented *personality* of real Intel
//! legacy vBIOS behaviour, assembled with iced-x86 `code_asm`.
//!
//! What they reproduce (DOMAIN.md, "What real Intel legacy vBIOSes are seen to
//! do"; QEMU `hw/vfio/igd.c` BAR4 quirk comments in igd-anchors §1.5):
//! - entry at +3, a checkpoint on port 0xE0, a write into their own image;
//! - PCI config through 0xCF8/0xCFC with bus 0 hard-coded: IGD 0x02 (device ID,
//!   matched against the PCIR device list), 0x20 (BAR4: index = base, data =
//!   base + 4), LPC bridge 00:1f.0 0x02/0x08/0x40 (PCH ID, revision, ACPI PM base);
//! - delays on PIT channel 2 (gated through port 0x61, mode 2, count latched
//!   and read LSB/MSB from port 0x42), as the real images in `../shared/vbios`
//!   time theirs; optionally ([`DelayTimer::PmTimer`]) on the ACPI PM timer at
//!   the PMBASE read from 00:1f.0 + 8 (3.579545 MHz, 24-bit), which a VMM
//!   whose LPC bridge carries IDs only (QEMU) leaves at 0: such a ROM polls
//!   port 0x08 forever;
//! - GTT programming through BAR4 MMIO_Index/MMIO_Data, "starting at index 0x1
//!   and using every 4th index" (gen 6/7: one dword per PTE; gen 8+: two dwords),
//!   or straight through BAR0's GTT half in unreal mode;
//! - panel power on (PCH_PP_CONTROL 0xC7204 bit 0, polling PCH_PP_STATUS 0xC7200
//!   bit 31), a display plane (DSPACNTR 0x70180, DSPASTRIDE 0x70188, DSPASURF
//!   0x7019C) at GTT offset 0;
//! - an INT 10h handler answering VBE 4F00/4F01/4F02/4F03 with a 1024x768x32 mode
//!   (0x118) whose linear framebuffer is the aperture (BAR2); a mode set clears
//!   the framebuffer and draws a test pattern through the aperture in unreal mode.

use iced_x86::code_asm::*;
use iced_x86::{BlockEncoderOptions, Instruction};
use igdemu::igd::generation::{self, Gen, PlatformInfo};
use igdemu::igd::PteFormat;
use std::collections::BTreeMap;

use crate::image::{self, Pcir};

/// Size of every image built here.
pub const IMAGE_SIZE: usize = 0x2000;
/// Where the code starts.
pub const CODE_OFFSET: usize = 0x200;
/// Where the `$VBT` block sits (real images: near 0xB00).
pub const VBT_OFFSET: usize = 0x1800;

// Variables in the image (written during init: the shadow is writable then).
const VAR_FLAG: u16 = 0x100; // u8: init completed
const VAR_COUNT: u16 = 0x102; // u16: times init ran
const VAR_OLD10: u16 = 0x104; // u32: previous INT 10h vector
const VAR_IO: u16 = 0x108; // u16: BAR4 I/O base
const VAR_PM: u16 = 0x10A; // u16: ACPI PM base
const VAR_LO: u16 = 0x10C; // u32: stolen base, low dword
const VAR_HI: u16 = 0x110; // u32: stolen base, high dword
const VAR_BAR0: u16 = 0x114; // u32: GTTMMADR (below 4 GiB)
const VAR_BAR2: u16 = 0x118; // u32: GMADR (aperture)
const VAR_DEVID: u16 = 0x11C; // u16: IGD device ID read from config
const VAR_PCH: u16 = 0x11E; // u16: PCH (LPC) device ID
const VAR_PCHREV: u16 = 0x120; // u8: PCH revision
const VAR_BAKED_LO: u16 = 0x124; // u32: host BDSM baked in at build time
const VAR_BAKED_HI: u16 = 0x128; // u32
const GDT: u16 = 0x130; // null + flat 4 GiB data descriptor
/// Where init stores the panel's EDID (read over GMBUS) in its own image.
pub const EDID_BUF: u16 = 0x1C00;
/// Where init stores the AUX reply (ACK byte + DPCD 0x000..) in its own image.
pub const DPCD_BUF: u16 = 0x1C80;
const GDTR: u16 = 0x140; // limit, linear base (patched at init)
const MODE_LIST: u16 = 0x150;
const OEM_STRING: u16 = 0x160;
/// BDA word where the INT 10h handler keeps the current VBE mode (the image is
/// write-protected after init, so runtime state lives in RAM).
const BDA_VBE_MODE: u16 = 0xBA;

/// VBE mode number of the 1024x768x32 mode.
pub const VBE_MODE_1024X768X32: u16 = 0x118;
/// Framebuffer geometry of that mode.
pub const FB_WIDTH: u32 = 1024;
/// Framebuffer height.
pub const FB_HEIGHT: u32 = 768;
/// Bytes per scan line.
pub const FB_STRIDE: u32 = 4096;
/// GTT offset (= aperture offset) of the framebuffer, and the stolen-memory
/// offset it maps: the mode set maps `FB_PAGES` pages there.
pub const FB_GTT_OFFSET: u64 = 0x10_0000;
/// Pages of the 1024x768x32 framebuffer (3 MiB).
pub const FB_PAGES: u32 = FB_STRIDE * FB_HEIGHT / 4096;
/// Colour the mode set clears the screen to (xRGB).
pub const FB_CLEAR: u32 = 0x0010_2040;
/// Colour of the test rectangle.
pub const FB_RECT: u32 = 0x00E0_C020;
/// Test rectangle: x, y, width, height.
pub const FB_RECT_GEOMETRY: (u32, u32, u32, u32) = (64, 48, 256, 128);

/// i915 register offsets the ROMs touch (i915_reg.h / intel_display_regs.h).
pub mod regs {
    /// `GEN6_DSMBASE`: BAR0 mirror of BDSM.
    pub const DSMBASE: u32 = 0x1080C0;
    /// `PCH_PP_STATUS`: bit 31 panel on.
    pub const PP_STATUS: u32 = 0xC7200;
    /// `PCH_PP_CONTROL`: bit 0 power on; bits 31:16 unlock key 0xABCD.
    pub const PP_CONTROL: u32 = 0xC7204;
    /// `DSPACNTR` / `PLANE_CTL_1_A`.
    pub const DSPACNTR: u32 = 0x70180;
    /// `DSPASTRIDE` / `PLANE_STRIDE_1_A`.
    pub const DSPASTRIDE: u32 = 0x70188;
    /// `DSPASURF` / `PLANE_SURF_1_A`: GTT offset of the surface.
    pub const DSPASURF: u32 = 0x7019C;
    /// Plane enable (bit 31) with 32-bit xRGB format (0x6 << 26).
    pub const DSPACNTR_ENABLE_XRGB8888: u32 = 0x9800_0000;
    /// `PLANE_CTL_ENABLE` | `PLANE_CTL_FORMAT_XRGB_8888` (4 in bits 27:24), gen 9+.
    pub const PLANE_CTL_ENABLE_XRGB8888: u32 = 0x8400_0000;
    /// `PLANE_SIZE_1_A` (gen 9+): height − 1 in 31:16, width − 1 in 15:0.
    pub const PLANE_SIZE_1_A: u32 = 0x70190;
    /// `PIPEASRC`: pipe A source size, width − 1 in 31:16, height − 1 in 15:0.
    pub const PIPEASRC: u32 = 0x6001C;
}

/// Where a personality takes its stolen base from; this decides which QEMU era
/// breaks it (igd-anchors §1.5, "Why removed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StolenSource {
    /// Baked into the image at build time, as a host-shadowed image has it.
    Baked,
    /// Read from config BDSM (0x5C, or 0xC0/0xC4 on gen 11+) through 0xCF8/0xCFC.
    ConfigBdsm,
    /// Read from the BAR0 mirror 0x1080C0 through the BAR4 MMIO window.
    Bar0MirrorViaBar4,
    /// Read from BAR0 0x1080C0 directly in unreal mode.
    Bar0Unreal,
}

impl StolenSource {
    /// All sources, in matrix order.
    pub const ALL: [StolenSource; 4] = [
        StolenSource::Baked,
        StolenSource::ConfigBdsm,
        StolenSource::Bar0MirrorViaBar4,
        StolenSource::Bar0Unreal,
    ];

    /// Short name for tables and CLI flags.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            StolenSource::Baked => "baked",
            StolenSource::ConfigBdsm => "config-bdsm",
            StolenSource::Bar0MirrorViaBar4 => "bar4-mirror",
            StolenSource::Bar0Unreal => "bar0-unreal",
        }
    }

    /// Parse a short name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == s)
    }
}

/// A ROM personality.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Personality {
    /// Gen 6 Sandy Bridge: PCI BIOS discovery, 32-bit PTEs through BAR4.
    SnbLegacy,
    /// Gen 7 Ivy Bridge: as SNB, with IVB's L3+LLC cache bits.
    IvbLegacy,
    /// Gen 8 Broadwell: 64-bit PTEs written as two dwords through BAR4.
    BdwLegacy,
    /// Gen 9 Skylake: as BDW.
    SklLegacy,
    /// Gen 11 Ice Lake: 64-bit BDSM at 0xC0/0xC4; the I/O BAR no longer reaches
    /// the GTT on gen 11 (QEMU 5aed8b0f0be2), so PTEs go through BAR0 in unreal mode.
    IclLegacy,
    /// Unreal mode, GTT written straight through BAR0: bypasses the BAR4 quirk.
    UnrealDirect,
    /// Writes a PTE outside host stolen and one whose PA[39:32] bits the naive
    /// rebase ignores.
    StrayPte,
    /// Expects to run twice with an FLR in between; re-enables panel power each time.
    ReinitAfterFlr,
}

impl Personality {
    /// All personalities.
    pub const ALL: [Personality; 8] = [
        Personality::SnbLegacy,
        Personality::IvbLegacy,
        Personality::BdwLegacy,
        Personality::SklLegacy,
        Personality::IclLegacy,
        Personality::UnrealDirect,
        Personality::StrayPte,
        Personality::ReinitAfterFlr,
    ];

    /// The name used by the CLI (`builtin:NAME`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Personality::SnbLegacy => "snb-legacy",
            Personality::IvbLegacy => "ivb-legacy",
            Personality::BdwLegacy => "bdw-legacy",
            Personality::SklLegacy => "skl-legacy",
            Personality::IclLegacy => "icl-legacy",
            Personality::UnrealDirect => "unreal-direct",
            Personality::StrayPte => "stray-pte",
            Personality::ReinitAfterFlr => "reinit-after-flr",
        }
    }

    /// Parse a CLI name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == s)
    }

    /// The device ID the image is built for by default.
    #[must_use]
    pub const fn default_device_id(self) -> u16 {
        match self {
            Personality::SnbLegacy | Personality::StrayPte | Personality::ReinitAfterFlr => 0x0126,
            Personality::IvbLegacy => 0x0166,
            Personality::BdwLegacy => 0x1616,
            Personality::SklLegacy | Personality::UnrealDirect => 0x1916,
            Personality::IclLegacy => 0x8A52,
        }
    }

    /// One line on what real behaviour it models.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Personality::SnbLegacy => "gen6 legacy vBIOS: PCI BIOS + 0xCF8 discovery, 32-bit PTEs via BAR4 index/data, VBE 1024x768x32",
            Personality::IvbLegacy => "gen7 legacy vBIOS: as SNB with L3+LLC cacheable PTEs",
            Personality::BdwLegacy => "gen8 legacy vBIOS: 64-bit PTEs written as low then high dword via BAR4",
            Personality::SklLegacy => "gen9 legacy vBIOS: 64-bit PTEs via BAR4, 4 MiB GMS encodings",
            Personality::IclLegacy => "gen11 vBIOS: 64-bit BDSM at 0xC0, PTEs through BAR0 in unreal mode",
            Personality::UnrealDirect => "unreal mode, GTT written straight through BAR0 (bypasses any BAR4 quirk)",
            Personality::StrayPte => "writes a PTE outside host stolen and one with PA[39:32] bits set",
            Personality::ReinitAfterFlr => "runs twice with an FLR between; re-enables panel power each time",
        }
    }

    /// The stolen-base source a personality uses unless told otherwise: reading
    /// config BDSM, as QEMU's 5aed8b0f0be2 describes real vBIOSes doing.
    #[must_use]
    pub const fn default_source(self) -> StolenSource {
        StolenSource::ConfigBdsm
    }
}

/// How GTT entries reach the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GttPath {
    Bar4,
    Bar0Unreal,
}

/// Build options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Device ID to build for (PCIR device and first list entry); the
    /// personality's default if `None`.
    pub device_id: Option<u16>,
    /// Where the stolen base comes from; the personality's default if `None`.
    pub stolen_source: Option<StolenSource>,
    /// Host BDSM baked into the image (used by [`StolenSource::Baked`]).
    pub baked_host_bdsm: u64,
    /// Number of stolen-memory pages init maps from GTT entry 0 (default 256 =
    /// 1 MiB; the VBE mode set maps the framebuffer separately).
    pub gtt_pages: u32,
    /// PM-timer ticks (3.579545 MHz) to wait after panel power on (default
    /// 3580, about 1 ms; a third as many PIT ticks with [`DelayTimer::Pit`]).
    pub delay_ticks: u32,
    /// What the delay counts.
    pub delay_timer: DelayTimer,
    /// Poll a register the device model does not complete (MMIO offset, bit
    /// mask that must become set) after the display bring-up: for testing the
    /// spin-loop diagnosis.
    pub poll_unknown: Option<(u32, u32)>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            device_id: None,
            stolen_source: None,
            baked_host_bdsm: 0x8B80_0000,
            gtt_pages: 256,
            delay_ticks: 3580,
            delay_timer: DelayTimer::Pit,
            poll_unknown: None,
        }
    }
}

/// The timer a personality's delay counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DelayTimer {
    /// PIT channel 2 (1.193182 MHz), gate on through port 0x61 bit 0, mode 2
    /// with count 0, the count latched (0x43 command 0x80) and read from
    /// 0x42: what the real SNB/IVB, HSW, VLV, BDW and CFL images do.
    #[default]
    Pit,
    /// The ACPI PM timer at (00:1f.0 config 0x40 & 0xFF80) + 8, no timeout.
    PmTimer,
}

/// Errors building a ROM.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The device ID is not a known Intel graphics device.
    #[error(transparent)]
    Device(#[from] generation::GenError),
    /// The personality needs a generation the device is not.
    #[error("{personality} cannot be built for {device:#06x} ({gen}): {why}")]
    WrongGeneration {
        /// Personality name.
        personality: &'static str,
        /// Device ID.
        device: u16,
        /// Its generation.
        gen: Gen,
        /// Why not.
        why: &'static str,
    },
    /// The assembler refused an instruction (a bug in this crate).
    #[error("assembler: {0}")]
    Asm(String),
    /// The code grew past the space reserved for it.
    #[error("code is {0} bytes, more than fits before the VBT")]
    TooBig(usize),
}

impl From<iced_x86::IcedError> for BuildError {
    fn from(e: iced_x86::IcedError) -> Self {
        BuildError::Asm(e.to_string())
    }
}

/// A built ROM: the image and the code's labels (for listings).
#[derive(Clone, Debug)]
pub struct BuiltRom {
    /// The option ROM image.
    pub image: Vec<u8>,
    /// Label name → offset in the image.
    pub symbols: BTreeMap<u64, String>,
    /// End of the code.
    pub code_end: usize,
}

/// Build a personality's image.
pub fn build(p: Personality, opts: &Options) -> Result<Vec<u8>, BuildError> {
    build_with_symbols(p, opts).map(|b| b.image)
}

/// Build a personality's image, keeping its labels.
pub fn build_with_symbols(p: Personality, opts: &Options) -> Result<BuiltRom, BuildError> {
    let device = opts.device_id.unwrap_or(p.default_device_id());
    let info = generation::lookup(device)?;
    let source = opts.stolen_source.unwrap_or(p.default_source());
    let path = match p {
        Personality::IclLegacy | Personality::UnrealDirect => GttPath::Bar0Unreal,
        _ if !info.iobar_gtt => GttPath::Bar0Unreal,
        _ => GttPath::Bar4,
    };
    if p == Personality::IclLegacy && info.gen < Gen::Gen11 {
        return Err(BuildError::WrongGeneration {
            personality: p.name(),
            device,
            gen: info.gen,
            why: "needs the 64-bit BDSM of gen 11+",
        });
    }
    let cfg = Ctx {
        p,
        info,
        source,
        path,
        opts,
        device,
    };
    // Two passes: the first finds label addresses, the second uses them as
    // immediates (same encodings, so the same sizes).
    let first = cfg.assemble(&BTreeMap::new())?;
    let second = cfg.assemble(&first.1)?;
    let (code, labels) = second;
    if CODE_OFFSET + code.len() > VBT_OFFSET {
        return Err(BuildError::TooBig(code.len()));
    }
    let mut img = vec![0u8; IMAGE_SIZE];
    img[CODE_OFFSET..CODE_OFFSET + code.len()].copy_from_slice(&code);
    cfg.write_data(&mut img);
    image::fix_checksum(&mut img);
    let symbols = labels
        .into_iter()
        .map(|(k, v)| (v, k.to_string()))
        .collect();
    Ok(BuiltRom {
        image: img,
        symbols,
        code_end: CODE_OFFSET + code.len(),
    })
}

type Labels = BTreeMap<&'static str, u64>;

/// What one build needs to know.
struct Ctx<'a> {
    p: Personality,
    info: &'static PlatformInfo,
    source: StolenSource,
    path: GttPath,
    opts: &'a Options,
    /// Device ID the image is built for.
    device: u16,
}

const fn cf8(dev: u32, off: u32) -> u32 {
    0x8000_0000 | (dev << 11) | off
}

/// Checkpoint `code` on port 0xE0 (`mov al, code; out 0xE0, al`).
fn checkpoint(a: &mut CodeAssembler, code: u32) -> Result<(), BuildError> {
    a.mov(al, code)?;
    a.out(0xE0u32, al)?;
    Ok(())
}

/// Write `val` to register `reg` through BAR4 (`xor eax, eax` when `val` is 0).
fn emit_write(
    a: &mut CodeAssembler,
    io_wr: CodeLabel,
    reg: u32,
    val: u32,
) -> Result<(), BuildError> {
    a.mov(ebx, reg)?;
    if val == 0 {
        a.xor(eax, eax)?;
    } else {
        a.mov(eax, val)?;
    }
    a.call(io_wr)?;
    Ok(())
}

/// Program display plane A for the 1024x768x32 frame buffer at GTT offset
/// `surf`, in the platform's layout (i915 `i9xx_plane_regs.h`,
/// `skl_universal_plane_regs.h`): gen 6-8 `DSPASTRIDE` in bytes, `DSPACNTR`
/// enable with `DISP_FORMAT_BGRX888`, size from `PIPEASRC`; gen 9+
/// `PLANE_STRIDE` in 64-byte units, `PLANE_CTL` enable with
/// `PLANE_CTL_FORMAT_XRGB_8888`, `PLANE_SIZE`; then the surface.
fn emit_plane(
    a: &mut CodeAssembler,
    io_wr: CodeLabel,
    gen: Gen,
    surf: u32,
) -> Result<(), BuildError> {
    let pipesrc = ((FB_WIDTH - 1) << 16) | (FB_HEIGHT - 1);
    emit_write(a, io_wr, regs::PIPEASRC, pipesrc)?;
    if gen >= Gen::Gen9 {
        emit_write(a, io_wr, regs::DSPASTRIDE, FB_STRIDE / 64)?;
        emit_write(
            a,
            io_wr,
            regs::PLANE_SIZE_1_A,
            ((FB_HEIGHT - 1) << 16) | (FB_WIDTH - 1),
        )?;
        emit_write(a, io_wr, regs::DSPACNTR, regs::PLANE_CTL_ENABLE_XRGB8888)?;
    } else {
        emit_write(a, io_wr, regs::DSPASTRIDE, FB_STRIDE)?;
        emit_write(a, io_wr, regs::DSPACNTR, regs::DSPACNTR_ENABLE_XRGB8888)?;
    }
    emit_write(a, io_wr, regs::DSPASURF, surf)
}

/// Jump to `bad` unless mode `reg & 0x1FF` is the 1024x768x32 mode (`reg` kept).
fn emit_mode_check(
    a: &mut CodeAssembler,
    reg: AsmRegister16,
    bad: CodeLabel,
) -> Result<(), BuildError> {
    a.push(reg)?;
    a.and(reg, 0x1FFu32)?;
    a.cmp(reg, u32::from(VBE_MODE_1024X768X32))?;
    a.pop(reg)?;
    a.jne(bad)?;
    Ok(())
}

impl Ctx<'_> {
    fn pte64(&self) -> bool {
        self.info.pte.size() == 8
    }

    fn wide_bdsm(&self) -> bool {
        self.info.bdsm.width() == 8
    }

    fn write_data(&self, img: &mut [u8]) {
        let device = self.device;
        image::write_header(img, CODE_OFFSET as u16);
        img[6..0x18].copy_from_slice(b"igdemu-rom:\0\0\0\0\0\0\0");
        let name = self.p.name().as_bytes();
        let n = name.len().min(6);
        img[0x11..0x11 + n].copy_from_slice(&name[..n]);
        let mut list = vec![device];
        list.extend(
            self.info
                .device_ids
                .iter()
                .copied()
                .filter(|d| *d != device),
        );
        image::write_pcir(
            img,
            &Pcir::intel_display(device, list, image::CODE_TYPE_X86),
        );
        let put32 = |img: &mut [u8], at: u16, v: u32| {
            img[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
        };
        put32(img, VAR_BAKED_LO, self.opts.baked_host_bdsm as u32);
        put32(img, VAR_BAKED_HI, (self.opts.baked_host_bdsm >> 32) as u32);
        // GDT: null descriptor, then a flat 4 GiB read/write data segment.
        // Access byte 0x93: present, data, writable, *accessed* (pre-set so the CPU
        // need not write it back into the write-protected shadow).
        image::write_gdt(img, GDT, GDTR, &[0xFF, 0xFF, 0, 0, 0, 0x93, 0xCF, 0]);
        img[MODE_LIST as usize..MODE_LIST as usize + 4].copy_from_slice(&[
            VBE_MODE_1024X768X32 as u8,
            (VBE_MODE_1024X768X32 >> 8) as u8,
            0xFF,
            0xFF,
        ]);
        let oem = b"igdemu Intel-like vBIOS\0";
        img[OEM_STRING as usize..OEM_STRING as usize + oem.len()].copy_from_slice(oem);
        let bdb = match self.info.gen.number() {
            6 => 163,
            7 => 170,
            8 => 188,
            9 => 209,
            _ => 228,
        };
        image::write_vbt(img, VBT_OFFSET, self.info.name, bdb);
    }

    fn assemble(&self, known: &Labels) -> Result<(Vec<u8>, Labels), BuildError> {
        let mut a = CodeAssembler::new(16)?;
        let mut l = Lbl::default();
        self.emit(&mut a, &mut l, known)?;
        let res = a.assemble_options(
            CODE_OFFSET as u64,
            BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS,
        )?;
        let mut out = Labels::new();
        for (name, label) in &l.all {
            out.insert(*name, res.label_ip(label)?);
        }
        Ok((res.inner.code_buffer, out))
    }

    #[allow(clippy::too_many_lines)]
    fn emit(&self, a: &mut CodeAssembler, l: &mut Lbl, known: &Labels) -> Result<(), BuildError> {
        let sym = |n: &str| known.get(n).copied().unwrap_or(0) as u16;
        let mut pci_rd = l.get(a, "pci_read32");
        let mut io_wr = l.get(a, "bar4_write");
        let mut io_rd = l.get(a, "bar4_read");
        let mut unreal = l.get(a, "enter_unreal");
        let mut pm_delay = l.get(a, "pm_timer_delay");
        let mut int10 = l.get(a, "int10_handler");
        let mut fail = l.get(a, "init_fail");
        let mut done = l.get(a, "init_done");

        // ---- init entry ----
        let mut entry = l.get(a, "init");
        l.mark(a, &mut entry)?;
        a.pushad()?;
        a.push(ds)?;
        a.push(es)?;
        a.push(cs)?;
        a.pop(ds)?;
        checkpoint(a, 0x01)?; // init entered
        a.inc(word_ptr(VAR_COUNT as u32))?; // a write into its own image
                                            // GDTR base = CS * 16 + GDT (the image may not run at C000).
        a.xor(eax, eax)?;
        a.mov(ax, cs)?;
        a.shl(eax, 4)?;
        a.add(eax, u32::from(GDT))?;
        a.mov(dword_ptr(u32::from(GDTR) + 2), eax)?;

        if matches!(self.p, Personality::SnbLegacy | Personality::IvbLegacy) {
            // PCI BIOS: installation check, then find the device by ID.
            a.mov(ax, 0xB101u32)?;
            a.int(0x1Au32)?;
            a.jc(fail)?;
            a.mov(ax, 0xB102u32)?;
            a.mov(cx, u32::from(self.device))?;
            a.mov(dx, 0x8086u32)?;
            a.xor(si, si)?;
            a.int(0x1Au32)?;
            a.jc(fail)?;
        }
        // IGD identity through 0xCF8/0xCFC, bus 0 hard-coded; match the PCIR list.
        a.mov(eax, cf8(2, 0))?;
        a.call(pci_rd)?;
        a.shr(eax, 16)?;
        a.mov(word_ptr(VAR_DEVID as u32), ax)?;
        let mut scan = l.get(a, "devlist_scan");
        let mut found = l.get(a, "devlist_found");
        a.mov(si, image::DEVICE_LIST_OFFSET as u32)?;
        l.mark(a, &mut scan)?;
        a.lodsw()?;
        a.test(ax, ax)?;
        a.jz(fail)?;
        a.cmp(ax, word_ptr(VAR_DEVID as u32))?;
        a.jne(scan)?;
        l.mark(a, &mut found)?;
        // BAR0, BAR2, BAR4.
        a.mov(eax, cf8(2, 0x10))?;
        a.call(pci_rd)?;
        a.and(eax, 0xFFFF_FFF0u32)?;
        a.mov(dword_ptr(VAR_BAR0 as u32), eax)?;
        a.mov(eax, cf8(2, 0x18))?;
        a.call(pci_rd)?;
        a.and(eax, 0xFFFF_FFF0u32)?;
        a.mov(dword_ptr(VAR_BAR2 as u32), eax)?;
        a.mov(eax, cf8(2, 0x20))?;
        a.call(pci_rd)?;
        a.and(ax, 0xFFFCu32)?;
        a.mov(word_ptr(VAR_IO as u32), ax)?;
        // PCH identity and ACPI PM base from the LPC bridge 00:1f.0.
        a.mov(eax, cf8(0x1F, 0))?;
        a.call(pci_rd)?;
        a.shr(eax, 16)?;
        a.mov(word_ptr(VAR_PCH as u32), ax)?;
        a.mov(eax, cf8(0x1F, 0x08))?;
        a.call(pci_rd)?;
        a.mov(byte_ptr(VAR_PCHREV as u32), al)?;
        a.mov(eax, cf8(0x1F, 0x40))?;
        a.call(pci_rd)?;
        a.and(ax, 0xFF80u32)?;
        a.mov(word_ptr(VAR_PM as u32), ax)?;
        checkpoint(a, 0x02)?;

        // Stolen base.
        self.emit_stolen_base(a, pci_rd, io_rd, unreal)?;
        checkpoint(a, 0x03)?;

        // Panel power on, then poll PP_STATUS (bounded like the real code's timeout).
        a.mov(ebx, regs::PP_CONTROL)?;
        a.call(io_rd)?;
        a.and(eax, 0x0000_FFFFu32)?;
        a.or(eax, 0xABCD_0001u32)?;
        a.call(io_wr)?;
        let mut poll = l.get(a, "panel_power_poll");
        let mut polled = l.get(a, "panel_power_on");
        a.mov(ecx, 0x0010_0000u32)?;
        l.mark(a, &mut poll)?;
        a.mov(ebx, regs::PP_STATUS)?;
        a.call(io_rd)?;
        a.test(eax, 0x8000_0000u32)?;
        a.jnz(polled)?;
        a.dec(ecx)?;
        a.jnz(poll)?;
        checkpoint(a, 0xE5)?; // panel power timeout
        l.mark(a, &mut polled)?;
        a.mov(ecx, self.opts.delay_ticks)?;
        a.call(pm_delay)?;
        checkpoint(a, 0x04)?;

        // Display bring-up polls, as real images do them: power wells, PLL lock,
        // the panel's EDID over GMBUS, the sink's DPCD over DP AUX.
        self.emit_bringup(a, l, io_wr, io_rd)?;

        // GTT: map the first `gtt_pages` pages of stolen memory from entry 0
        // (real images stop "up to (nearly) the 1MB barrier", QEMU igd.c).
        let map_pages = l.get(a, "map_stolen_pages");
        a.xor(ebp, ebp)?;
        a.mov(ecx, self.opts.gtt_pages)?;
        a.xor(esi, esi)?;
        a.call(map_pages)?;
        if self.p == Personality::StrayPte {
            self.emit_stray(a, io_wr)?;
        }
        checkpoint(a, 0x05)?;

        // Display plane A at GTT offset 0.
        emit_plane(a, io_wr, self.info.gen, 0)?;

        // Install INT 10h (keep the old vector for chaining).
        a.xor(ax, ax)?;
        a.mov(es, ax)?;
        a.mov(eax, dword_ptr(0x40u32).es())?;
        a.mov(dword_ptr(VAR_OLD10 as u32), eax)?;
        a.mov(word_ptr(0x40u32).es(), u32::from(sym("int10_handler")))?;
        a.mov(word_ptr(0x42u32).es(), cs)?;
        a.mov(byte_ptr(VAR_FLAG as u32), 1u32)?; // flag set in its own image
        checkpoint(a, 0xFF)?;
        a.jmp(done)?;

        l.mark(a, &mut fail)?;
        checkpoint(a, 0xEE)?;
        l.mark(a, &mut done)?;
        a.pop(es)?;
        a.pop(ds)?;
        a.popad()?;
        a.retf()?;

        // ---- subroutines ----
        l.mark(a, &mut pci_rd)?; // EAX = CF8 address -> EAX = dword
        a.push(dx)?;
        a.mov(dx, 0xCF8u32)?;
        a.out(dx, eax)?;
        a.mov(dx, 0xCFCu32)?;
        a.in_(eax, dx)?;
        a.pop(dx)?;
        a.ret()?;

        l.mark(a, &mut io_wr)?; // EBX = MMIO_Index value, EAX = data
        a.push(dx)?;
        a.push(eax)?;
        a.mov(dx, word_ptr(VAR_IO as u32).cs())?;
        a.mov(eax, ebx)?;
        a.out(dx, eax)?;
        a.pop(eax)?;
        a.add(dx, 4u32)?;
        a.out(dx, eax)?;
        a.pop(dx)?;
        a.ret()?;

        l.mark(a, &mut io_rd)?; // EBX = MMIO_Index value -> EAX = data
        a.push(dx)?;
        a.mov(dx, word_ptr(VAR_IO as u32).cs())?;
        a.mov(eax, ebx)?;
        a.out(dx, eax)?;
        a.add(dx, 4u32)?;
        a.in_(eax, dx)?;
        a.pop(dx)?;
        a.ret()?;

        l.mark(a, &mut unreal)?; // FS, GS: flat 4 GiB; back in real mode
        a.pushf()?;
        a.cli()?;
        a.push(eax)?;
        a.push(bx)?;
        a.lgdt(fword_ptr(GDTR as u32).cs())?;
        a.mov(eax, cr0)?;
        a.or(al, 1u32)?;
        a.mov(cr0, eax)?;
        a.mov(bx, 8u32)?;
        a.mov(fs, bx)?;
        a.mov(gs, bx)?;
        a.and(al, 0xFEu32)?;
        a.mov(cr0, eax)?;
        a.xor(bx, bx)?;
        a.mov(fs, bx)?;
        a.mov(gs, bx)?;
        a.pop(bx)?;
        a.pop(eax)?;
        a.popf()?;
        a.ret()?;

        l.mark(a, &mut pm_delay)?; // ECX = PM timer ticks to wait
        match self.opts.delay_timer {
            DelayTimer::PmTimer => {
                let mut wait = l.get(a, "pm_timer_wait");
                a.push(eax)?;
                a.push(ebx)?;
                a.push(dx)?;
                a.mov(dx, word_ptr(VAR_PM as u32).cs())?;
                a.add(dx, 8u32)?;
                a.in_(eax, dx)?;
                a.and(eax, 0x00FF_FFFFu32)?;
                a.mov(ebx, eax)?;
                l.mark(a, &mut wait)?;
                a.in_(eax, dx)?;
                a.sub(eax, ebx)?;
                a.and(eax, 0x00FF_FFFFu32)?;
                a.cmp(eax, ecx)?;
                a.jb(wait)?;
                a.pop(dx)?;
                a.pop(ebx)?;
                a.pop(eax)?;
            }
            DelayTimer::Pit => {
                // PIT ticks = PM ticks / 3 (3.579545 MHz / 1.193182 MHz).
                let mut wait = l.get(a, "pit_wait");
                a.push(eax)?;
                a.push(ebx)?;
                a.push(edx)?;
                a.push(esi)?;
                a.push(edi)?;
                a.mov(eax, ecx)?;
                a.xor(edx, edx)?;
                a.mov(ebx, 3u32)?;
                a.div(ebx)?;
                a.mov(edi, eax)?;
                // Gate channel 2 on, speaker off.
                a.mov(dx, 0x61u32)?;
                a.in_(al, dx)?;
                a.and(al, 0xFCu32)?;
                a.or(al, 1u32)?;
                a.out(dx, al)?;
                // Channel 2, LSB then MSB, mode 2, count 0 (65536).
                a.mov(dx, 0x43u32)?;
                a.mov(al, 0xB4u32)?;
                a.out(dx, al)?;
                a.mov(dx, 0x42u32)?;
                a.xor(al, al)?;
                a.out(dx, al)?;
                a.out(dx, al)?;
                a.xor(esi, esi)?;
                a.mov(bx, 0u32)?; // the count just loaded
                l.mark(a, &mut wait)?;
                a.mov(dx, 0x43u32)?;
                a.mov(al, 0x80u32)?; // latch channel 2
                a.out(dx, al)?;
                a.mov(dx, 0x42u32)?;
                a.in_(al, dx)?;
                a.mov(ah, al)?;
                a.in_(al, dx)?;
                a.xchg(al, ah)?; // AX = count now
                a.sub(bx, ax)?; // ticks since the last read (mod 65536)
                a.movzx(ebx, bx)?;
                a.add(esi, ebx)?;
                a.mov(bx, ax)?;
                a.cmp(esi, edi)?;
                a.jb(wait)?;
                a.pop(edi)?;
                a.pop(esi)?;
                a.pop(edx)?;
                a.pop(ebx)?;
                a.pop(eax)?;
            }
        }
        a.ret()?;

        self.emit_gtt_loop(a, l, io_wr, unreal)?;
        self.emit_int10(a, l, &mut int10, io_wr, unreal)?;
        Ok(())
    }

    /// An inline poll, as vBIOS loops are written: MMIO_Index = `reg` once,
    /// then read MMIO_Data until `(value & mask) == want`.
    fn emit_poll(
        &self,
        a: &mut CodeAssembler,
        l: &mut Lbl,
        name: &'static str,
        reg: u32,
        mask: u32,
        want: u32,
    ) -> Result<(), BuildError> {
        let mut top = l.get(a, name);
        a.mov(dx, word_ptr(VAR_IO as u32))?;
        a.mov(eax, reg)?;
        a.out(dx, eax)?;
        a.add(dx, 4u32)?;
        l.mark(a, &mut top)?;
        a.in_(eax, dx)?;
        if mask == want && mask.is_power_of_two() {
            a.test(eax, mask)?;
            a.jz(top)?;
        } else {
            a.and(eax, mask)?;
            a.cmp(eax, want)?;
            a.jne(top)?;
        }
        Ok(())
    }

    /// Set `bits` in register `reg` (read-modify-write through BAR4).
    fn emit_set_bits(
        &self,
        a: &mut CodeAssembler,
        io_wr: CodeLabel,
        io_rd: CodeLabel,
        reg: u32,
        bits: u32,
    ) -> Result<(), BuildError> {
        a.mov(ebx, reg)?;
        a.call(io_rd)?;
        a.or(eax, bits)?;
        a.call(io_wr)?;
        Ok(())
    }

    /// Power wells, PLL lock, GMBUS EDID read, DP AUX DPCD read (register facts
    /// from i915, see `igdemu::igd::regs`), then an optional unknown poll.
    fn emit_bringup(
        &self,
        a: &mut CodeAssembler,
        l: &mut Lbl,
        io_wr: CodeLabel,
        io_rd: CodeLabel,
    ) -> Result<(), BuildError> {
        const PWR_WELL_CTL1: u32 = 0x45400;
        const LCPLL_CTL: u32 = 0x13_0040;
        const LCPLL1_CTL: u32 = 0x4_6010;
        const FDI_RX_IIR: u32 = 0xF_0014;
        const GMBUS: u32 = 0xC_5100;
        const AUX_A: u32 = 0x6_4010;
        match self.info.gen {
            Gen::Gen7_5 | Gen::Gen8 => {
                self.emit_set_bits(a, io_wr, io_rd, PWR_WELL_CTL1, 1 << 31)?;
                self.emit_poll(a, l, "power_well_poll", PWR_WELL_CTL1, 1 << 30, 1 << 30)?;
                // LCPLL: lock (bit 30) while not disabled (bit 31).
                self.emit_poll(a, l, "lcpll_lock_poll", LCPLL_CTL, 1 << 30, 1 << 30)?;
            }
            Gen::Gen9 => {
                let (req, st) = ((1 << 29) | (1 << 31), (1 << 28) | (1 << 30));
                self.emit_set_bits(a, io_wr, io_rd, PWR_WELL_CTL1, req)?;
                self.emit_poll(a, l, "power_well_poll", PWR_WELL_CTL1, st, st)?;
                self.emit_set_bits(a, io_wr, io_rd, LCPLL1_CTL, 1 << 31)?;
                self.emit_poll(a, l, "lcpll_lock_poll", LCPLL1_CTL, 1 << 30, 1 << 30)?;
            }
            Gen::Gen11 | Gen::Gen12 => {
                let (req, st) = ((1 << 1) | (1 << 3), (1 << 0) | (1 << 2));
                self.emit_set_bits(a, io_wr, io_rd, PWR_WELL_CTL1, req)?;
                self.emit_poll(a, l, "power_well_poll", PWR_WELL_CTL1, st, st)?;
                // DPLL0_ENABLE: power (27 -> 26), then enable (31 -> lock 30).
                self.emit_set_bits(a, io_wr, io_rd, LCPLL1_CTL, 1 << 27)?;
                self.emit_poll(a, l, "dpll_power_poll", LCPLL1_CTL, 1 << 26, 1 << 26)?;
                self.emit_set_bits(a, io_wr, io_rd, LCPLL1_CTL, 1 << 31)?;
                self.emit_poll(a, l, "dpll_lock_poll", LCPLL1_CTL, 1 << 30, 1 << 30)?;
            }
            Gen::Gen6 | Gen::Gen7 => {
                // FDI receiver bit lock (FDI_RX_BIT_LOCK, bit 8).
                self.emit_poll(a, l, "fdi_bit_lock_poll", FDI_RX_IIR, 1 << 8, 1 << 8)?;
            }
        }
        checkpoint(a, 0x06)?;

        // EDID over GMBUS: pin pair 3, index 0, 128 bytes with a wait cycle.
        emit_write(a, io_wr, GMBUS, 3)?;
        emit_write(
            a,
            io_wr,
            GMBUS + 4,
            (1u32 << 30) | (2 << 25) | (1 << 25) | (128 << 16) | (0x50 << 1) | 1,
        )?;
        a.mov(si, u32::from(EDID_BUF))?;
        a.mov(cx, 32u32)?;
        let mut next = l.get(a, "gmbus_edid_dword");
        l.mark(a, &mut next)?;
        a.push(cx)?;
        self.emit_poll(a, l, "gmbus_hw_ready_poll", GMBUS + 8, 1 << 11, 1 << 11)?;
        a.mov(ebx, GMBUS + 0xC)?;
        a.call(io_rd)?;
        a.mov(dword_ptr(si), eax)?; // the EDID lands in the image
        a.add(si, 4u32)?;
        a.pop(cx)?;
        a.dec(cx)?;
        a.jnz(next)?;
        self.emit_poll(a, l, "gmbus_wait_phase_poll", GMBUS + 8, 1 << 14, 1 << 14)?;
        emit_write(a, io_wr, GMBUS + 4, (1u32 << 30) | (4 << 25))?;
        self.emit_poll(a, l, "gmbus_idle_poll", GMBUS + 8, 1 << 9, 0)?;
        emit_write(a, io_wr, GMBUS, 0)?;
        checkpoint(a, 0x07)?;

        // DPCD 0x000..0x00F over DP AUX channel A: native read, 4-byte request.
        emit_write(a, io_wr, AUX_A + 4, 0x9000_000F)?;
        emit_write(
            a,
            io_wr,
            AUX_A,
            (1u32 << 31) | (1 << 30) | (1 << 28) | (1 << 25) | (4 << 20),
        )?;
        self.emit_poll(a, l, "aux_busy_poll", AUX_A, 1 << 31, 0)?;
        for i in 0..5u32 {
            a.mov(ebx, AUX_A + 4 + 4 * i)?;
            a.call(io_rd)?;
            a.mov(dword_ptr(u32::from(DPCD_BUF) + 4 * i), eax)?;
        }
        checkpoint(a, 0x08)?;
        if let Some((reg, mask)) = self.opts.poll_unknown {
            self.emit_poll(a, l, "unknown_register_poll", reg, mask, mask)?;
        }
        Ok(())
    }

    fn emit_stolen_base(
        &self,
        a: &mut CodeAssembler,
        pci_rd: CodeLabel,
        io_rd: CodeLabel,
        unreal: CodeLabel,
    ) -> Result<(), BuildError> {
        let wide = self.wide_bdsm();
        let off = u32::from(self.info.bdsm.offset());
        // Low dword into EAX.
        match self.source {
            StolenSource::Baked => a.mov(eax, dword_ptr(VAR_BAKED_LO as u32))?,
            StolenSource::ConfigBdsm => {
                a.mov(eax, cf8(2, off))?;
                a.call(pci_rd)?;
            }
            StolenSource::Bar0MirrorViaBar4 => {
                a.mov(ebx, regs::DSMBASE)?;
                a.call(io_rd)?;
            }
            StolenSource::Bar0Unreal => {
                a.call(unreal)?;
                a.mov(edi, dword_ptr(VAR_BAR0 as u32))?;
                a.mov(eax, dword_ptr(edi + regs::DSMBASE as i32).fs())?;
            }
        }
        a.and(eax, 0xFFF0_0000u32)?;
        a.mov(dword_ptr(VAR_LO as u32), eax)?;
        // High dword into EAX (zero for a 32-bit BDSM).
        match self.source {
            StolenSource::Baked => a.mov(eax, dword_ptr(VAR_BAKED_HI as u32))?,
            _ if !wide => a.xor(eax, eax)?,
            StolenSource::ConfigBdsm => {
                a.mov(eax, cf8(2, off + 4))?;
                a.call(pci_rd)?;
            }
            StolenSource::Bar0MirrorViaBar4 => {
                a.mov(ebx, regs::DSMBASE + 4)?;
                a.call(io_rd)?;
            }
            StolenSource::Bar0Unreal => {
                a.mov(eax, dword_ptr(edi + (regs::DSMBASE + 4) as i32).fs())?;
            }
        }
        a.mov(dword_ptr(VAR_HI as u32), eax)?;
        Ok(())
    }

    /// Flags a personality puts in its PTEs (IVB: L3+LLC; others: the format's
    /// typical cached setting).
    fn pte_flags(&self) -> u32 {
        match (self.p, self.info.pte) {
            (Personality::IvbLegacy, PteFormat::Snb) => {
                (igdemu::igd::pte::PTE_VALID | igdemu::igd::pte::GEN7_PTE_CACHE_L3_LLC) as u32
            }
            (_, f) => f.typical_flags() as u32,
        }
    }

    /// Subroutine `map_stolen_pages`: EBP = first GTT entry, ECX = page count,
    /// ESI = offset into stolen memory; DS = CS. Clobbers EAX-EDI and EBP.
    fn emit_gtt_loop(
        &self,
        a: &mut CodeAssembler,
        l: &mut Lbl,
        io_wr: CodeLabel,
        unreal: CodeLabel,
    ) -> Result<(), BuildError> {
        let mut entry = l.get(a, "map_stolen_pages");
        let mut top = l.get(a, "gtt_loop");
        l.mark(a, &mut entry)?;
        if self.path == GttPath::Bar0Unreal {
            a.call(unreal)?;
        }
        a.add(esi, dword_ptr(VAR_LO as u32))?;
        l.mark(a, &mut top)?;
        self.emit_pte_write(
            a,
            io_wr,
            |a| {
                a.mov(eax, esi)?;
                a.or(eax, self.pte_flags())?;
                if !self.pte64() {
                    // PA[39:32] into PTE bits 11:4 (HSW: 10:4), from the high dword.
                    a.mov(edx, dword_ptr(VAR_HI as u32))?;
                    a.shl(edx, 4)?;
                    let mask = if self.info.pte == PteFormat::Hsw {
                        0x7F0u32
                    } else {
                        0xFF0u32
                    };
                    a.and(edx, mask)?;
                    a.or(eax, edx)?;
                }
                Ok(())
            },
            |a| {
                a.mov(eax, dword_ptr(VAR_HI as u32))?;
                Ok(())
            },
        )?;
        a.add(esi, 0x1000u32)?;
        a.inc(ebp)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.ret()?;
        Ok(())
    }

    /// Write PTE number EBP: `low` leaves the low dword in EAX, `high` the high one.
    fn emit_pte_write(
        &self,
        a: &mut CodeAssembler,
        io_wr: CodeLabel,
        low: impl Fn(&mut CodeAssembler) -> Result<(), BuildError>,
        high: impl Fn(&mut CodeAssembler) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let shift = if self.pte64() { 3 } else { 2 };
        match self.path {
            GttPath::Bar4 => {
                // MMIO_Index = byte offset in the GTT | Sel (bit 0).
                a.mov(ebx, ebp)?;
                a.shl(ebx, shift)?;
                a.or(ebx, 1u32)?;
                low(a)?;
                a.call(io_wr)?;
                if self.pte64() {
                    a.add(ebx, 4u32)?;
                    high(a)?;
                    a.call(io_wr)?;
                }
            }
            GttPath::Bar0Unreal => {
                a.mov(edi, ebp)?;
                a.shl(edi, shift)?;
                a.add(edi, dword_ptr(VAR_BAR0 as u32))?;
                a.add(edi, self.info.gtt_offset_in_bar0() as u32)?;
                low(a)?;
                a.mov(dword_ptr(edi).fs(), eax)?;
                if self.pte64() {
                    high(a)?;
                    a.mov(dword_ptr(edi + 4).fs(), eax)?;
                }
            }
        }
        Ok(())
    }

    /// Two stray entries after the mapped run: one at a scratch page at 1 MiB
    /// (outside host stolen), one inside stolen but with PA bit 32 set in the
    /// format's high-address field and L3+LLC cache bits.
    fn emit_stray(&self, a: &mut CodeAssembler, io_wr: CodeLabel) -> Result<(), BuildError> {
        let flags = self.pte_flags();
        let wide = self.pte64();
        a.mov(ebp, self.opts.gtt_pages.saturating_sub(2))?;
        self.emit_pte_write(
            a,
            io_wr,
            |a| {
                a.mov(eax, 0x0010_0000u32 | flags)?;
                Ok(())
            },
            |a| {
                a.xor(eax, eax)?;
                Ok(())
            },
        )?;
        a.inc(ebp)?;
        self.emit_pte_write(
            a,
            io_wr,
            |a| {
                a.mov(eax, dword_ptr(VAR_LO as u32))?;
                a.add(eax, 0x5000u32)?;
                if wide {
                    a.or(eax, flags)?;
                } else {
                    a.or(eax, 0x010u32 | 0x7)?; // PA bit 32, L3+LLC, valid
                }
                Ok(())
            },
            |a| {
                a.mov(eax, 1u32)?; // PA bit 32
                Ok(())
            },
        )?;
        Ok(())
    }

    fn emit_int10(
        &self,
        a: &mut CodeAssembler,
        l: &mut Lbl,
        int10: &mut CodeLabel,
        io_wr: CodeLabel,
        unreal: CodeLabel,
    ) -> Result<(), BuildError> {
        let mut vbe = l.get(a, "vbe");
        let mut f00 = l.get(a, "vbe_4f00_info");
        let mut f01 = l.get(a, "vbe_4f01_mode_info");
        let mut f02 = l.get(a, "vbe_4f02_set_mode");
        let mut f03 = l.get(a, "vbe_4f03_get_mode");
        let mut bad = l.get(a, "vbe_fail");
        let mut ok = l.get(a, "vbe_ok");
        l.mark(a, int10)?;
        a.cmp(ah, 0x4Fu32)?;
        a.je(vbe)?;
        a.jmp(dword_ptr(VAR_OLD10 as u32).cs())?; // chain to the previous handler
        l.mark(a, &mut vbe)?;
        a.cmp(al, 0u32)?;
        a.je(f00)?;
        a.cmp(al, 1u32)?;
        a.je(f01)?;
        a.cmp(al, 2u32)?;
        a.je(f02)?;
        a.cmp(al, 3u32)?;
        a.je(f03)?;
        l.mark(a, &mut bad)?;
        a.mov(ax, 0x014Fu32)?;
        a.iret()?;
        l.mark(a, &mut ok)?;
        a.mov(ax, 0x004Fu32)?;
        a.iret()?;

        // 4F00: VBE controller information at ES:DI.
        l.mark(a, &mut f00)?;
        a.push(di)?;
        a.mov(dword_ptr(di).es(), u32::from_le_bytes(*b"VESA"))?;
        a.mov(word_ptr(di + 4).es(), 0x0300u32)?;
        a.mov(word_ptr(di + 6).es(), u32::from(OEM_STRING))?;
        a.mov(word_ptr(di + 8).es(), cs)?;
        a.mov(dword_ptr(di + 0x0A).es(), 1u32)?; // capabilities: DAC switchable
        a.mov(word_ptr(di + 0x0E).es(), u32::from(MODE_LIST))?;
        a.mov(word_ptr(di + 0x10).es(), cs)?;
        a.mov(word_ptr(di + 0x12).es(), 1024u32)?; // 64 MiB in 64 KiB units
        a.pop(di)?;
        a.jmp(ok)?;

        // 4F01: mode information for CX at ES:DI.
        l.mark(a, &mut f01)?;
        emit_mode_check(a, cx, bad)?;
        a.pushad()?;
        a.push(di)?;
        a.xor(al, al)?;
        a.mov(cx, 256u32)?;
        a.cld()?;
        a.rep().stosb()?;
        a.pop(di)?;
        a.mov(word_ptr(di).es(), 0x009Bu32)?; // supported, colour, graphics, LFB
        a.mov(byte_ptr(di + 2).es(), 0x07u32)?;
        a.mov(word_ptr(di + 4).es(), 64u32)?;
        a.mov(word_ptr(di + 6).es(), 64u32)?;
        a.mov(word_ptr(di + 8).es(), 0xA000u32)?;
        a.mov(word_ptr(di + 0x10).es(), FB_STRIDE)?;
        a.mov(word_ptr(di + 0x12).es(), FB_WIDTH)?;
        a.mov(word_ptr(di + 0x14).es(), FB_HEIGHT)?;
        a.mov(byte_ptr(di + 0x16).es(), 8u32)?;
        a.mov(byte_ptr(di + 0x17).es(), 16u32)?;
        a.mov(byte_ptr(di + 0x18).es(), 1u32)?;
        a.mov(byte_ptr(di + 0x19).es(), 32u32)?;
        a.mov(byte_ptr(di + 0x1A).es(), 1u32)?;
        a.mov(byte_ptr(di + 0x1B).es(), 6u32)?; // direct colour
        a.mov(dword_ptr(di + 0x1F).es(), 0x0810_0808u32)?; // R size 8 pos 16, G size 8 pos 8
        a.mov(dword_ptr(di + 0x23).es(), 0x1808_0008u32)?; // B size 8 pos 0, X size 8 pos 24
        a.mov(eax, dword_ptr(VAR_BAR2 as u32).cs())?;
        a.add(eax, FB_GTT_OFFSET as u32)?;
        a.mov(dword_ptr(di + 0x28).es(), eax)?; // PhysBasePtr: framebuffer in the aperture
        a.mov(word_ptr(di + 0x32).es(), FB_STRIDE)?;
        a.popad()?;
        a.jmp(ok)?;

        // 4F02: set mode BX; clear and draw unless bit 15 (don't clear) is set.
        l.mark(a, &mut f02)?;
        emit_mode_check(a, bx, bad)?;
        a.pushad()?;
        a.push(es)?;
        a.push(ds)?;
        a.mov(ax, 0x40u32)?;
        a.mov(es, ax)?;
        a.mov(word_ptr(BDA_VBE_MODE as u32).es(), bx)?;
        a.push(cs)?;
        a.pop(ds)?;
        // Map the framebuffer: FB_PAGES pages of stolen memory from FB_GTT_OFFSET.
        a.mov(ebp, (FB_GTT_OFFSET / 4096) as u32)?;
        a.mov(ecx, FB_PAGES)?;
        a.mov(esi, FB_GTT_OFFSET as u32)?;
        let map_pages = l.get(a, "map_stolen_pages");
        a.call(map_pages)?;
        emit_plane(a, io_wr, self.info.gen, FB_GTT_OFFSET as u32)?;
        a.mov(bx, word_ptr(BDA_VBE_MODE as u32).es())?;
        a.test(bx, 0x8000u32)?;
        let mut skip = l.get(a, "vbe_4f02_no_clear");
        a.jnz(skip)?;
        a.call(unreal)?;
        a.xor(ax, ax)?;
        a.mov(es, ax)?;
        a.mov(edi, dword_ptr(VAR_BAR2 as u32).cs())?;
        a.add(edi, FB_GTT_OFFSET as u32)?;
        a.mov(ecx, FB_WIDTH * FB_HEIGHT)?;
        a.mov(eax, FB_CLEAR)?;
        a.cld()?;
        a.add_instruction(Instruction::with_rep_stosd(32)?)?;
        // Test rectangle, row by row.
        let (x, y, w, h) = FB_RECT_GEOMETRY;
        let mut row = l.get(a, "vbe_draw_row");
        a.mov(edx, h)?;
        a.mov(esi, dword_ptr(VAR_BAR2 as u32).cs())?;
        a.add(esi, FB_GTT_OFFSET as u32 + y * FB_STRIDE + x * 4)?;
        l.mark(a, &mut row)?;
        a.mov(edi, esi)?;
        a.mov(ecx, w)?;
        a.mov(eax, FB_RECT)?;
        a.add_instruction(Instruction::with_rep_stosd(32)?)?;
        a.add(esi, FB_STRIDE)?;
        a.dec(edx)?;
        a.jnz(row)?;
        l.mark(a, &mut skip)?;
        a.pop(ds)?;
        a.pop(es)?;
        a.popad()?;
        a.jmp(ok)?;

        // 4F03: current mode in BX.
        l.mark(a, &mut f03)?;
        a.push(es)?;
        a.mov(bx, 0x40u32)?;
        a.mov(es, bx)?;
        a.mov(bx, word_ptr(BDA_VBE_MODE as u32).es())?;
        a.pop(es)?;
        a.jmp(ok)?;
        Ok(())
    }
}

/// Named labels, so listings can show them.
#[derive(Default)]
struct Lbl {
    all: Vec<(&'static str, CodeLabel)>,
}

impl Lbl {
    /// Bind `label` to the next instruction and remember where it went.
    fn mark(&mut self, a: &mut CodeAssembler, label: &mut CodeLabel) -> Result<(), BuildError> {
        a.set_label(label)?;
        // `CodeLabel` equality compares only the id; the copy keeps the bound state.
        if let Some(e) = self.all.iter_mut().find(|(_, x)| x == label) {
            e.1 = *label;
        }
        Ok(())
    }

    /// The label called `name` (created on first use).
    fn get(&mut self, a: &mut CodeAssembler, name: &'static str) -> CodeLabel {
        if let Some((_, l)) = self.all.iter().find(|(n, _)| *n == name) {
            return *l;
        }
        let l = a.create_label();
        self.all.push((name, l));
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(img: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([img[at], img[at + 1]])
    }

    #[test]
    fn every_personality_and_source_builds_a_valid_image() {
        for p in Personality::ALL {
            for s in StolenSource::ALL {
                let opts = Options {
                    stolen_source: Some(s),
                    ..Options::default()
                };
                let rom =
                    build(p, &opts).unwrap_or_else(|e| panic!("{} {}: {e}", p.name(), s.name()));
                assert_eq!(rom.len(), IMAGE_SIZE);
                assert_eq!(&rom[..3], &[0x55, 0xAA, (IMAGE_SIZE / 512) as u8]);
                assert_eq!(image::checksum(&rom), 0, "{}", p.name());
                assert_eq!(&rom[0x40..0x44], b"PCIR");
                assert_eq!(word(&rom, 0x44), 0x8086);
                assert_eq!(word(&rom, 0x46), p.default_device_id());
                assert_eq!(
                    word(&rom, 0x60),
                    p.default_device_id(),
                    "device list starts with it"
                );
                assert_eq!(rom[0x40 + 0x14], 0, "code type x86");
                assert_eq!(&rom[VBT_OFFSET..VBT_OFFSET + 4], b"$VBT");
                // Entry jumps to the code.
                assert_eq!(rom[3], 0xE9);
                assert_eq!(6u16.wrapping_add(word(&rom, 4)) as usize, CODE_OFFSET);
            }
        }
    }

    #[test]
    fn options_change_the_image() {
        let a = build(
            Personality::SnbLegacy,
            &Options {
                stolen_source: Some(StolenSource::Baked),
                ..Options::default()
            },
        )
        .unwrap();
        let b = build(
            Personality::SnbLegacy,
            &Options {
                stolen_source: Some(StolenSource::Baked),
                baked_host_bdsm: 0x7F00_0000,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(
            u32::from_le_bytes(a[0x124..0x128].try_into().unwrap()),
            0x8B80_0000
        );
        assert_eq!(
            u32::from_le_bytes(b[0x124..0x128].try_into().unwrap()),
            0x7F00_0000
        );
        let c = build(
            Personality::SnbLegacy,
            &Options {
                device_id: Some(0x0116),
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(word(&c, 0x46), 0x0116);
    }

    #[test]
    fn icl_needs_gen11_and_unknown_devices_are_typed_errors() {
        assert!(matches!(
            build(
                Personality::IclLegacy,
                &Options {
                    device_id: Some(0x0126),
                    ..Options::default()
                }
            ),
            Err(BuildError::WrongGeneration { .. })
        ));
        assert!(matches!(
            build(
                Personality::SnbLegacy,
                &Options {
                    device_id: Some(0x1234),
                    ..Options::default()
                }
            ),
            Err(BuildError::Device(_))
        ));
    }

    #[test]
    fn listing_names_the_labels() {
        let rom = build_with_symbols(Personality::BdwLegacy, &Options::default()).unwrap();
        let text = crate::listing(&rom);
        for label in [
            "init:",
            "pci_read32:",
            "bar4_write:",
            "gtt_loop:",
            "int10_handler:",
            "vbe_4f02_set_mode:",
        ] {
            assert!(text.contains(label), "missing {label}\n{text}");
        }
        assert!(text.contains("out     dx,eax"), "{text}");
        // The init entry is the first code byte.
        assert_eq!(
            rom.symbols.get(&(CODE_OFFSET as u64)).map(String::as_str),
            Some("init")
        );
    }

    #[test]
    fn names_round_trip() {
        for p in Personality::ALL {
            assert_eq!(Personality::parse(p.name()), Some(p));
        }
        for s in StolenSource::ALL {
            assert_eq!(StolenSource::parse(s.name()), Some(s));
        }
    }
}

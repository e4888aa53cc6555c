//! Every QEMU release from 2.7.0 (legacy IGD assignment appeared) to 10.2.0,
//! as data: what each release's IGD quirk (`hw/vfio/pci-quirks.c` up to 4.2,
//! `hw/vfio/igd.c` from 5.0) does, one behaviour switch per thing that
//! changed, each with the upstream commit that introduced it.
//!
//! Read from QEMU's own history (`github:pbo-linaro/qemu-ci` mirrors upstream;
//! a release is the commit that set `VERSION` to X.Y.0; igd-anchors §1.1, §11).
//! Releases whose quirk is identical share one [`Behaviour`]:
//!
//! | releases | behaviour |
//! |---|---|
//! | 2.7, 2.8 | [`B2_7`]: `c4c45e943e51`, BAR4 rewrite `base \| (data & 0xFFFFF)` |
//! | 2.9 - 4.2 | [`B2_9`]: `ac2a9862b761`, the rebase `data - host + guest` |
//! | 5.1 - 9.1 | [`B5_1`]: as 2.9 (`643a4eacef87` built legacy IGD in again) |
//! | 5.0 | [`B5_0`]: `29d62771c81d` moved the quirk to igd.c; `#ifdef CONFIG_VFIO_IGD` saw no config header, legacy IGD compiled out (fixed by `643a4eacef87` in 5.1) |
//! | 9.2 | [`B9_2`]: unknown IDs refused, 64-bit BDSM at 0xC0 for gen 11+, BDSM mirror gen 11+, host GMS kept |
//! | 10.0 | [`B10_0`]: i915 numbering, no BAR4 quirk, GGC and BDSM mirrors, `etc/igd-bdsm-size` = GMS, `x-igd-lpc` builds the LPC bridge without legacy mode |
//! | 10.1 | [`B10_1`]: legacy mode gen 6-9 only, GGC emulated only with `x-igd-gms` |
//! | 10.2 | [`B10_2`]: quirks for display class 0x0380 too (no change for a VGA-class IGD) |
//!
//! Every release builds the same machine around the device in legacy mode
//! (QEMU's i440FX `pc` machine with its IGD LPC bridge, [`LpcQuirk`],
//! `machine::qemu_pc`); [`lpc_quirk`] says when.
//!
//! [`realize`] is QEMU's realize for one device: from the release, the user's
//! options and the host config space it computes what the guest will see
//! ([`Realized`]) or why QEMU gives no legacy mode ([`Refusal`]).

use std::fmt;

use super::remap::{bdsm_mirror_at, Bar0Mirror, CFG_GGC, MIB};
use crate::igd::generation::BdsmLocation;
use crate::pci::ConfigSpace;

/// Apply macro `$m` to the names of the behaviour switches, in
/// [`Behaviour`] field order: the one list [`SWITCHES`], the comparison of
/// two releases and the mixing of switches all go through.
macro_rules! for_each_switch {
    ($m:ident) => {
        $m!(
            legacy,
            gen_table,
            bar4,
            bdsm_register,
            guest_gms,
            bdsm_size,
            ggc_mirror,
            bdsm_mirror,
            options,
            display_class,
            bridges
        )
    };
}

macro_rules! switch_names {
    ($($f:ident),*) => { [$(stringify!($f)),*] };
}

/// A behaviour switch: its value in a release and the upstream commit that
/// gave it that value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Switch<T> {
    /// The value.
    pub value: T,
    /// The commit that introduced it (12 hex digits, upstream QEMU).
    pub commit: &'static str,
    /// What the commit did, in one line.
    pub why: &'static str,
}

const fn sw<T>(value: T, commit: &'static str, why: &'static str) -> Switch<T> {
    Switch { value, commit, why }
}

/// Which devices get legacy mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LegacyGate {
    /// `if (gen != 6 && gen != 8)` refuses (QEMU's own numbering, unknown IDs
    /// assumed 8).
    QemuGen6Or8,
    /// The probe is compiled out: no legacy mode for any device.
    CompiledOut,
    /// `if (gen == -1)` refuses: every known generation.
    KnownGen,
    /// Known generations, unless `x-igd-legacy-mode=off`.
    KnownGenSwitchable,
    /// `gen >= 6 && gen <= 9`, host GGC IVD clear, unless `x-igd-legacy-mode=off`.
    Gen6To9,
}

/// `igd_gen()`: device ID to QEMU's generation number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GenTable {
    /// 6 for SNB/IVB/VLV/HSW, 8 for BDW/CHV/SKL/KBL/BXT, "8 /* Assume newer
    /// is compatible */" for anything else.
    Original,
    /// As `Original`, plus CFL 9, EHL 11, TGL 12; anything else -1.
    Known2024,
    /// i915's numbering: SNB/IVB 6, HSW/VLV 7, BDW/CHV 8, SKL..CML 9, ICL/EHL/JSL
    /// 11, TGL/RKL/ADL/RPL 12, anything else -1.
    I915,
}

/// The BAR4 MMIO_Index/MMIO_Data quirk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Bar4Quirk {
    /// `val = base | (data & ((1 << 20) - 1))`: guest BDSM OR the low 20 bits.
    OrLow20,
    /// `val = data - igd->bdsm + base`: host BDSM subtracted, guest BDSM added.
    Rebase,
    /// No quirk: BAR4 goes straight to the device.
    Removed,
}

/// Where QEMU emulates BDSM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BdsmRegister {
    /// Always 32-bit at 0x5C.
    Config5C,
    /// 0x5C below gen 11, 64-bit at 0xC0 from gen 11.
    ByGen,
}

/// The GMS field of the GGC the guest reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GuestGms {
    /// Cleared, unless `x-igd-gms` (at most 0x10) sets it.
    Zeroed,
    /// The host's; `x-igd-gms` is accepted and ignored.
    Host,
    /// The host's, or `x-igd-gms` (gen < 8: at most 0x10, else 0x40); an
    /// out-of-range value is reported and ignored.
    HostOrOverride,
    /// As `HostOrOverride`, gen 9+ also 0xF0-0xFE; an out-of-range value fails
    /// realize.
    HostOrOverrideChecked,
}

/// What `etc/igd-bdsm-size` holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BdsmSize {
    /// GGMS (`1 << ggms` MiB on gen > 6, a field of 0 read as 1 MiB) plus the
    /// guest GMS size (gen < 9 above 0x10: 0, "Unsupported IGD GMS value").
    GgmsPlusGms,
    /// The GMS size only (`igd_stolen_memory_size`).
    GmsOnly,
}

/// The BAR0 GGC mirror at 0x108040.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GgcMirror {
    /// None.
    Absent,
    /// Always, onto the (emulated) GGC.
    Always,
    /// Only with `x-igd-gms`.
    WithGms,
}

/// The BAR0 BDSM mirror at 0x1080C0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BdsmMirror {
    /// None.
    Absent,
    /// Gen 11+ only: 8 bytes onto 0xC0.
    Gen11Plus,
    /// Gen 6+: 4 bytes onto 0x5C, 8 bytes onto 0xC0 from gen 11.
    Gen6Plus,
}

/// Which `x-igd-*` options the release has, and the OpRegion default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct OptionSet {
    /// `x-igd-lpc` exists.
    pub lpc: bool,
    /// `x-igd-legacy-mode` exists.
    pub legacy_mode: bool,
    /// `x-igd-opregion` default.
    pub opregion_default: bool,
}

/// When QEMU builds its IGD LPC bridge at 00:1f.0 and copies the host's IDs
/// into its i440FX host bridge (`vfio_pci_igd_lpc_init` and
/// `vfio_pci_igd_host_init`, igd-anchors §1.6).
///
/// What the guest then reads is the same in every release: the i440FX
/// (8086:1237) with the host bridge's revision and prog-if (a 2-byte copy at
/// 0x08), SVID and SSID; a `vfio-pci-igd-lpc-bridge` (class 0x0601, header
/// type 0) with the host LPC bridge's vendor, device, revision and prog-if,
/// SVID and SSID and nothing else (0x40 and up read 0). Without the quirk
/// 00:1f.0 is empty (all-ones) and the i440FX keeps its own revision 2 and
/// QEMU's default subsystem 1af4:1100.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LpcQuirk {
    /// Part of legacy mode, never without it (`c4c45e943e51`: created in
    /// `vfio_probe_igd_bar4_quirk` after the legacy checks).
    WithLegacyMode,
    /// With legacy mode (which sets `VFIO_FEATURE_ENABLE_IGD_LPC`, so
    /// `x-igd-lpc=off` does not remove it) or with `x-igd-lpc=on` alone
    /// (`674f61117d36`).
    LegacyModeOrOption,
}

/// One release's IGD behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Behaviour {
    /// Which devices get legacy mode.
    pub legacy: Switch<LegacyGate>,
    /// Device ID to generation.
    pub gen_table: Switch<GenTable>,
    /// The BAR4 quirk; with it come the start-up GTT clear and the VM stop
    /// when BDSM is 0.
    pub bar4: Switch<Bar4Quirk>,
    /// Where BDSM is emulated.
    pub bdsm_register: Switch<BdsmRegister>,
    /// The guest's GMS field.
    pub guest_gms: Switch<GuestGms>,
    /// `etc/igd-bdsm-size`.
    pub bdsm_size: Switch<BdsmSize>,
    /// BAR0 GGC mirror.
    pub ggc_mirror: Switch<GgcMirror>,
    /// BAR0 BDSM mirror.
    pub bdsm_mirror: Switch<BdsmMirror>,
    /// Options.
    pub options: Switch<OptionSet>,
    /// Whether a display-class (0x0380) IGD gets the quirks too.
    pub display_class: Switch<bool>,
    /// When the LPC bridge and the host bridge IDs are set up.
    pub bridges: Switch<LpcQuirk>,
}

const LEGACY: &str = "c4c45e943e51";
const LEGACY_WHY: &str = "vfio/pci: Intel graphics legacy mode assignment";

/// 2.7.0 and 2.8.0.
pub const B2_7: Behaviour = Behaviour {
    legacy: sw(LegacyGate::QemuGen6Or8, LEGACY, LEGACY_WHY),
    gen_table: sw(GenTable::Original, LEGACY, LEGACY_WHY),
    bar4: sw(Bar4Quirk::OrLow20, LEGACY, LEGACY_WHY),
    bdsm_register: sw(BdsmRegister::Config5C, LEGACY, LEGACY_WHY),
    guest_gms: sw(GuestGms::Zeroed, LEGACY, LEGACY_WHY),
    bdsm_size: sw(BdsmSize::GgmsPlusGms, LEGACY, LEGACY_WHY),
    ggc_mirror: sw(GgcMirror::Absent, LEGACY, LEGACY_WHY),
    bdsm_mirror: sw(BdsmMirror::Absent, LEGACY, LEGACY_WHY),
    options: sw(
        OptionSet {
            lpc: false,
            legacy_mode: false,
            opregion_default: false,
        },
        "6ced0bba70ff",
        "vfio/pci: Add a separate option for IGD OpRegion support",
    ),
    display_class: sw(false, LEGACY, LEGACY_WHY),
    bridges: sw(LpcQuirk::WithLegacyMode, LEGACY, LEGACY_WHY),
};

/// 2.9.0 to 4.2.0 and 5.1.0 to 9.1.0.
pub const B2_9: Behaviour = Behaviour {
    bar4: sw(
        Bar4Quirk::Rebase,
        "ac2a9862b761",
        "vfio-pci: Fix GTT wrap-around for Skylake+ IGD",
    ),
    ..B2_7
};

/// 5.0.0.
pub const B5_0: Behaviour = Behaviour {
    legacy: sw(
        LegacyGate::CompiledOut,
        "29d62771c81d",
        "hw/vfio: Move the IGD quirk code to a separate file (CONFIG_VFIO_IGD unseen: fixed by 643a4eacef87 in 5.1)",
    ),
    ..B2_9
};

/// 5.1.0 to 9.1.0: as 2.9, legacy IGD built in again.
pub const B5_1: Behaviour = Behaviour {
    legacy: sw(
        LegacyGate::QemuGen6Or8,
        "643a4eacef87",
        "hw/vfio/pci-quirks: Fix broken legacy IGD passthrough",
    ),
    ..B2_9
};

/// 9.2.0.
pub const B9_2: Behaviour = Behaviour {
    legacy: sw(
        LegacyGate::KnownGen,
        "abd9dda914ea",
        "vfio/igd: support legacy mode for all known generations",
    ),
    gen_table: sw(
        GenTable::Known2024,
        "e433f208973f",
        "vfio/igd: return an invalid generation for unknown devices (with 9c86b9fb43cf EHL/TGL, aff0c39c5bb5 CFL)",
    ),
    bdsm_register: sw(
        BdsmRegister::ByGen,
        "7bafcd176729",
        "vfio/igd: use new BDSM register location and size for gen 11 and later",
    ),
    guest_gms: sw(
        GuestGms::Host,
        "971ca22f041b",
        "vfio/igd: don't set stolen memory size to zero",
    ),
    bdsm_size: sw(
        BdsmSize::GgmsPlusGms,
        "871922416683",
        "vfio/igd: correctly calculate stolen memory size for gen 9 and later",
    ),
    bdsm_mirror: sw(
        BdsmMirror::Gen11Plus,
        "11b5ce95beec",
        "vfio/igd: add new bar0 quirk to emulate BDSM mirror",
    ),
    ..B5_1
};

/// 10.0.0.
pub const B10_0: Behaviour = Behaviour {
    legacy: sw(
        LegacyGate::KnownGenSwitchable,
        "2fedccf03c88",
        "vfio/igd: Decouple common quirks from legacy mode",
    ),
    gen_table: sw(
        GenTable::I915,
        "0bb758e97ace",
        "vfio/igd: align generation with i915 kernel driver (with 183714d8f940, 960f62770ae4 new IDs)",
    ),
    bar4: sw(
        Bar4Quirk::Removed,
        "5aed8b0f0be2",
        "vfio/igd: Remove GTT write quirk in IO BAR 4",
    ),
    guest_gms: sw(
        GuestGms::HostOrOverride,
        "37f05a59e869",
        "vfio/igd: add x-igd-gms option back to set DSM region size for guest",
    ),
    bdsm_size: sw(
        BdsmSize::GmsOnly,
        "5faec6a5e220",
        "vfio/igd: Do not include GTT stolen size in etc/igd-bdsm-size",
    ),
    ggc_mirror: sw(
        GgcMirror::Always,
        "ea652c2beeae",
        "vfio/igd: emulate GGC register in mmio bar0",
    ),
    bdsm_mirror: sw(
        BdsmMirror::Gen6Plus,
        "f926baa03b7b",
        "vfio/igd: emulate BDSM in mmio bar0 for gen 6-10 devices",
    ),
    options: sw(
        OptionSet {
            lpc: true,
            legacy_mode: true,
            opregion_default: false,
        },
        "674f61117d36",
        "vfio/igd: Introduce x-igd-lpc option for LPC bridge ID quirk (x-igd-legacy-mode from 2fedccf03c88)",
    ),
    bridges: sw(
        LpcQuirk::LegacyModeOrOption,
        "674f61117d36",
        "vfio/igd: Introduce x-igd-lpc option for LPC bridge ID quirk",
    ),
    ..B9_2
};

/// 10.1.0.
pub const B10_1: Behaviour = Behaviour {
    legacy: sw(
        LegacyGate::Gen6To9,
        "dd69d846046f",
        "vfio/igd: Restrict legacy mode to Gen6-9 devices (with e0b33efe2acc: require host VGA decode)",
    ),
    guest_gms: sw(
        GuestGms::HostOrOverrideChecked,
        "395a1f7941f4",
        "vfio/igd: Allow overriding GMS with 0xf0 to 0xfe on Gen9+",
    ),
    ggc_mirror: sw(
        GgcMirror::WithGms,
        "36e4047a9b1c",
        "vfio/igd: Only emulate GGC register when x-igd-gms is set",
    ),
    options: sw(
        OptionSet {
            lpc: true,
            legacy_mode: true,
            opregion_default: true,
        },
        "16cbb43302a2",
        "vfio/igd: Enable OpRegion by default",
    ),
    ..B10_0
};

/// 10.2.0.
pub const B10_2: Behaviour = Behaviour {
    display_class: sw(
        true,
        "432ca3dfa3d5",
        "vfio/igd: Enable quirks when IGD is not the primary display",
    ),
    ..B10_1
};

macro_rules! releases {
    ($($v:ident, $ver:literal, $commit:literal, $b:ident;)*) => {
        /// A QEMU release (X.Y.0).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        pub enum Release { $(#[doc = concat!("QEMU ", $ver, ".0 (release commit `", $commit, "`).")] $v,)* }

        impl Release {
            /// Every release, oldest first.
            pub const ALL: &'static [Release] = &[$(Release::$v,)*];

            /// "X.Y".
            #[must_use]
            pub const fn version(self) -> &'static str {
                match self { $(Release::$v => $ver,)* }
            }

            /// `--remapper` name: "qemu-X.Y".
            #[must_use]
            pub const fn name(self) -> &'static str {
                match self { $(Release::$v => concat!("qemu-", $ver),)* }
            }

            /// The commit that set `VERSION` to X.Y.0.
            #[must_use]
            pub const fn commit(self) -> &'static str {
                match self { $(Release::$v => $commit,)* }
            }

            /// Its IGD behaviour.
            #[must_use]
            pub const fn behaviour(self) -> &'static Behaviour {
                match self { $(Release::$v => &$b,)* }
            }
        }
    };
}

releases! {
    V2_7, "2.7", "1dc33ed90bf1", B2_7;
    V2_8, "2.8", "0737f32daf35", B2_7;
    V2_9, "2.9", "359c41abe326", B2_9;
    V2_10, "2.10", "1ab5eb4efb91", B2_9;
    V2_11, "2.11", "0a0dc59d2752", B2_9;
    V2_12, "2.12", "4743c23509a5", B2_9;
    V3_0, "3.0", "38441756b70e", B2_9;
    V3_1, "3.1", "32a1a94dd324", B2_9;
    V4_0, "4.0", "131b9a057056", B2_9;
    V4_1, "4.1", "9e06029aea3b", B2_9;
    V4_2, "4.2", "b0ca999a43a2", B2_9;
    V5_0, "5.0", "fdd76fecdde1", B5_0;
    V5_1, "5.1", "d0ed6a69d399", B5_1;
    V5_2, "5.2", "553032db1744", B5_1;
    V6_0, "6.0", "609d7596524a", B5_1;
    V6_1, "6.1", "f9baca549e44", B5_1;
    V6_2, "6.2", "44f28df24767", B5_1;
    V7_0, "7.0", "823a3f11fb8f", B5_1;
    V7_1, "7.1", "621da7789083", B5_1;
    V7_2, "7.2", "b67b00e6b4c7", B5_1;
    V8_0, "8.0", "c1eb2ddf0f80", B5_1;
    V8_1, "8.1", "7e5a8bb22368", B5_1;
    V8_2, "8.2", "1600b9f46b1b", B5_1;
    V9_0, "9.0", "c25df57ae8f9", B5_1;
    V9_1, "9.1", "fd1952d814da", B5_1;
    V9_2, "9.2", "ae35f033b874", B9_2;
    V10_0, "10.0", "7c949c53e936", B10_0;
    V10_1, "10.1", "f8b2f64e2336", B10_1;
    V10_2, "10.2", "698104725efa", B10_2;
}

/// `qemu-2016`: the BAR4 rebase era, as its last release, 9.1.0.
pub const ALIAS_2016: Release = Release::V9_1;
/// `qemu-2025`: no BAR4 quirk, GGC mirror only with `x-igd-gms`: 10.1.0.
pub const ALIAS_2025: Release = Release::V10_1;

impl Release {
    /// Parse "2.7", "2.7.0", "qemu-2.7", or the aliases "2016" / "2025".
    #[must_use]
    pub fn parse(s: &str) -> Option<Release> {
        let s = s.strip_prefix("qemu-").unwrap_or(s);
        match s {
            "2016" => return Some(ALIAS_2016),
            "2025" => return Some(ALIAS_2025),
            _ => {}
        }
        let s = s
            .strip_suffix(".0")
            .filter(|t| t.contains('.'))
            .unwrap_or(s);
        Release::ALL.iter().copied().find(|r| r.version() == s)
    }

    /// The switches whose value differs from `prev`'s: what changed between
    /// two releases, as (switch index in [`SWITCHES`], name, the switch's
    /// commit and subject in `self`).
    #[must_use]
    pub fn changes_since(self, prev: Release) -> Vec<SwitchChange> {
        let (a, b) = (prev.behaviour(), self.behaviour());
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => {$(
                if a.$f.value != b.$f.value || a.$f.commit != b.$f.commit {
                    out.push(SwitchChange {
                        index: switch_index(stringify!($f)),
                        name: stringify!($f),
                        commit: b.$f.commit,
                        why: b.$f.why,
                    });
                }
            )*};
        }
        for_each_switch!(cmp);
        out
    }
}

/// The behaviour switches, in [`Behaviour`] field order.
pub const SWITCHES: [&str; 11] = for_each_switch!(switch_names);

/// The index of switch `name` in [`SWITCHES`] (a name from the list itself).
fn switch_index(name: &str) -> usize {
    SWITCHES
        .iter()
        .position(|n| *n == name)
        .unwrap_or(SWITCHES.len())
}

/// One switch that differs between two releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SwitchChange {
    /// Index in [`SWITCHES`] (bit in [`Mix::switches`]).
    pub index: usize,
    /// Field name.
    pub name: &'static str,
    /// The commit that set the newer value.
    pub commit: &'static str,
    /// Its subject.
    pub why: &'static str,
}

/// A counterfactual release: the switches in `switches` (bits indexed by
/// [`SWITCHES`]) taken from release `from`, the rest from the setup's release.
/// `igdemu compat` uses it to find which commit of a release changed a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Mix {
    /// Where the mixed-in switches come from.
    pub from: Release,
    /// Bit i set: switch `SWITCHES[i]` from `from`.
    pub switches: u16,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// QEMU's `OnOffAuto`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum OnOffAuto {
    /// Forced on.
    On,
    /// Forced off.
    Off,
    /// The default.
    #[default]
    Auto,
}

/// The `vfio-pci` options a user sets on the IGD.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct QemuOptions {
    /// `x-igd-gms` (0 = unset, as in QEMU: `if (vdev->igd_gms)`).
    pub gms: u32,
    /// `x-igd-opregion`, when set.
    pub opregion: Option<bool>,
    /// `x-igd-lpc`, when set.
    pub lpc: Option<bool>,
    /// `x-igd-legacy-mode`.
    pub legacy_mode: OnOffAuto,
}

/// A release with the user's options: what `--remapper qemu-9.1,x-igd-gms=2`
/// names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct QemuSetup {
    /// The release.
    pub release: Release,
    /// The options.
    pub options: QemuOptions,
    /// A counterfactual: some switches from another release (None for a real
    /// release).
    pub mix: Option<Mix>,
}

/// Why an option string was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// Not a release this model knows.
    #[error("unknown QEMU release {0:?}: one of 2.7 to 10.2 (e.g. qemu-7.2, qemu-9.1), or qemu-2016 / qemu-2025")]
    UnknownRelease(String),
    /// No such option in any release.
    #[error("unknown option {0:?}: x-igd-gms, x-igd-opregion, x-igd-lpc or x-igd-legacy-mode")]
    UnknownOption(String),
    /// The release does not have this option.
    #[error("{release} has no {option} (added in {since} by {commit})")]
    Absent {
        /// The release.
        release: Release,
        /// The option.
        option: &'static str,
        /// The first release with it.
        since: Release,
        /// The commit that added it.
        commit: &'static str,
    },
    /// A value QEMU's property parser rejects.
    #[error("{option}: bad value {value:?} ({expected})")]
    BadValue {
        /// The option.
        option: &'static str,
        /// The value given.
        value: String,
        /// What QEMU accepts.
        expected: &'static str,
    },
}

fn parse_bool(option: &'static str, v: &str) -> Result<bool, OptionError> {
    match v {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(OptionError::BadValue {
            option,
            value: v.into(),
            expected: "on or off",
        }),
    }
}

impl QemuSetup {
    /// A release with default options.
    #[must_use]
    pub const fn release(release: Release) -> Self {
        Self {
            release,
            options: QemuOptions {
                gms: 0,
                opregion: None,
                lpc: None,
                legacy_mode: OnOffAuto::Auto,
            },
            mix: None,
        }
    }

    /// The behaviour this setup runs: the release's, with the mixed-in
    /// switches of [`Mix::from`].
    #[must_use]
    pub fn behaviour(&self) -> Behaviour {
        let mut b = *self.release.behaviour();
        if let Some(m) = self.mix {
            let o = m.from.behaviour();
            macro_rules! take {
                ($($f:ident),*) => {$(
                    if m.switches & (1 << switch_index(stringify!($f))) != 0 {
                        b.$f = o.$f;
                    }
                )*};
            }
            for_each_switch!(take);
        }
        b
    }

    /// Parse `qemu-9.1,x-igd-gms=2,x-igd-opregion=on`.
    pub fn parse(spec: &str) -> Result<Self, OptionError> {
        let mut parts = spec.split(',');
        let head = parts.next().unwrap_or_default().trim();
        let release =
            Release::parse(head).ok_or_else(|| OptionError::UnknownRelease(head.to_string()))?;
        let mut setup = Self::release(release);
        let opts = release.behaviour().options.value;
        let absent = |option: &'static str| OptionError::Absent {
            release,
            option,
            since: Release::V10_0,
            commit: if option == "x-igd-lpc" {
                "674f61117d36"
            } else {
                "2fedccf03c88"
            },
        };
        for item in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, "on"));
            match key {
                "x-igd-gms" => {
                    let v = value.trim();
                    let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                        Some(hex) => u32::from_str_radix(hex, 16),
                        None => v.parse::<u32>(),
                    };
                    setup.options.gms = parsed.map_err(|_| OptionError::BadValue {
                        option: "x-igd-gms",
                        value: value.into(),
                        expected: "a 32-bit number of 32 MiB units",
                    })?;
                }
                "x-igd-opregion" => {
                    setup.options.opregion = Some(parse_bool("x-igd-opregion", value)?);
                }
                "x-igd-lpc" if opts.lpc => {
                    setup.options.lpc = Some(parse_bool("x-igd-lpc", value)?);
                }
                "x-igd-lpc" => return Err(absent("x-igd-lpc")),
                "x-igd-legacy-mode" if opts.legacy_mode => {
                    setup.options.legacy_mode = match value {
                        "on" => OnOffAuto::On,
                        "off" => OnOffAuto::Off,
                        "auto" => OnOffAuto::Auto,
                        _ => {
                            return Err(OptionError::BadValue {
                                option: "x-igd-legacy-mode",
                                value: value.into(),
                                expected: "on, off or auto",
                            })
                        }
                    };
                }
                "x-igd-legacy-mode" => return Err(absent("x-igd-legacy-mode")),
                other => return Err(OptionError::UnknownOption(other.to_string())),
            }
        }
        Ok(setup)
    }

    /// The spec back: `qemu-9.1,x-igd-gms=0x2`.
    #[must_use]
    pub fn spec(&self) -> String {
        let mut s = self.release.name().to_string();
        let o = &self.options;
        if o.gms != 0 {
            s.push_str(&format!(",x-igd-gms={:#x}", o.gms));
        }
        let onoff = |b: bool| if b { "on" } else { "off" };
        if let Some(b) = o.opregion {
            s.push_str(&format!(",x-igd-opregion={}", onoff(b)));
        }
        if let Some(b) = o.lpc {
            s.push_str(&format!(",x-igd-lpc={}", onoff(b)));
        }
        match o.legacy_mode {
            OnOffAuto::On => s.push_str(",x-igd-legacy-mode=on"),
            OnOffAuto::Off => s.push_str(",x-igd-legacy-mode=off"),
            OnOffAuto::Auto => {}
        }
        s
    }
}

/// `igd_gen()` rules: the first `(device_id & mask) == value` wins.
struct GenRule {
    mask: u16,
    value: u16,
    gen: i8,
}

const fn r(mask: u16, value: u16, gen: i8) -> GenRule {
    GenRule { mask, value, gen }
}

/// `c4c45e943e51` (and `9c86b9fb43cf`/`aff0c39c5bb5` for the 2024 rows).
const ORIGINAL_RULES: &[GenRule] = &[
    r(0xFFF, 0xA84, 8), // Broxton
    r(0xFF00, 0x0000, -1),
    r(0xFF00, 0x2500, -1),
    r(0xFF00, 0x2700, -1),
    r(0xFF00, 0x2900, -1),
    r(0xFF00, 0x2A00, -1),
    r(0xFF00, 0x2E00, -1),
    r(0xFF00, 0x3500, -1),
    r(0xFF00, 0xA000, -1),
    r(0xFF00, 0x0100, 6), // SandyBridge, IvyBridge
    r(0xFF00, 0x0400, 6), // Haswell
    r(0xFF00, 0x0A00, 6),
    r(0xFF00, 0x0C00, 6),
    r(0xFF00, 0x0D00, 6),
    r(0xFF00, 0x0F00, 6), // ValleyView
    r(0xFF00, 0x1600, 8), // Broadwell
    r(0xFF00, 0x1900, 8), // Skylake
    r(0xFF00, 0x2200, 8), // Cherryview
    r(0xFF00, 0x5900, 8), // KabyLake
];
const KNOWN_2024_RULES: &[GenRule] = &[
    r(0xFF00, 0x3E00, 9),  // CoffeeLake (aff0c39c5bb5)
    r(0xFF00, 0x4500, 11), // ElkhartLake (9c86b9fb43cf)
    r(0xFF00, 0x9A00, 12), // TigerLake
];
/// `0bb758e97ace`, `8492a6129c3c`, `183714d8f940`, `960f62770ae4`.
const I915_RULES: &[GenRule] = &[
    r(0xFFE, 0xA84, 9), // Broxton/Apollo Lake, before Haswell's 0x0A00
    r(0xFF00, 0x0100, 6),
    r(0xFF00, 0x0400, 7),
    r(0xFF00, 0x0A00, 7),
    r(0xFF00, 0x0C00, 7),
    r(0xFF00, 0x0D00, 7),
    r(0xFF00, 0x0F00, 7),
    r(0xFF00, 0x1600, 8),
    r(0xFF00, 0x2200, 8),
    r(0xFF00, 0x1900, 9),
    r(0xFF00, 0x3100, 9),
    r(0xFF00, 0x5900, 9),
    r(0xFF00, 0x3E00, 9),
    r(0xFF00, 0x9B00, 9),
    r(0xFF00, 0x8A00, 11),
    r(0xFF00, 0x4500, 11),
    r(0xFF00, 0x4E00, 11),
    r(0xFF00, 0x9A00, 12),
    r(0xFF00, 0x4C00, 12),
    r(0xFF00, 0x4600, 12),
    r(0xFF00, 0xA700, 12),
];

fn first_match(rules: &[GenRule], device_id: u16) -> Option<i8> {
    rules
        .iter()
        .find(|g| device_id & g.mask == g.value)
        .map(|g| g.gen)
}

impl GenTable {
    /// QEMU's generation for `device_id` (-1: unknown).
    #[must_use]
    pub fn gen(self, device_id: u16) -> i8 {
        match self {
            GenTable::Original => first_match(ORIGINAL_RULES, device_id).unwrap_or(8),
            GenTable::Known2024 => first_match(ORIGINAL_RULES, device_id)
                .or_else(|| first_match(KNOWN_2024_RULES, device_id))
                .unwrap_or(-1),
            GenTable::I915 => first_match(I915_RULES, device_id).unwrap_or(-1),
        }
    }
}

/// GGMS in MiB, the legacy quirk's way (`c4c45e943e51`, unchanged while the
/// quirk existed): `ggms = (gmch >> (gen < 8 ? 8 : 6)) & 3; if (gen > 6) ggms
/// = 1 << ggms;` so a field of 0 reads as 1 MiB on gen > 6.
#[must_use]
pub const fn legacy_ggms_mib(gen: i8, gmch: u32) -> u64 {
    let ggms = (gmch >> if gen < 8 { 8 } else { 6 }) & 3;
    if gen > 6 {
        1 << ggms
    } else {
        ggms as u64
    }
}

/// `vfio_igd_gtt_max`: the first MMIO_Index past the trapped PTEs.
#[must_use]
pub const fn legacy_gtt_max(gen: i8, gmch: u32) -> u64 {
    (legacy_ggms_mib(gen, gmch) * MIB / 4096) * if gen < 8 { 4 } else { 8 }
}

/// The GMS field (gen < 8: bits 7:3, else 15:8).
#[must_use]
pub const fn gms_field(gen: i8, gmch: u32) -> u32 {
    if gen < 8 {
        (gmch >> 3) & 0x1F
    } else {
        (gmch >> 8) & 0xFF
    }
}

/// `igd_stolen_memory_size` (`1e1eac5f3dcd`): gen < 9 `gms * 32 MiB`; gen 9+
/// below 0xF0 the same, 0xF0+ `(gms - 0xF0 + 1) * 4 MiB`.
#[must_use]
pub const fn stolen_size(gen: i8, gmch: u32) -> u64 {
    let gms = gms_field(gen, gmch) as u64;
    if gen < 9 || gms < 0xF0 {
        gms * 32 * MIB
    } else {
        (gms - 0xF0 + 1) * 4 * MIB
    }
}

/// `igd_get_stolen_mb` (`871922416683`) in bytes: as [`stolen_size`] but gen
/// < 9 with GMS above 0x10 is "Unsupported IGD GMS value" and gives 0.
#[must_use]
pub const fn checked_stolen_size(gen: i8, gmch: u32) -> u64 {
    if gen < 9 && gms_field(gen, gmch) > 0x10 {
        0
    } else {
        stolen_size(gen, gmch)
    }
}

const fn set_gms(gen: i8, gmch: u32, gms: u32) -> u32 {
    if gen < 8 {
        (gmch & !(0x1F << 3)) | ((gms & 0x1F) << 3)
    } else {
        (gmch & !(0xFF << 8)) | ((gms & 0xFF) << 8)
    }
}

/// Why QEMU gives the device no legacy mode, or fails to start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize)]
pub enum Refusal {
    /// Legacy IGD support is not built into this release.
    #[error("{release}: legacy IGD assignment is compiled out (29d62771c81d moved it to igd.c and CONFIG_VFIO_IGD was never seen; 643a4eacef87 fixed it in 5.1)")]
    CompiledOut {
        /// The release.
        release: Release,
    },
    /// "IGD device %s is unsupported in legacy mode, try SandyBridge or newer".
    #[error("{release}: IGD device {device_id:04x} (QEMU gen {qemu_gen}) is unsupported in legacy mode, try SandyBridge or newer ({commit})")]
    UnsupportedGen {
        /// The release.
        release: Release,
        /// The device.
        device_id: u16,
        /// `igd_gen()`.
        qemu_gen: i8,
        /// The commit behind the gate.
        commit: &'static str,
    },
    /// 10.1+: legacy mode is for gen 6-9 only; `auto` silently leaves it off.
    #[error("{release}: no legacy mode for device {device_id:04x} (gen {qemu_gen}): restricted to gen 6-9 by dd69d846046f (no CSM vBIOS, SeaBIOS cannot program the 64-bit BDSM)")]
    NotLegacyGen {
        /// The release.
        release: Release,
        /// The device.
        device_id: u16,
        /// `igd_gen()`.
        qemu_gen: i8,
    },
    /// 10.1+: the host GGC has IVD (VGA disable) set (`e0b33efe2acc`).
    #[error(
        "{release}: no legacy mode: the host IGD does not decode VGA (GGC IVD set; e0b33efe2acc)"
    )]
    VgaDecodeDisabled {
        /// The release.
        release: Release,
    },
    /// `x-igd-legacy-mode=off`.
    #[error("{release}: x-igd-legacy-mode=off: no VGA ranges, no LPC bridge, the vBIOS has nothing to drive")]
    LegacyModeOff {
        /// The release.
        release: Release,
    },
    /// QEMU refuses to start (realize fails).
    #[error("{release}: vfio-pci realize fails: {message}")]
    RealizeFailed {
        /// The release.
        release: Release,
        /// QEMU's message.
        message: String,
    },
}

/// What QEMU set up for the device: everything the guest sees of the quirk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Realized {
    /// The release.
    pub release: Release,
    /// `igd_gen()`.
    pub qemu_gen: i8,
    /// GGC as the guest reads it (config 0x50).
    pub guest_ggc: u16,
    /// Where BDSM is emulated (guest-writable, initially 0).
    pub bdsm: BdsmLocation,
    /// `igd->bdsm`: the host BDSM read at realize from that register, 1 MiB
    /// aligned (what the rebase subtracts).
    pub host_bdsm: u64,
    /// `etc/igd-bdsm-size`.
    pub bdsm_size: u64,
    /// The BAR4 quirk.
    pub bar4: Bar4Quirk,
    /// `vfio_igd_gtt_max` (0 without the quirk).
    pub gtt_max: u64,
    /// The BAR0 GGC mirror.
    pub ggc_mirror: Option<Bar0Mirror>,
    /// The BAR0 BDSM mirror.
    pub bdsm_mirror: Option<Bar0Mirror>,
    /// Whether `etc/igd-opregion` is published (and ASLS emulated).
    pub opregion: bool,
    /// What QEMU prints but goes on (`error_report`, ignored options).
    pub warnings: Vec<String>,
}

impl Realized {
    /// MMIO_Index values written with data 0 at start-up (`i = 1; i < gtt_max;
    /// i += 4`), while the BAR4 quirk exists.
    #[must_use]
    pub fn startup_clear(&self) -> Vec<u32> {
        if self.bar4 == Bar4Quirk::Removed {
            return Vec::new();
        }
        (1..self.gtt_max).step_by(4).map(|i| i as u32).collect()
    }
}

/// QEMU's realize of the IGD under `setup`, from the host config space.
pub fn realize(setup: &QemuSetup, host: &ConfigSpace) -> Result<Realized, Refusal> {
    let release = setup.release;
    let behaviour = setup.behaviour();
    let b = &behaviour;
    let o = setup.options;
    let device_id = host.read_u16(0x02);
    let gen = b.gen_table.value.gen(device_id);
    let host_gmch = host.read_u32(CFG_GGC);
    let ivd = host_gmch & 0x2 != 0;
    let legacy_off = o.legacy_mode == OnOffAuto::Off;
    match b.legacy.value {
        LegacyGate::CompiledOut => return Err(Refusal::CompiledOut { release }),
        LegacyGate::QemuGen6Or8 if gen != 6 && gen != 8 => {
            return Err(Refusal::UnsupportedGen {
                release,
                device_id,
                qemu_gen: gen,
                commit: b.legacy.commit,
            })
        }
        LegacyGate::KnownGen | LegacyGate::KnownGenSwitchable if gen == -1 => {
            return Err(Refusal::UnsupportedGen {
                release,
                device_id,
                qemu_gen: gen,
                commit: b.legacy.commit,
            })
        }
        LegacyGate::KnownGenSwitchable if legacy_off => {
            return Err(Refusal::LegacyModeOff { release })
        }
        LegacyGate::Gen6To9 => {
            let eligible = (6..=9).contains(&gen) && !ivd;
            match (o.legacy_mode, eligible) {
                (OnOffAuto::Off, _) => return Err(Refusal::LegacyModeOff { release }),
                (OnOffAuto::On, false) => {
                    return Err(Refusal::RealizeFailed {
                        release,
                        message: format!(
                            "Machine is not i440fx, assigned BDF is not 00:02.0, or device {device_id:04x} (gen {gen}) doesn't support legacy mode"
                        ),
                    })
                }
                (OnOffAuto::Auto, false) if ivd && (6..=9).contains(&gen) => {
                    return Err(Refusal::VgaDecodeDisabled { release })
                }
                (OnOffAuto::Auto, false) => {
                    return Err(Refusal::NotLegacyGen {
                        release,
                        device_id,
                        qemu_gen: gen,
                    })
                }
                _ => {}
            }
        }
        _ => {}
    }
    let mut warnings = Vec::new();
    // The guest's GMCH.
    let mut gmch = host_gmch;
    match b.guest_gms.value {
        GuestGms::Zeroed => {
            gmch = set_gms(gen, gmch, 0);
            if o.gms != 0 {
                if o.gms <= 0x10 {
                    gmch = set_gms(gen, gmch, o.gms);
                } else {
                    warnings.push(format!("Unsupported IGD GMS value {:#x}", o.gms));
                }
            }
        }
        GuestGms::Host => {
            if o.gms != 0 {
                warnings.push(format!(
                    "x-igd-gms={:#x} is accepted and ignored by {release} (971ca22f041b dropped it; 37f05a59e869 restored it in 10.0)",
                    o.gms
                ));
            }
        }
        GuestGms::HostOrOverride => {
            if o.gms != 0 {
                let max = if gen < 8 { 0x10 } else { 0x40 };
                if o.gms <= max {
                    gmch = set_gms(gen, gmch, o.gms);
                } else {
                    warnings.push(format!(
                        "Parameter 'x-igd-gms' expects 0~{max:#x}: ignored, host GMS kept"
                    ));
                }
            }
        }
        GuestGms::HostOrOverrideChecked => {
            if o.gms != 0 {
                let (ok, expects) = match gen {
                    g if g < 8 => (o.gms <= 0x10, "0~0x10"),
                    8 => (o.gms <= 0x40, "0~0x40"),
                    _ => (
                        o.gms <= 0x40 || (0xF0..=0xFE).contains(&o.gms),
                        "0~0x40 or 0xf0~0xfe",
                    ),
                };
                if !ok {
                    return Err(Refusal::RealizeFailed {
                        release,
                        message: format!("Parameter 'x-igd-gms' expects {expects}"),
                    });
                }
                gmch = set_gms(gen, gmch, o.gms);
            }
        }
    }
    let bdsm = match b.bdsm_register.value {
        BdsmRegister::ByGen if gen >= 11 => BdsmLocation::ConfigC0,
        _ => BdsmLocation::Config5C,
    };
    let raw_host_bdsm = match bdsm {
        BdsmLocation::Config5C => u64::from(host.read_u32(0x5C)),
        BdsmLocation::ConfigC0 => host.read_u64(0xC0),
    };
    let bdsm_size = match b.bdsm_size.value {
        BdsmSize::GgmsPlusGms => {
            let gms = if b.guest_gms.value == GuestGms::Zeroed {
                // `gms_mb = vdev->igd_gms * 32` when accepted.
                u64::from(gms_field(gen, gmch)) * 32 * MIB
            } else {
                checked_stolen_size(gen, gmch)
            };
            if b.guest_gms.value != GuestGms::Zeroed && gen < 9 && gms_field(gen, gmch) > 0x10 {
                warnings.push(format!(
                    "Unsupported IGD GMS value {:#x}",
                    gms_field(gen, gmch)
                ));
            }
            legacy_ggms_mib(gen, gmch) * MIB + gms
        }
        BdsmSize::GmsOnly => stolen_size(gen, gmch),
    };
    let gtt_max = match b.bar4.value {
        Bar4Quirk::Removed => 0,
        _ => legacy_gtt_max(gen, gmch),
    };
    let ggc_mirror = match b.ggc_mirror.value {
        GgcMirror::Always => true,
        GgcMirror::WithGms => o.gms != 0,
        GgcMirror::Absent => false,
    };
    let bdsm_mirror = match b.bdsm_mirror.value {
        BdsmMirror::Gen11Plus => gen >= 11,
        BdsmMirror::Gen6Plus => gen >= 6,
        BdsmMirror::Absent => false,
    };
    Ok(Realized {
        release,
        qemu_gen: gen,
        guest_ggc: gmch as u16,
        bdsm,
        host_bdsm: raw_host_bdsm & !(MIB - 1),
        bdsm_size,
        bar4: b.bar4.value,
        gtt_max,
        ggc_mirror: ggc_mirror.then(super::remap::ggc_mirror),
        bdsm_mirror: bdsm_mirror.then(|| bdsm_mirror_at(bdsm)),
        // Legacy mode always turns the OpRegion on.
        opregion: true,
        warnings,
    })
}

/// Whether QEMU builds its IGD LPC bridge at 00:1f.0 and copies the host's
/// revision, SVID and SSID into its i440FX host bridge
/// (`vfio_pci_igd_setup_lpc_bridge`, before 10.0 inline in the legacy-mode
/// probe), for `setup` on the host IGD `host`.
///
/// * Legacy mode granted: yes, in every release.
/// * Legacy mode not granted, 10.0+ ([`LpcQuirk::LegacyModeOrOption`]): only
///   with `x-igd-lpc=on`, and only where the probe got that far: 10.0 returns
///   before any quirk for an ID it does not know (`if (gen == -1) return`);
///   from 10.1 the LPC setup runs for any IGD with an OpRegion
///   (`c0273e77f2d7` finds IGDs by their OpRegion, `7969cf463979` dropped the
///   `gen == -1` return), whatever its generation or `x-igd-legacy-mode`.
/// * QEMU does not start ([`Refusal::RealizeFailed`]): no machine at all.
#[must_use]
pub fn lpc_quirk(setup: &QemuSetup, host: &ConfigSpace) -> bool {
    let option = setup.behaviour().bridges.value == LpcQuirk::LegacyModeOrOption
        && setup.options.lpc == Some(true);
    match realize(setup, host) {
        Ok(_) => true,
        Err(Refusal::RealizeFailed { .. } | Refusal::CompiledOut { .. }) => false,
        Err(Refusal::UnsupportedGen { .. }) => false,
        Err(
            Refusal::NotLegacyGen { .. }
            | Refusal::VgaDecodeDisabled { .. }
            | Refusal::LegacyModeOff { .. },
        ) => option,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_release_from_2_7_to_10_2_parses_by_name() {
        assert_eq!(Release::ALL.len(), 29);
        for r in Release::ALL {
            assert_eq!(Release::parse(r.name()), Some(*r));
            assert_eq!(Release::parse(&format!("{}.0", r.version())), Some(*r));
        }
        assert_eq!(Release::parse("qemu-2016"), Some(Release::V9_1));
        assert_eq!(Release::parse("qemu-2025"), Some(Release::V10_1));
        assert_eq!(Release::parse("qemu-2.6"), None);
        assert_eq!(Release::parse("qemu-1"), None);
    }

    #[test]
    fn options_exist_where_the_release_has_them() {
        let s = QemuSetup::parse("qemu-9.1,x-igd-gms=2").unwrap();
        assert_eq!((s.release, s.options.gms), (Release::V9_1, 2));
        let s = QemuSetup::parse("qemu-10.1,x-igd-gms=0xf2,x-igd-legacy-mode=on,x-igd-lpc=off")
            .unwrap();
        assert_eq!(s.options.gms, 0xF2);
        assert_eq!(s.options.legacy_mode, OnOffAuto::On);
        assert_eq!(s.options.lpc, Some(false));
        assert_eq!(
            s.spec(),
            "qemu-10.1,x-igd-gms=0xf2,x-igd-lpc=off,x-igd-legacy-mode=on"
        );
        let e = QemuSetup::parse("qemu-9.2,x-igd-lpc=on").unwrap_err();
        assert_eq!(
            e.to_string(),
            "qemu-9.2 has no x-igd-lpc (added in qemu-10.0 by 674f61117d36)"
        );
        assert!(matches!(
            QemuSetup::parse("qemu-7.2,x-igd-legacy-mode=off"),
            Err(OptionError::Absent { .. })
        ));
        assert!(matches!(
            QemuSetup::parse("qemu-7.2,x-igd-foo=1"),
            Err(OptionError::UnknownOption(_))
        ));
        assert!(matches!(
            QemuSetup::parse("qemu-10.0,x-igd-legacy-mode=maybe"),
            Err(OptionError::BadValue { .. })
        ));
        assert!(matches!(
            QemuSetup::parse("qemu-11.0"),
            Err(OptionError::UnknownRelease(_))
        ));
    }

    #[test]
    fn gen_tables_number_devices_as_each_era_did() {
        use GenTable::*;
        // (device, original, 2024, i915)
        let rows: &[(u16, i8, i8, i8)] = &[
            (0x0126, 6, 6, 6),    // SNB
            (0x0166, 6, 6, 6),    // IVB
            (0x0416, 6, 6, 7),    // HSW
            (0x0F31, 6, 6, 7),    // VLV
            (0x1616, 8, 8, 8),    // BDW
            (0x22B0, 8, 8, 8),    // CHV
            (0x1916, 8, 8, 9),    // SKL
            (0x0A84, 8, 8, 9),    // BXT, before HSW's 0x0A00
            (0x5A85, 8, -1, 9),   // BXT: 0xfff mask misses it; "assume 8" until 9.2
            (0x3184, 8, -1, 9),   // GLK
            (0x5912, 8, 8, 9),    // KBL
            (0x87C0, 8, -1, -1),  // AML
            (0x3E92, 8, 9, 9),    // CFL
            (0x9BC5, 8, -1, 9),   // CML
            (0x8A52, 8, -1, 11),  // ICL
            (0x4571, 8, 11, 11),  // EHL
            (0x9A49, 8, 12, 12),  // TGL
            (0x4680, 8, -1, 12),  // ADL
            (0x7D55, 8, -1, -1),  // MTL
            (0x2A42, -1, -1, -1), // GM45: "Old, untested"
        ];
        for &(id, a, b, c) in rows {
            assert_eq!(
                (Original.gen(id), Known2024.gen(id), I915.gen(id)),
                (a, b, c),
                "{id:04x}"
            );
        }
    }

    #[test]
    fn ggms_zero_reads_as_one_mib_above_qemu_gen_6() {
        assert_eq!(legacy_ggms_mib(8, 0), 1);
        assert_eq!(legacy_ggms_mib(6, 0), 0);
        assert_eq!(legacy_gtt_max(6, 0x0200), 2048);
        assert_eq!(legacy_gtt_max(8, 0x00C0), 16384);
        assert_eq!(legacy_gtt_max(8, 0), 2048);
        assert_eq!(stolen_size(9, 0xF000), 4 * MIB);
        assert_eq!(checked_stolen_size(8, 0x2000), 0);
        assert_eq!(stolen_size(8, 0x2000), 1024 * MIB);
    }

    #[test]
    fn changes_since_names_the_commits() {
        let c = Release::V2_9.changes_since(Release::V2_8);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].index, c[0].name), (2, "bar4"));
        assert_eq!(SWITCHES[c[0].index], "bar4");
        assert_eq!(c[0].commit, "ac2a9862b761");
        assert!(Release::V9_1.changes_since(Release::V9_0).is_empty());
        assert_eq!(Release::V5_1.changes_since(Release::V5_0)[0].name, "legacy");
        // 2.8 with 2.9's bar4 switch is 2.9.
        let mut mixed = QemuSetup::release(Release::V2_8);
        mixed.mix = Some(Mix {
            from: Release::V2_9,
            switches: 1 << 2,
        });
        assert_eq!(mixed.behaviour(), *Release::V2_9.behaviour());
    }
}

//! Per-platform register tables: which BAR0 registers a vBIOS polls, their
//! i915 names, and how each answers ([`RegisterBehaviour`]), as data keyed by
//! [`Platform`] (DESIGN.md).
//!
//! Sources (Linux i915, offsets and bits only):
//! - Power wells: `display/intel_display_power_well.c`, `i915_reg.h`
//!   (`HSW_PWR_WELL_CTL1/2` 0x45400/0x45404; HSW/BDW request 31 → state 30;
//!   SKL+ `HSW_PWR_WELL_CTL_REQ(idx)` = bit 2·idx+1, `STATE(idx)` = 2·idx,
//!   `SKL_PW_CTL_IDX_PW_1/2` = 14/15, `ICL_PW_CTL_IDX_PW_1..4` = 0..3, TGL PW5 = 4).
//! - Panel power: `display/intel_pps_regs.h` (`PCH_PP_STATUS` 0xC7200 bit 31
//!   `PP_ON`, `PCH_PP_CONTROL` 0xC7204 bit 0, delays at 0xC7208-0xC7210;
//!   VLV/CHV at `VLV_DISPLAY_BASE` 0x180000 + 0x61200), modelled by
//!   [`super::display::panel`] ([`panel_sequencer`]).
//! - PLLs: `display/intel_dpll_mgr.c`, `intel_dpll.c`, `i915_reg.h`:
//!   VLV/CHV `DPLL(pipe)` 0x186014/0x186018 `DPLL_VCO_ENABLE` 31 →
//!   `DPLL_LOCK_VLV` 15 (`vlv_enable_pll` waits for it); HSW/BDW `LCPLL_CTL`
//!   0x130040 `LCPLL_PLL_DISABLE` 31 / `LCPLL_PLL_LOCK` 30 (lock while not
//!   disabled), `LCPLL_CD_SOURCE_FCLK` 21 → `LCPLL_CD_SOURCE_FCLK_DONE` 19;
//!   SKL `LCPLL1_CTL`/`LCPLL2_CTL` 0x46010/0x46014 and `WRPLL_CTL1/2`
//!   0x46040/0x46060 enable 31, `LCPLL_PLL_LOCK` 30, `DPLL_STATUS` 0x6C060
//!   `DPLL_LOCK(id)` = bit 8·id; BXT/GLK `BXT_DE_PLL_ENABLE` 0x46070 and
//!   `BXT_PORT_PLL_ENABLE(port)` 0x46074 + 4·port, enable 31 → lock 30;
//!   ICL+ `DPLL_ENABLE(0/1)` 0x46010/0x46014 `PLL_ENABLE` 31 → `PLL_LOCK` 30,
//!   `PLL_POWER_ENABLE` 27 → `PLL_POWER_STATE` 26.
//! - `DBUF_CTL` 0x45008 (gen9) / `DBUF_CTL_S(1)` 0x44FE8 (gen11+):
//!   `DBUF_POWER_REQUEST` 31 → `DBUF_POWER_STATE` 30.
//! - Pipes: `PIPECONF(pipe)` 0x70008 + 0x1000·pipe (`TRANSCONF`), eDP
//!   transcoder 0x7F008 on HSW+, `PIPECONF_ENABLE` 31 → `PIPECONF_STATE_ENABLE` 30;
//!   VLV/CHV at +0x180000.
//! - FDI: `FDI_RX_IIR(pipe)` 0xF0014 + 0x1000·pipe, `FDI_RX_BIT_LOCK` 8,
//!   `FDI_RX_SYMBOL_LOCK` 9 (`ilk/gen6/ivb_fdi_link_train` poll them).
//! - DDI: `DDI_BUF_CTL(port)` 0x64000 + 0x100·port, `DDI_BUF_CTL_ENABLE` 31,
//!   `DDI_BUF_IS_IDLE` 7 (`intel_ddi_wait_for_ddi_buf_idle`).
//! - Forcewake (`gt/intel_gt_regs.h`, `intel_uncore.c` `fw_domain_init`):
//!   SNB `FORCEWAKE` 0xA18C → `FORCEWAKE_ACK` 0x130090 bit 0; IVB
//!   `FORCEWAKE_MT` 0xA188 → `FORCEWAKE_MT_ACK` 0x130040; HSW/BDW
//!   `FORCEWAKE_MT` → `FORCEWAKE_ACK_HSW` 0x130044; VLV/CHV `FORCEWAKE_VLV`
//!   0x1300B0 → `FORCEWAKE_ACK_VLV` 0x1300B4, `FORCEWAKE_MEDIA_VLV` 0x1300B8 →
//!   0x1300BC; gen9+ `FORCEWAKE_RENDER_GEN9` 0xA278 → 0x0D84,
//!   `FORCEWAKE_GT_GEN9` 0xA188 → 0x130044, `FORCEWAKE_MEDIA_GEN9` 0xA270 →
//!   0x0D88; gen11+ `FORCEWAKE_MEDIA_VDBOX_GEN11(0)` 0xA540 → 0x0D50. The MT
//!   registers are masked (`_MASKED_BIT_ENABLE`: bits 31:16 select bits 15:0).
//! - Vblank status: SNB `DEISR` 0x44000 `DE_PIPEA_VBLANK` 7, `DE_PIPEB_VBLANK`
//!   15; IVB/HSW `DE_PIPE_VBLANK_IVB(pipe)` = bit 5·pipe; BDW+
//!   `GEN8_DE_PIPE_ISR(pipe)` 0x44400 + 0x10·pipe `GEN8_PIPE_VBLANK` 0;
//!   `PIPESTAT` 0x70024 + 0x1000·pipe `PIPE_VBLANK_INTERRUPT_STATUS` 1,
//!   `PIPE_START_VBLANK_INTERRUPT_STATUS` 2.
//! - CRT hotplug (`display/intel_crt_regs.h`, `intel_crt.c`
//!   `ilk_crt_detect_hotplug`): `PCH_ADPA` 0xE1100
//!   `ADPA_CRT_HOTPLUG_FORCE_TRIGGER` 16 starts a detection cycle and clears
//!   itself when it is done; `ADPA_CRT_HOTPLUG_MONITOR_MASK` 25:24 then report
//!   the monitor sensed (0 none, 3 colour). VLV uses the same bits in its
//!   `ADPA` at 0x180000 + 0x61100 (`valleyview_crt_detect_hotplug`).
//! - Sideband interface to the PCH (`i915_reg.h`, `intel_sbi.c`
//!   `intel_sbi_rw`): `SBI_CTL_STAT` 0xC6008 `SBI_BUSY` 0 is set with the
//!   command and clears when the transaction is done; `SBI_RESPONSE_MASK` 2:1
//!   reads 0 (success).
//! - GMBUS (`intel_gmbus_regs.h`) and DP AUX (`intel_dp_aux_regs.h`): see
//!   [`super::gmbus`] and [`super::dpaux`].

use super::display::panel::CycleDelayField;
use super::generation::Platform;
use super::mmio::{RegisterBehaviour as B, GEN6_DSMBASE, GGC_MIRROR};

/// One row: a register offset, its i915 name and one behaviour. Several rows
/// may name the same offset; their effects combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Row {
    /// BAR0 offset.
    pub offset: u32,
    /// Name as i915 spells it.
    pub name: &'static str,
    /// How it behaves.
    pub behaviour: B,
}

/// One table: which platforms it applies to and its rows.
#[derive(Clone, Copy, Debug)]
pub struct PlatformTable<T: 'static> {
    /// What the rows model.
    pub name: &'static str,
    /// Platforms the rows apply to.
    pub platforms: &'static [Platform],
    /// The rows.
    pub rows: &'static [T],
}

/// Register behaviours on a set of platforms.
pub type BehaviourTable = PlatformTable<Row>;

/// What firmware leaves in the display engine on a set of platforms.
pub type FirmwareState = PlatformTable<FirmwareValue>;

/// The rows of `tables` that apply to `platform`, in table order.
fn rows_for<T: Copy>(
    tables: &'static [PlatformTable<T>],
    platform: Platform,
) -> impl Iterator<Item = T> {
    tables
        .iter()
        .filter(move |t| t.platforms.contains(&platform))
        .flat_map(|t| t.rows.iter().copied())
}

/// `HSW_PWR_WELL_CTL1` (BIOS request register).
pub const HSW_PWR_WELL_CTL1: u32 = 0x45400;
/// `HSW_PWR_WELL_CTL2` (driver request register).
pub const HSW_PWR_WELL_CTL2: u32 = 0x45404;
/// HSW/BDW: `HSW_PWR_WELL_CTL_REQ` (display power well request), bit 31.
pub const HSW_PWR_WELL_REQ: u32 = 1 << 31;
/// HSW/BDW: `HSW_PWR_WELL_CTL_STATE` (power well enabled), bit 30.
pub const HSW_PWR_WELL_STATE: u32 = 1 << 30;
/// SKL+: power well 1 request (`HSW_PWR_WELL_CTL_REQ(SKL_PW_CTL_IDX_PW_1)`), bit 29.
pub const SKL_PW1_REQ: u32 = 1 << 29;
/// SKL+: power well 1 state, bit 28.
pub const SKL_PW1_STATE: u32 = 1 << 28;
/// SKL+: power well 2 request (index 15), bit 31.
pub const SKL_PW2_REQ: u32 = 1 << 31;
/// SKL+: power well 2 state, bit 30.
pub const SKL_PW2_STATE: u32 = 1 << 30;
/// `PCH_PP_STATUS`: panel power sequencer status.
pub const PCH_PP_STATUS: u32 = 0xC7200;
/// `PCH_PP_CONTROL`: panel power sequencer control.
pub const PCH_PP_CONTROL: u32 = 0xC7204;
/// `VLV_DISPLAY_BASE`.
pub const VLV_DISPLAY_BASE: u32 = 0x18_0000;
/// `VLV_DISPLAY_BASE` + `_PIPEA_PP_STATUS` (0x61200).
pub const VLV_PP_STATUS: u32 = VLV_DISPLAY_BASE + 0x6_1200;
/// `VLV_DISPLAY_BASE` + `_PIPEA_PP_CONTROL` (0x61204).
pub const VLV_PP_CONTROL: u32 = VLV_DISPLAY_BASE + 0x6_1204;
pub use super::display::panel::{PANEL_POWER_ON, PP_ON};
/// `PCH_DISPLAY_BASE`: GMBUS and the PCH display registers.
pub const PCH_DISPLAY_BASE: u32 = 0xC_0000;
/// `PIPECONF(PIPE_A)` / `TRANSCONF(TRANSCODER_A)`.
pub const PIPECONF_A: u32 = 0x7_0008;
/// `PIPECONF_ENABLE`.
pub const PIPECONF_ENABLE: u32 = 1 << 31;
/// `PIPECONF_STATE_ENABLE` (pipe active).
pub const PIPECONF_STATE_ENABLE: u32 = 1 << 30;
/// HSW/BDW `LCPLL_CTL`.
pub const LCPLL_CTL: u32 = 0x13_0040;
/// SKL `LCPLL1_CTL` (DPLL0) / ICL+ `DPLL_ENABLE(0)`.
pub const LCPLL1_CTL: u32 = 0x4_6010;
/// SKL `DPLL_STATUS`.
pub const DPLL_STATUS: u32 = 0x6_C060;
/// `DDI_BUF_CTL(PORT_A)`.
pub const DDI_BUF_CTL_A: u32 = 0x6_4000;
/// `DDI_BUF_CTL_ENABLE`.
pub const DDI_BUF_CTL_ENABLE: u32 = 1 << 31;
/// `DDI_BUF_IS_IDLE`.
pub const DDI_BUF_IS_IDLE: u32 = 1 << 7;
/// `FDI_RX_IIR(PIPE_A)`.
pub const FDI_RX_IIR_A: u32 = 0xF_0014;
/// `FDI_RX_BIT_LOCK` | `FDI_RX_SYMBOL_LOCK`.
pub const FDI_RX_LOCKS: u32 = (1 << 8) | (1 << 9);
/// `FORCEWAKE_MT` (gen7) / `FORCEWAKE_GT_GEN9`.
pub const FORCEWAKE_MT: u32 = 0xA188;
/// `FORCEWAKE_ACK_HSW` / `FORCEWAKE_ACK_GT_GEN9`.
pub const FORCEWAKE_ACK_HSW: u32 = 0x13_0044;
/// `FORCEWAKE_RENDER_GEN9`.
pub const FORCEWAKE_RENDER_GEN9: u32 = 0xA278;
/// `FORCEWAKE_ACK_RENDER_GEN9`.
pub const FORCEWAKE_ACK_RENDER_GEN9: u32 = 0x0D84;
/// `DEISR` (ILK-HSW display engine interrupt status).
pub const DEISR: u32 = 0x4_4000;
/// `GEN8_DE_PIPE_ISR(PIPE_A)`.
pub const GEN8_DE_PIPE_ISR_A: u32 = 0x4_4400;
/// `PIPESTAT(PIPE_A)` (`_PIPEASTAT`).
pub const PIPESTAT_A: u32 = 0x7_0024;
/// `PCH_ADPA`: analog (CRT) port control on PCH platforms.
pub const PCH_ADPA: u32 = 0xE_1100;
/// `ADPA_CRT_HOTPLUG_FORCE_TRIGGER`.
pub const ADPA_CRT_HOTPLUG_FORCE_TRIGGER: u32 = 1 << 16;
/// `ADPA_CRT_HOTPLUG_MONITOR_MASK`.
pub const ADPA_CRT_HOTPLUG_MONITOR_MASK: u32 = 3 << 24;
/// `SBI_CTL_STAT`: sideband interface control and status.
pub const SBI_CTL_STAT: u32 = 0xC_6008;
/// `SBI_BUSY`.
pub const SBI_BUSY: u32 = 1 << 0;
/// Virtual time from a PLL enable to its lock bit: 150 µs, the settling time
/// i915 allows a DPLL after enabling it (`i9xx_enable_pll`: "Wait for the
/// clocks to stabilize", `udelay(150)`). It is within every lock timeout
/// i915 polls with: 200 µs for a BXT/GLK port PLL (`bxt_ddi_pll_enable`),
/// 1 ms for VLV/CHV `DPLL_LOCK_VLV` (`vlv_enable_pll`), the BXT DE PLL and
/// ICL+ `PLL_LOCK` (`icl_pll_enable`), 5 ms for SKL `DPLL_LOCK`
/// (`skl_ddi_pll_enable`, `skl_dpll0_enable`).
pub const PLL_LOCK_NS: u64 = 150_000;

const fn row(offset: u32, name: &'static str, behaviour: B) -> Row {
    Row {
        offset,
        name,
        behaviour,
    }
}

const fn follows(offset: u32, name: &'static str, req: u32, state: u32) -> Row {
    row(
        offset,
        name,
        B::StatusFollowsRequest {
            request_mask: req,
            status_offset: offset,
            status_mask: state,
        },
    )
}

const fn locks(offset: u32, name: &'static str, req: u32, st_off: u32, state: u32) -> Row {
    row(
        offset,
        name,
        B::LockAfter {
            request_mask: req,
            status_offset: st_off,
            status_mask: state,
            delay_ns: PLL_LOCK_NS,
        },
    )
}

const fn idle_unless(offset: u32, name: &'static str, req: u32, state: u32) -> Row {
    row(
        offset,
        name,
        B::StatusInverse {
            request_mask: req,
            status_offset: offset,
            status_mask: state,
        },
    )
}

/// A PLL whose lock status is in its own enable register.
const fn locks_self(offset: u32, name: &'static str, req: u32, state: u32) -> Row {
    locks(offset, name, req, offset, state)
}

/// `PIPECONF`: `PIPECONF_ENABLE` → `PIPECONF_STATE_ENABLE`.
const fn pipe(offset: u32, name: &'static str) -> Row {
    follows(offset, name, PIPECONF_ENABLE, PIPECONF_STATE_ENABLE)
}

/// A register whose `mask` bits toggle on every read.
const fn toggle(offset: u32, name: &'static str, mask: u32) -> Row {
    row(offset, name, B::Toggle { mask })
}

/// A masked forcewake request register and its ack, which mirrors bits 15:0.
const fn fw_masked(req: u32, name: &'static str, ack: u32, ack_name: &'static str) -> [Row; 2] {
    [
        row(req, name, B::MaskedWrite),
        row(
            ack,
            ack_name,
            B::Mirror {
                source: req,
                mask: 0xFFFF,
            },
        ),
    ]
}

/// `HSW_PWR_WELL_CTL_REQ(idx)` = bit 2·idx+1, `HSW_PWR_WELL_CTL_STATE(idx)` = bit 2·idx.
const fn well(offset: u32, name: &'static str, idx: u32) -> Row {
    follows(offset, name, 1 << (idx * 2 + 1), 1 << (idx * 2))
}

const C1: &str = "HSW_PWR_WELL_CTL1";
const C2: &str = "HSW_PWR_WELL_CTL2";

const HSW_POWER_WELL: &[Row] = &[
    follows(HSW_PWR_WELL_CTL1, C1, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE),
    follows(HSW_PWR_WELL_CTL2, C2, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE),
];

const SKL_POWER_WELLS: &[Row] = &[
    follows(HSW_PWR_WELL_CTL1, C1, SKL_PW1_REQ, SKL_PW1_STATE),
    follows(HSW_PWR_WELL_CTL1, C1, SKL_PW2_REQ, SKL_PW2_STATE),
    follows(HSW_PWR_WELL_CTL2, C2, SKL_PW1_REQ, SKL_PW1_STATE),
    follows(HSW_PWR_WELL_CTL2, C2, SKL_PW2_REQ, SKL_PW2_STATE),
];

const ICL_POWER_WELLS: &[Row] = &[
    well(HSW_PWR_WELL_CTL1, C1, 0),
    well(HSW_PWR_WELL_CTL1, C1, 1),
    well(HSW_PWR_WELL_CTL1, C1, 2),
    well(HSW_PWR_WELL_CTL1, C1, 3),
    well(HSW_PWR_WELL_CTL2, C2, 0),
    well(HSW_PWR_WELL_CTL2, C2, 1),
    well(HSW_PWR_WELL_CTL2, C2, 2),
    well(HSW_PWR_WELL_CTL2, C2, 3),
];

const TGL_POWER_WELL_5: &[Row] = &[
    well(HSW_PWR_WELL_CTL1, C1, 4),
    well(HSW_PWR_WELL_CTL2, C2, 4),
];

const VLV_DPLL: &[Row] = &[
    locks_self(VLV_DISPLAY_BASE + 0x6014, "DPLL_A", 1 << 31, 1 << 15),
    locks_self(VLV_DISPLAY_BASE + 0x6018, "DPLL_B", 1 << 31, 1 << 15),
];

const HSW_LCPLL: &[Row] = &[
    idle_unless(LCPLL_CTL, "LCPLL_CTL", 1 << 31, 1 << 30),
    follows(LCPLL_CTL, "LCPLL_CTL", 1 << 21, 1 << 19),
];

const SKL_DPLLS: &[Row] = &[
    locks_self(LCPLL1_CTL, "LCPLL1_CTL", 1 << 31, 1 << 30),
    locks(LCPLL1_CTL, "LCPLL1_CTL", 1 << 31, DPLL_STATUS, 1 << 0),
    locks(0x4_6014, "LCPLL2_CTL", 1 << 31, DPLL_STATUS, 1 << 8),
    locks(0x4_6040, "WRPLL_CTL1", 1 << 31, DPLL_STATUS, 1 << 16),
    locks(0x4_6060, "WRPLL_CTL2", 1 << 31, DPLL_STATUS, 1 << 24),
    row(DPLL_STATUS, "DPLL_STATUS", B::ReadOnly),
    follows(0x4_5008, "DBUF_CTL", 1 << 31, 1 << 30),
];

const BXT_PLLS: &[Row] = &[
    locks_self(0x4_6070, "BXT_DE_PLL_ENABLE", 1 << 31, 1 << 30),
    locks_self(0x4_6074, "BXT_PORT_PLL_ENABLE_A", 1 << 31, 1 << 30),
    locks_self(0x4_6078, "BXT_PORT_PLL_ENABLE_B", 1 << 31, 1 << 30),
    locks_self(0x4_607C, "BXT_PORT_PLL_ENABLE_C", 1 << 31, 1 << 30),
];

const ICL_DPLLS: &[Row] = &[
    locks_self(LCPLL1_CTL, "DPLL0_ENABLE", 1 << 31, 1 << 30),
    follows(LCPLL1_CTL, "DPLL0_ENABLE", 1 << 27, 1 << 26),
    locks_self(0x4_6014, "DPLL1_ENABLE", 1 << 31, 1 << 30),
    follows(0x4_6014, "DPLL1_ENABLE", 1 << 27, 1 << 26),
    locks_self(0x4_6070, "BXT_DE_PLL_ENABLE", 1 << 31, 1 << 30),
    follows(0x4_5008, "DBUF_CTL_S1", 1 << 31, 1 << 30),
    follows(0x4_4FE8, "DBUF_CTL_S2", 1 << 31, 1 << 30),
];

const PIPES_AB: &[Row] = &[pipe(PIPECONF_A, "PIPEACONF"), pipe(0x7_1008, "PIPEBCONF")];

const PIPE_C: &[Row] = &[pipe(0x7_2008, "PIPECCONF")];

const PIPE_EDP: &[Row] = &[pipe(0x7_F008, "PIPE_EDP_CONF")];

const PIPE_D: &[Row] = &[pipe(0x7_3008, "PIPEDCONF")];

const VLV_PIPES: &[Row] = &[
    pipe(VLV_DISPLAY_BASE + 0x7_0008, "PIPEACONF"),
    pipe(VLV_DISPLAY_BASE + 0x7_1008, "PIPEBCONF"),
    toggle(VLV_DISPLAY_BASE + 0x7_0024, "PIPEASTAT", 0x6),
    toggle(VLV_DISPLAY_BASE + 0x7_1024, "PIPEBSTAT", 0x6),
];

const FDI: &[Row] = &[
    toggle(FDI_RX_IIR_A, "FDI_RX_IIR_A", FDI_RX_LOCKS),
    toggle(0xF_1014, "FDI_RX_IIR_B", FDI_RX_LOCKS),
    toggle(0xF_2014, "FDI_RX_IIR_C", FDI_RX_LOCKS),
];

const fn ddi(port: u32, name: &'static str) -> Row {
    idle_unless(
        DDI_BUF_CTL_A + 0x100 * port,
        name,
        DDI_BUF_CTL_ENABLE,
        DDI_BUF_IS_IDLE,
    )
}

const DDI_A_E: &[Row] = &[
    ddi(0, "DDI_BUF_CTL_A"),
    ddi(1, "DDI_BUF_CTL_B"),
    ddi(2, "DDI_BUF_CTL_C"),
    ddi(3, "DDI_BUF_CTL_D"),
    ddi(4, "DDI_BUF_CTL_E"),
];

const DDI_F: &[Row] = &[ddi(5, "DDI_BUF_CTL_F")];

const DDI_TC: &[Row] = &[
    ddi(6, "DDI_BUF_CTL_TC4"),
    ddi(7, "DDI_BUF_CTL_TC5"),
    ddi(8, "DDI_BUF_CTL_TC6"),
];

const SNB_FORCEWAKE: &[Row] = &[
    row(0xA18C, "FORCEWAKE", B::Plain),
    row(
        0x13_0090,
        "FORCEWAKE_ACK",
        B::Mirror {
            source: 0xA18C,
            mask: 1,
        },
    ),
];

const IVB_FORCEWAKE: &[Row] =
    &fw_masked(FORCEWAKE_MT, "FORCEWAKE_MT", 0x13_0040, "FORCEWAKE_MT_ACK");

const HSW_FORCEWAKE: &[Row] = &fw_masked(
    FORCEWAKE_MT,
    "FORCEWAKE_MT",
    FORCEWAKE_ACK_HSW,
    "FORCEWAKE_ACK_HSW",
);

const VLV_FORCEWAKE: &[Row] = &{
    let [a, b] = fw_masked(0x13_00B0, "FORCEWAKE_VLV", 0x13_00B4, "FORCEWAKE_ACK_VLV");
    let [c, d] = fw_masked(
        0x13_00B8,
        "FORCEWAKE_MEDIA_VLV",
        0x13_00BC,
        "FORCEWAKE_ACK_MEDIA_VLV",
    );
    [a, b, c, d]
};

const GEN9_FORCEWAKE: &[Row] = &{
    let [a, b] = fw_masked(
        FORCEWAKE_RENDER_GEN9,
        "FORCEWAKE_RENDER_GEN9",
        FORCEWAKE_ACK_RENDER_GEN9,
        "FORCEWAKE_ACK_RENDER_GEN9",
    );
    let [c, d] = fw_masked(
        FORCEWAKE_MT,
        "FORCEWAKE_GT_GEN9",
        FORCEWAKE_ACK_HSW,
        "FORCEWAKE_ACK_GT_GEN9",
    );
    [a, b, c, d]
};

const GEN9_MEDIA_FORCEWAKE: &[Row] = &fw_masked(
    0xA270,
    "FORCEWAKE_MEDIA_GEN9",
    0x0D88,
    "FORCEWAKE_ACK_MEDIA_GEN9",
);

const GEN11_MEDIA_FORCEWAKE: &[Row] = &fw_masked(
    0xA540,
    "FORCEWAKE_MEDIA_VDBOX_GEN11",
    0x0D50,
    "FORCEWAKE_ACK_MEDIA_VDBOX_GEN11",
);

const SNB_VBLANK: &[Row] = &[toggle(DEISR, "DEISR", (1 << 7) | (1 << 15))];

const IVB_VBLANK: &[Row] = &[toggle(DEISR, "DEISR", (1 << 0) | (1 << 5) | (1 << 10))];

const PIPESTAT: &[Row] = &[
    toggle(PIPESTAT_A, "PIPEASTAT", 0x6),
    toggle(0x7_1024, "PIPEBSTAT", 0x6),
    toggle(0x7_2024, "PIPECSTAT", 0x6),
];

const GEN8_VBLANK: &[Row] = &[
    toggle(GEN8_DE_PIPE_ISR_A, "GEN8_DE_PIPE_ISR_A", 1),
    toggle(0x4_4410, "GEN8_DE_PIPE_ISR_B", 1),
    toggle(0x4_4420, "GEN8_DE_PIPE_ISR_C", 1),
];

const GEN12_VBLANK_D: &[Row] = &[toggle(0x4_4430, "GEN8_DE_PIPE_ISR_D", 1)];

/// CRT force-detect: the trigger completes at once and the monitor-sense bits
/// report the attached CRT (none by default; the display topology sets them).
const fn crt_hotplug(adpa: u32, name: &'static str) -> [Row; 2] {
    [
        row(
            adpa,
            name,
            B::SelfClearing {
                mask: ADPA_CRT_HOTPLUG_FORCE_TRIGGER,
            },
        ),
        row(
            adpa,
            name,
            B::DeviceStatus {
                mask: ADPA_CRT_HOTPLUG_MONITOR_MASK,
            },
        ),
    ]
}

/// `ADPA` on VLV (`VLV_DISPLAY_BASE` + 0x61100, `valleyview_crt_detect_hotplug`):
/// the same bits as `PCH_ADPA`.
pub const VLV_ADPA: u32 = VLV_DISPLAY_BASE + 0x6_1100;

const PCH_CRT_HOTPLUG: &[Row] = &crt_hotplug(PCH_ADPA, "PCH_ADPA");

const VLV_CRT_HOTPLUG: &[Row] = &crt_hotplug(VLV_ADPA, "ADPA");

/// `GEN6_PCODE_MAILBOX`: requests to the power controller firmware.
pub const GEN6_PCODE_MAILBOX: u32 = 0x13_8124;
/// `GEN6_PCODE_READY`: set with a command, cleared by pcode when it is done.
pub const GEN6_PCODE_READY: u32 = 1 << 31;
/// `SFUSE_STRAP`: display straps (which DDI ports the board wires).
pub const SFUSE_STRAP: u32 = 0xC_2014;
/// `SFUSE_STRAP_DDIB_DETECTED`.
pub const SFUSE_STRAP_DDIB_DETECTED: u32 = 1 << 2;
/// `SDEISR`: south display engine interrupt status (live hotplug state).
pub const SDEISR: u32 = 0xC_4000;
/// `SDE_PORTB_HOTPLUG_CPT`: port B live status on CPT and later PCHs.
pub const SDE_PORTB_HOTPLUG_CPT: u32 = 1 << 21;

/// The pcode mailbox (`snb_pcode_rw` in i915 `intel_pcode.c`): a command
/// written with `GEN6_PCODE_READY` completes at once with error code 0
/// (`GEN6_PCODE_SUCCESS`, bits 7:0), leaving the data registers as written
/// (so `SKL_PCODE_CDCLK_CONTROL` with `SKL_CDCLK_PREPARE_FOR_CHANGE` 3 reads
/// back `SKL_CDCLK_READY_FOR_CHANGE` 1 set).
const PCODE_MAILBOX: &[Row] = &[row(
    GEN6_PCODE_MAILBOX,
    "GEN6_PCODE_MAILBOX",
    B::SelfClearing {
        mask: GEN6_PCODE_READY | 0xFF,
    },
)];

/// Straps and live hotplug status are read-only to the guest; the display
/// topology sets the bits these rows mark `DeviceStatus`: port B's live state
/// in `SDEISR` (CPT and later PCHs).
const PCH_DISPLAY_STATUS: &[Row] = &[
    row(SFUSE_STRAP, "SFUSE_STRAP", B::ReadOnly),
    row(SDEISR, "SDEISR", B::ReadOnly),
    row(
        SDEISR,
        "SDEISR",
        B::DeviceStatus {
            mask: SDE_PORTB_HOTPLUG_CPT,
        },
    ),
];

/// The DDI B strap, which i915's `intel_setup_outputs` reads on HSW+ to
/// decide which DDIs exist.
const DDI_STRAPS: &[Row] = &[row(
    SFUSE_STRAP,
    "SFUSE_STRAP",
    B::DeviceStatus {
        mask: SFUSE_STRAP_DDIB_DETECTED,
    },
)];

/// The PCH sideband interface: transactions complete at once, successfully.
const PCH_SBI: &[Row] = &[
    row(
        SBI_CTL_STAT,
        "SBI_CTL_STAT",
        B::SelfClearing { mask: SBI_BUSY },
    ),
    row(SBI_CTL_STAT, "SBI_CTL_STAT", B::DeviceStatus { mask: 0x6 }),
];

/// Registers named for diagnostics without a behaviour (plain storage).
const NAMES_ONLY: &[(u32, &str)] = &[
    (0xC_6014, "PCH_DPLL_A"),
    (0xC_6018, "PCH_DPLL_B"),
    (0x4_6020, "SPLL_CTL"),
    (0x6_0100, "FDI_TX_CTL_A"),
    (0x6_1100, "FDI_TX_CTL_B"),
    (0xF_000C, "FDI_RX_CTL_A"),
    (0xF_100C, "FDI_RX_CTL_B"),
    (0x7_0000, "PIPEADSL"),
    (0x7_1000, "PIPEBDSL"),
    (0xA180, "ECOBUS"),
    (DPLL_CTRL1, "DPLL_CTRL1"),
    (0x6_C05C, "DPLL_CTRL2"),
    (CDCLK_CTL, "CDCLK_CTL"),
    (0x4_5504, "DC_STATE_EN"),
    (GEN6_DSMBASE, "GEN6_DSMBASE"),
    (GGC_MIRROR, "GGC mirror (GEN6_GMCH_CTRL)"),
];

use Platform as P;

const SNB: &[Platform] = &[P::SandyBridge];
const VLV: &[Platform] = &[P::Valleyview];
const IVB: &[Platform] = &[P::IvyBridge];
const SNB_IVB: &[Platform] = &[P::SandyBridge, P::IvyBridge];
const VLV_CHV: &[Platform] = &[P::Valleyview, P::Cherryview];
const HSW_BDW: &[Platform] = &[P::Haswell, P::Broadwell];
const IVB_HSW: &[Platform] = &[P::IvyBridge, P::Haswell];
const GEN6_7_PCH: &[Platform] = &[P::SandyBridge, P::IvyBridge, P::Haswell];

const PCH_SPLIT: &[Platform] = &[
    P::SandyBridge,
    P::IvyBridge,
    P::Haswell,
    P::Broadwell,
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

/// Platforms with three pipes (IVB, HSW and later big cores).
const THREE_PIPES: &[Platform] = &[
    P::IvyBridge,
    P::Haswell,
    P::Broadwell,
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

/// DDI platforms (HSW and later).
const DDI_PLATFORMS: &[Platform] = &[
    P::Haswell,
    P::Broadwell,
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const GEN8_PLUS_BIG: &[Platform] = &[
    P::Broadwell,
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const GEN9: &[Platform] = &[
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
];

const GEN9_BIG: &[Platform] = &[P::Skylake, P::KabyLake, P::CoffeeLake, P::CometLake];

const BXT_GLK: &[Platform] = &[P::Broxton, P::GeminiLake];

const GEN11_PLUS: &[Platform] = &[
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const GEN12: &[Platform] = &[
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

const fn table(
    name: &'static str,
    platforms: &'static [Platform],
    rows: &'static [Row],
) -> BehaviourTable {
    BehaviourTable {
        name,
        platforms,
        rows,
    }
}

/// The behaviour tables. BXT/GLK keep their first panel sequencer at 0xC7200
/// (`BXT_PP_STATUS(0)`). Only registers a vBIOS is known to wait on are
/// modelled; the rest are plain storage.
pub static BEHAVIOUR_TABLES: &[BehaviourTable] = &[
    table("HSW/BDW display power well", HSW_BDW, HSW_POWER_WELL),
    table("SKL power wells 1 and 2", GEN9, SKL_POWER_WELLS),
    table("ICL+ power wells 1-4", GEN11_PLUS, ICL_POWER_WELLS),
    table("TGL+ power well 5", GEN12, TGL_POWER_WELL_5),
    table("VLV/CHV DPLL lock", VLV_CHV, VLV_DPLL),
    table("HSW/BDW LCPLL", HSW_BDW, HSW_LCPLL),
    table("SKL DPLL0-3 and DBUF", GEN9_BIG, SKL_DPLLS),
    table("BXT/GLK DE and port PLLs", BXT_GLK, BXT_PLLS),
    table("ICL+ DPLLs, CDCLK PLL and DBUF", GEN11_PLUS, ICL_DPLLS),
    table("Pipes A and B", PCH_SPLIT, PIPES_AB),
    table("Pipe C", THREE_PIPES, PIPE_C),
    table("eDP transcoder", DDI_PLATFORMS, PIPE_EDP),
    table("Pipe D", GEN12, PIPE_D),
    table("VLV/CHV pipes", VLV_CHV, VLV_PIPES),
    table("SNB/IVB FDI receiver lock", SNB_IVB, FDI),
    table("DDI buffers A-E", DDI_PLATFORMS, DDI_A_E),
    table("DDI buffer F", GEN11_PLUS, DDI_F),
    table("DDI buffers TC4-TC6 (ports G-I)", GEN12, DDI_TC),
    table("PCH CRT hotplug detection", PCH_CRT, PCH_CRT_HOTPLUG),
    table("VLV CRT hotplug detection", VLV, VLV_CRT_HOTPLUG),
    table("PCH sideband interface", LPT_PLUS, PCH_SBI),
    table("pcode mailbox", PCH_SPLIT, PCODE_MAILBOX),
    table(
        "PCH straps and live hotplug status",
        PCH_SPLIT,
        PCH_DISPLAY_STATUS,
    ),
    table("DDI straps", LPT_PLUS, DDI_STRAPS),
    table("SNB forcewake", SNB, SNB_FORCEWAKE),
    table("IVB forcewake (legacy and MT)", IVB, SNB_FORCEWAKE),
    table("IVB forcewake MT", IVB, IVB_FORCEWAKE),
    table("HSW/BDW forcewake MT", HSW_BDW, HSW_FORCEWAKE),
    table("VLV/CHV forcewake", VLV_CHV, VLV_FORCEWAKE),
    table(
        "gen9+ forcewake render and GT",
        GEN9_PLUS_ALL,
        GEN9_FORCEWAKE,
    ),
    table("gen9 forcewake media", GEN9, GEN9_MEDIA_FORCEWAKE),
    table("gen11+ forcewake VDBOX0", GEN11_PLUS, GEN11_MEDIA_FORCEWAKE),
    table("SNB vblank status", SNB, SNB_VBLANK),
    table("IVB/HSW vblank status", IVB_HSW, IVB_VBLANK),
    table("gen6-7.5 PIPESTAT vblank", GEN6_7_PCH, PIPESTAT),
    table("gen8+ pipe ISR vblank", GEN8_PLUS_BIG, GEN8_VBLANK),
    table("gen12 pipe D vblank", GEN12, GEN12_VBLANK_D),
];

/// Platforms whose PCH has an analog CRT port (CPT/PPT/LPT; SPT dropped it).
const PCH_CRT: &[Platform] = &[P::SandyBridge, P::IvyBridge, P::Haswell, P::Broadwell];

/// Platforms with the LPT-style sideband interface (LPT and later PCHs).
const LPT_PLUS: &[Platform] = &[
    P::Haswell,
    P::Broadwell,
    P::Skylake,
    P::KabyLake,
    P::CoffeeLake,
    P::CometLake,
];

const GEN9_PLUS_ALL: &[Platform] = &[
    P::Skylake,
    P::Broxton,
    P::KabyLake,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

/// A register value platform firmware leaves before any option ROM runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareValue {
    /// BAR0 offset.
    pub offset: u32,
    /// The value.
    pub value: u32,
}

const fn fw(offset: u32, value: u32) -> FirmwareValue {
    FirmwareValue { offset, value }
}

/// `CDCLK_CTL` (SKL+).
pub const CDCLK_CTL: u32 = 0x4_6000;
/// `DPLL_CTRL1` (SKL/KBL): DPLL link rates and overrides.
pub const DPLL_CTRL1: u32 = 0x6_C058;

/// Gen9 (SKL/KBL/CFL/CML): the pre-OS firmware (FSP-S or the system BIOS)
/// brings the display up to where a vBIOS starts (i915
/// `skl_get_cdclk`/`skl_sanitize_cdclk`, `intel_cdclk.c`; coreboot's SKL+ init
/// leaves it to FSP): power well 1 and Misc I/O on (`HSW_PWR_WELL_CTL1` bits
/// 29:28 and 1:0, `SKL_PW_CTL_IDX_PW_1` 14, `SKL_PW_CTL_IDX_MISC_IO` 0),
/// DPLL0 enabled and locked for an 8100 MHz VCO (`LCPLL1_CTL`
/// `LCPLL_PLL_ENABLE` 31 / `LCPLL_PLL_LOCK` 30; `DPLL_CTRL1` DPLL0 override 0
/// with `DPLL_CTRL1_LINK_RATE_810` (2) in bits 3:1; `DPLL_STATUS`
/// `DPLL_LOCK(0)` 0), CD clock 337.5 MHz (`CDCLK_CTL` `CDCLK_FREQ_337_308`
/// (2) in bits 27:26, decimal field 10:0 = (337.5 - 1) x 2 = 0x2A1) and
/// `DBUF_CTL` powered (request 31, state 30).
const GEN9_FIRMWARE: &[FirmwareValue] = &[
    fw(HSW_PWR_WELL_CTL1, SKL_PW1_REQ | SKL_PW1_STATE | 0b11),
    fw(LCPLL1_CTL, (1 << 31) | (1 << 30)),
    fw(DPLL_CTRL1, (2 << 1) | 1),
    fw(DPLL_STATUS, 1),
    fw(CDCLK_CTL, (2 << 26) | 0x2A1),
    fw(0x4_5008, (1 << 31) | (1 << 30)),
];

/// Firmware state per platform (reset values of the register file: an FLR
/// returns the display to them, as the pre-OS init is not run again).
pub static FIRMWARE_STATES: &[FirmwareState] = &[FirmwareState {
    name: "gen9 pre-OS display init (PW1, DPLL0, CD clock, DBUF)",
    platforms: GEN9_BIG,
    rows: GEN9_FIRMWARE,
}];

/// The firmware values that apply to `platform`.
pub fn firmware_values(platform: Platform) -> impl Iterator<Item = FirmwareValue> {
    rows_for(FIRMWARE_STATES, platform)
}

/// The rows that apply to `platform`, in table order.
pub fn behaviours_for(platform: Platform) -> impl Iterator<Item = Row> {
    rows_for(BEHAVIOUR_TABLES, platform)
}

/// Base of the GMBUS block (`GMBUS_MMIO_BASE`): `VLV_DISPLAY_BASE` on
/// VLV/CHV, `PCH_DISPLAY_BASE` elsewhere.
#[must_use]
pub fn gmbus_base(platform: Platform) -> u32 {
    if VLV_CHV.contains(&platform) {
        VLV_DISPLAY_BASE
    } else {
        PCH_DISPLAY_BASE
    }
}

const AUX_ILK: &[(u32, &str)] = &[
    (0x6_4010, "DPA_AUX_CH_CTL"),
    (0xE_4110, "PCH_DPB_AUX_CH_CTL"),
    (0xE_4210, "PCH_DPC_AUX_CH_CTL"),
    (0xE_4310, "PCH_DPD_AUX_CH_CTL"),
];
const AUX_VLV: &[(u32, &str)] = &[
    (VLV_DISPLAY_BASE + 0x6_4110, "DPB_AUX_CH_CTL"),
    (VLV_DISPLAY_BASE + 0x6_4210, "DPC_AUX_CH_CTL"),
    (VLV_DISPLAY_BASE + 0x6_4310, "DPD_AUX_CH_CTL"),
];
const AUX_SKL: &[(u32, &str)] = &[
    (0x6_4010, "DPA_AUX_CH_CTL"),
    (0x6_4110, "DPB_AUX_CH_CTL"),
    (0x6_4210, "DPC_AUX_CH_CTL"),
    (0x6_4310, "DPD_AUX_CH_CTL"),
];
const AUX_ICL: &[(u32, &str)] = &[
    (0x6_4010, "DPA_AUX_CH_CTL"),
    (0x6_4110, "DPB_AUX_CH_CTL"),
    (0x6_4210, "DPC_AUX_CH_CTL"),
    (0x6_4310, "DPD_AUX_CH_CTL"),
    (0x6_4410, "DPE_AUX_CH_CTL"),
    (0x6_4510, "DPF_AUX_CH_CTL"),
];

/// Platforms whose cycle delay is in `PP_CONTROL` bits 8:4 and that have no
/// `PP_DIVISOR` (i915 `intel_pps_get_registers`: BXT/GLK and CNP+ PCHs).
const PPS_CYCLE_IN_CONTROL: &[Platform] = &[
    P::Broxton,
    P::GeminiLake,
    P::CoffeeLake,
    P::CometLake,
    P::IceLake,
    P::ElkhartLake,
    P::JasperLake,
    P::TigerLake,
    P::RocketLake,
    P::AlderLakeS,
    P::AlderLakeP,
    P::RaptorLake,
];

/// The first panel power sequencer: its `PP_STATUS` offset (`PCH_PP_STATUS`,
/// also `BXT_PP_STATUS(0)`; VLV/CHV pipe A's at `VLV_DISPLAY_BASE` +
/// 0x61200) and where its cycle delay is programmed.
#[must_use]
pub fn panel_sequencer(platform: Platform) -> Option<(u32, CycleDelayField)> {
    let cycle = if PPS_CYCLE_IN_CONTROL.contains(&platform) {
        CycleDelayField::Control
    } else {
        CycleDelayField::Divisor
    };
    if VLV_CHV.contains(&platform) {
        Some((VLV_PP_STATUS, cycle))
    } else if PCH_SPLIT.contains(&platform) {
        Some((PCH_PP_STATUS, cycle))
    } else {
        None
    }
}

const PPS_PCH_NAMES: [&str; 5] = [
    "PCH_PP_STATUS",
    "PCH_PP_CONTROL",
    "PCH_PP_ON_DELAYS",
    "PCH_PP_OFF_DELAYS",
    "PCH_PP_DIVISOR",
];
const PPS_VLV_NAMES: [&str; 5] = [
    "PP_STATUS",
    "PP_CONTROL",
    "PP_ON_DELAYS",
    "PP_OFF_DELAYS",
    "PP_DIVISOR",
];

/// The AUX channel control registers (offset, i915 name), first channel first.
#[must_use]
pub fn aux_channels(platform: Platform) -> &'static [(u32, &'static str)] {
    if VLV_CHV.contains(&platform) {
        AUX_VLV
    } else if GEN11_PLUS.contains(&platform) {
        AUX_ICL
    } else if GEN9.contains(&platform) {
        AUX_SKL
    } else {
        AUX_ILK
    }
}

/// Index of the AUX register at `off` in the channel whose CTL is at `ctl`:
/// CTL + 0..=0x14 (dword aligned), 0 = CTL, 1..=5 = DATA1..DATA5.
#[must_use]
pub(crate) fn aux_register(ctl: u32, off: u32) -> Option<usize> {
    off.checked_sub(ctl)
        .filter(|d| *d <= 0x14)
        .map(|d| (d / 4) as usize)
}

const GMBUS_NAMES: &[(u32, &str)] = &[
    (super::gmbus::GMBUS0, "GMBUS0"),
    (super::gmbus::GMBUS1, "GMBUS1"),
    (super::gmbus::GMBUS2, "GMBUS2"),
    (super::gmbus::GMBUS3, "GMBUS3"),
    (super::gmbus::GMBUS4, "GMBUS4"),
    (super::gmbus::GMBUS5, "GMBUS5"),
];

const AUX_DATA: [&str; 5] = [
    "DP_AUX_CH_DATA1",
    "DP_AUX_CH_DATA2",
    "DP_AUX_CH_DATA3",
    "DP_AUX_CH_DATA4",
    "DP_AUX_CH_DATA5",
];

/// The i915 name of the register at BAR0 `offset` on `platform`, for the
/// offsets in the tables, GMBUS, the AUX channels and a few well-known others.
#[must_use]
pub fn register_name(platform: Platform, offset: u32) -> Option<&'static str> {
    let off = offset & !3;
    if let Some(r) = behaviours_for(platform).find(|r| r.offset == off) {
        return Some(r.name);
    }
    if let Some((base, cycle)) = panel_sequencer(platform) {
        let names = if VLV_CHV.contains(&platform) {
            &PPS_VLV_NAMES
        } else {
            &PPS_PCH_NAMES
        };
        let last = match cycle {
            CycleDelayField::Divisor => 4,
            CycleDelayField::Control => 3,
        };
        if let Some(i) = off
            .checked_sub(base)
            .map(|d| (d / 4) as usize)
            .filter(|i| *i <= last)
        {
            return names.get(i).copied();
        }
    }
    if let Some((_, n)) = off
        .checked_sub(gmbus_base(platform))
        .and_then(|rel| GMBUS_NAMES.iter().find(|(o, _)| *o == rel))
    {
        return Some(n);
    }
    for (ctl, name) in aux_channels(platform) {
        match aux_register(*ctl, off) {
            Some(0) => return Some(name),
            Some(i) => return AUX_DATA.get(i - 1).copied(),
            None => {}
        }
    }
    NAMES_ONLY.iter().find(|(o, _)| *o == off).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_tables_controllers_and_extras() {
        assert_eq!(
            register_name(P::Haswell, 0x45400),
            Some("HSW_PWR_WELL_CTL1")
        );
        assert_eq!(
            register_name(P::Haswell, 0x45403),
            Some("HSW_PWR_WELL_CTL1")
        );
        assert_eq!(register_name(P::SandyBridge, 0x45400), None);
        assert_eq!(register_name(P::Skylake, 0xC5108), Some("GMBUS2"));
        assert_eq!(register_name(P::Valleyview, 0x185108), Some("GMBUS2"));
        assert_eq!(register_name(P::Haswell, 0x130040), Some("LCPLL_CTL"));
        assert_eq!(
            register_name(P::IvyBridge, 0x130040),
            Some("FORCEWAKE_MT_ACK")
        );
        assert_eq!(register_name(P::Skylake, 0x6C060), Some("DPLL_STATUS"));
        assert_eq!(register_name(P::IceLake, 0x46010), Some("DPLL0_ENABLE"));
        assert_eq!(
            register_name(P::IvyBridge, 0xE4110),
            Some("PCH_DPB_AUX_CH_CTL")
        );
        assert_eq!(register_name(P::Skylake, 0x64118), Some("DP_AUX_CH_DATA2"));
        assert_eq!(register_name(P::SandyBridge, 0xC6014), Some("PCH_DPLL_A"));
        assert_eq!(register_name(P::Skylake, 0x1234), None);
        assert_eq!(
            register_name(P::IvyBridge, 0xC7208),
            Some("PCH_PP_ON_DELAYS")
        );
        assert_eq!(register_name(P::Skylake, 0xC7210), Some("PCH_PP_DIVISOR"));
        assert_eq!(
            register_name(P::CoffeeLake, 0xC7210),
            None,
            "CNP: no PP_DIVISOR"
        );
        assert_eq!(register_name(P::Valleyview, 0x1E_1204), Some("PP_CONTROL"));
    }

    #[test]
    fn every_platform_has_pipe_panel_and_forcewake_rows() {
        for info in crate::igd::generation::PLATFORMS {
            let rows: Vec<Row> = behaviours_for(info.platform).collect();
            let has = |n: &str| rows.iter().any(|r| r.name == n);
            assert!(has("PIPEACONF"), "{:?}", info.platform);
            assert!(
                panel_sequencer(info.platform).is_some(),
                "{:?}",
                info.platform
            );
            assert!(
                rows.iter().any(|r| r.name.starts_with("FORCEWAKE")),
                "{:?}",
                info.platform
            );
        }
    }
}

//! The MMIO register file in the lower half of BAR0 (GTTMMADR), driven by
//! per-platform behaviour tables ([`super::regs`]) and two controllers that
//! need state of their own: GMBUS ([`super::gmbus`]) and the DP AUX channels
//! ([`super::dpaux`]).
//!
//! Tables and their sources are in [`super::regs`]; the BDSM/GGC mirrors
//! `GEN6_DSMBASE`/GGC at 0x1080C0/0x108040 follow QEMU `hw/vfio/igd.c`
//! (igd-anchors §1.7, §12.1).
//!
//! Every register not in a table is a plain 32-bit read/write store whose reset
//! value is 0. Handshakes complete either within the write that requests them
//! ([`RegisterBehaviour::StatusFollowsRequest`]) or after a latency in virtual
//! time ([`RegisterBehaviour::LockAfter`]: PLL lock), as do the panel power
//! sequencer ([`super::display::panel`]) and AUX transactions: the bus hands
//! the register file the machine's virtual time before each access
//! ([`MmioRegisters::set_time`]) and asks for the next completion
//! ([`MmioRegisters::next_deadline`]) so that a guest polling for it skips
//! ahead ([`crate::vtime`]). Virtual time follows the guest's instructions,
//! never wall time, so runs stay deterministic.
//!
//! Accesses of any width at any offset are split into byte lanes of aligned
//! dwords; each dword touched is read once (reads may have side effects);
//! offsets at or beyond the lower half read as 0 and drop writes.

use std::collections::{BTreeMap, BTreeSet};

use super::display::panel::PanelPowerSequencer;
use super::display::topology::DisplayTopology;
use super::dpaux::{aux_timeout_max_ns, AuxChannel, DpSink};
use super::edid::{edid, Panel, EDID_BLOCK};
use super::generation::{BdsmLocation, Platform, PlatformInfo};
use super::gmbus::Gmbus;
use super::overrides::RegisterOverride;
use super::regs;
use crate::vtime::Timer;

/// `GEN6_DSMBASE`: BAR0 mirror of BDSM (low dword; gen11+ high dword at +4).
pub const GEN6_DSMBASE: u32 = 0x10_80C0;
/// BAR0 mirror of GGC (`GEN6_GMCH_CTRL` mirror used by QEMU's `x-igd-gms`).
pub const GGC_MIRROR: u32 = 0x10_8040;
/// Pin pairs carrying the EDID EEPROM by default: every pin but 0 (disabled).
pub const DEFAULT_EDID_PINS: u32 = 0xFFFE;

/// How one register answers accesses. Data, not code: tables and overrides
/// combine these; the register file interprets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RegisterBehaviour {
    /// Read/write storage.
    Plain,
    /// Writes are ignored; reads give the stored (reset or device-set) value.
    ReadOnly,
    /// Bits in `mask` are cleared by writing 1; the other bits are plain.
    WriteOneToClear {
        /// The W1C bits.
        mask: u32,
    },
    /// Bits in `mask` start an action when written 1 and always read 0.
    SelfClearing {
        /// The self-clearing bits.
        mask: u32,
    },
    /// Request/acknowledge: after each write, the `status_mask` bits of the
    /// register at `status_offset` are set when every `request_mask` bit of this
    /// register is set, and cleared otherwise. If the status register is this
    /// register, its status bits are read-only to the guest.
    StatusFollowsRequest {
        /// Request bits in this register.
        request_mask: u32,
        /// Register holding the status bits.
        status_offset: u32,
        /// Status bits.
        status_mask: u32,
    },
    /// Request/acknowledge with latency (PLL lock): a write that sets every
    /// `request_mask` bit while the status is clear arms a [`Timer`]; the
    /// status bits read 0 until virtual time reaches `delay_ns` after the
    /// write and 1 from then on. Clearing a request bit clears the status at
    /// once. Status bits in this register are read-only.
    LockAfter {
        /// Request bits in this register.
        request_mask: u32,
        /// Register holding the status bits.
        status_offset: u32,
        /// Status bits.
        status_mask: u32,
        /// Latency in virtual nanoseconds.
        delay_ns: u64,
    },
    /// The status bits are set while the request bits are NOT all set
    /// (`DDI_BUF_IS_IDLE` vs `DDI_BUF_CTL_ENABLE`, `LCPLL_PLL_LOCK` vs
    /// `LCPLL_PLL_DISABLE`); they are set at reset. Status bits are read-only.
    StatusInverse {
        /// Request bits in this register.
        request_mask: u32,
        /// Register holding the status bits.
        status_offset: u32,
        /// Status bits.
        status_mask: u32,
    },
    /// Bits in `mask` flip after every guest read (vblank/frame-start status:
    /// a wait-for-vblank loop sees both edges within two reads). Writes to
    /// them are ignored.
    Toggle {
        /// The toggling bits.
        mask: u32,
    },
    /// Bits in `mask` read the same bits of the register at `source`
    /// (forcewake acks); writes to them are ignored.
    Mirror {
        /// Register mirrored.
        source: u32,
        /// Bits mirrored.
        mask: u32,
    },
    /// A masked register (`_MASKED_BIT_ENABLE`): bits 31:16 of a write select
    /// which of bits 15:0 it changes; bits 31:16 read 0.
    MaskedWrite,
    /// Bits in `mask` report hardware status (hotplug monitor sense): the
    /// device sets them (reset value, display topology); guest writes leave
    /// them unchanged.
    DeviceStatus {
        /// The status bits.
        mask: u32,
    },
    /// Reads always give `value`; writes are ignored.
    Constant {
        /// The value.
        value: u32,
    },
}

/// The BAR0 register file: sparse dword store with reset values and behaviours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmioRegisters {
    /// Size of the register half of BAR0 in bytes.
    limit: u32,
    regs: BTreeMap<u32, u32>,
    reset: BTreeMap<u32, u32>,
    behaviours: BTreeMap<u32, Vec<RegisterBehaviour>>,
    /// Armed [`RegisterBehaviour::LockAfter`] timers, keyed by (status
    /// offset, status mask).
    pending: BTreeMap<(u32, u32), Timer>,
    /// Virtual time (ns) of the current access ([`Self::set_time`]).
    now_ns: u64,
    /// The earliest armed completion (`u64::MAX`: none): until then
    /// [`Self::set_time`] only moves the clock. Recomputed after every
    /// guest write and reset, the only accesses that arm completions.
    due_ns: u64,
    /// The panel power sequencer, where the platform has one.
    panel: Option<PanelPowerSequencer>,
    /// Offsets whose behaviour an override replaced (controllers skip them).
    overridden: BTreeSet<u32>,
    gmbus: Gmbus,
    aux: Vec<(u32, AuxChannel)>,
    platform: Platform,
}

impl MmioRegisters {
    /// The register file of `info`, with the BDSM/GGC mirrors holding the host
    /// values where the platform has them, the state firmware leaves
    /// ([`regs::FIRMWARE_STATES`]) and the default [`DisplayTopology`].
    #[must_use]
    pub fn new(info: &PlatformInfo, host_bdsm_reg: u64, ggc: u16) -> Self {
        let limit = u32::try_from(info.gtt_offset_in_bar0()).unwrap_or(u32::MAX);
        let mut behaviours: BTreeMap<u32, Vec<RegisterBehaviour>> = BTreeMap::new();
        let mut reset = BTreeMap::new();
        for r in regs::behaviours_for(info.platform) {
            behaviours
                .entry(r.offset & !3)
                .or_default()
                .push(r.behaviour);
            if let Some((_, status_offset, status_mask, Status::Inverse)) = r.behaviour.handshake()
            {
                *reset.entry(status_offset & !3).or_insert(0) |= status_mask;
            }
        }
        for f in regs::firmware_values(info.platform) {
            *reset.entry(f.offset & !3).or_insert(0) |= f.value;
        }
        if info.bdsm_mirror {
            for m in [GEN6_DSMBASE, GEN6_DSMBASE + 4, GGC_MIRROR] {
                behaviours
                    .entry(m)
                    .or_default()
                    .push(RegisterBehaviour::ReadOnly);
            }
            reset.insert(GEN6_DSMBASE, host_bdsm_reg as u32);
            if info.bdsm == BdsmLocation::ConfigC0 {
                reset.insert(GEN6_DSMBASE + 4, (host_bdsm_reg >> 32) as u32);
            }
            reset.insert(GGC_MIRROR, u32::from(ggc));
        }
        let e = edid(&Panel::default());
        let timeout_max_ns = aux_timeout_max_ns(info.gen);
        let aux = regs::aux_channels(info.platform)
            .iter()
            .map(|(ctl, _)| {
                let mut ch = AuxChannel::new(None, e);
                ch.set_timeout_max_ns(timeout_max_ns);
                (*ctl, ch)
            })
            .collect();
        let mut r = Self {
            limit,
            regs: reset.clone(),
            reset,
            behaviours,
            pending: BTreeMap::new(),
            now_ns: 0,
            due_ns: u64::MAX,
            panel: regs::panel_sequencer(info.platform)
                .map(|(base, cycle)| PanelPowerSequencer::new(base, cycle)),
            overridden: BTreeSet::new(),
            gmbus: Gmbus::new(regs::gmbus_base(info.platform), e, DEFAULT_EDID_PINS),
            aux,
            platform: info.platform,
        };
        r.set_topology(&DisplayTopology::default());
        r
    }

    /// Move to virtual time `now_ns` (the machine's clock at the access that
    /// follows): PLL locks, panel power sequences and AUX transactions whose
    /// time has come complete.
    pub fn set_time(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        if self.now_ns < self.due_ns {
            return;
        }
        self.complete_due();
        self.refresh_due();
    }

    /// Recompute [`Self::due_ns`] after anything that may arm a completion.
    fn refresh_due(&mut self) {
        // Include a deadline equal to now (a zero latency) so it is not lost.
        self.due_ns = self
            .next_deadline(self.now_ns.saturating_sub(1))
            .unwrap_or(u64::MAX);
    }

    /// Complete every timer, panel phase and AUX reply due at `now_ns`.
    fn complete_due(&mut self) {
        let now = self.now_ns;
        let mut done: Vec<(u32, u32)> = Vec::new();
        self.pending.retain(|&key, t| {
            if t.done(now) {
                done.push(key);
                false
            } else {
                true
            }
        });
        for (off, mask) in done {
            let st = self.regs.get(&off).copied().unwrap_or(0) | mask;
            store(&mut self.regs, &self.reset, off, st);
        }
        if let Some(p) = &mut self.panel {
            p.set_time(now);
        }
        for (_, ch) in &mut self.aux {
            ch.set_time(now);
        }
    }

    /// Virtual time of the current access.
    #[must_use]
    pub const fn now_ns(&self) -> u64 {
        self.now_ns
    }

    /// The earliest virtual time after `now_ns` at which a register changes
    /// on its own (a PLL locks, a panel sequence phase ends, an AUX reply
    /// arrives).
    #[must_use]
    pub fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        let locks = self.pending.values().filter_map(|t| t.pending(now_ns));
        let panel = self.panel.as_ref().and_then(|p| p.next_deadline(now_ns));
        let aux = self
            .aux
            .iter()
            .filter_map(|(_, ch)| ch.next_deadline(now_ns));
        locks.chain(panel).chain(aux).min()
    }

    /// Attach the displays of `t`: the panel on AUX A, the port B monitor on
    /// AUX B, their DDC pins on GMBUS, port B's live state (`SDEISR`) and
    /// strap (`SFUSE_STRAP`), the CRT's monitor sense in `ADPA`. Reset values
    /// change too: an FLR does not unplug a monitor.
    pub fn set_topology(&mut self, t: &DisplayTopology) {
        let ddc = t.monitor.as_ref().or(t.panel.as_ref()).or(t.crt.as_ref());
        if let Some(p) = ddc {
            self.gmbus.set_edid(edid(p));
        }
        self.gmbus.set_pins(t.gmbus_pins(self.platform));
        let sinks = [
            t.panel.as_ref().map(|p| (DpSink::default(), p)),
            t.monitor.as_ref().map(|p| {
                (
                    DpSink {
                        edp: false,
                        ..DpSink::default()
                    },
                    p,
                )
            }),
        ];
        for (i, (_, ch)) in self.aux.iter_mut().enumerate() {
            match sinks.get(i).and_then(Option::as_ref) {
                Some((sink, panel)) => {
                    ch.set_sink(Some(*sink));
                    ch.set_edid(edid(panel));
                }
                None => ch.set_sink(None),
            }
        }
        let crt = if t.crt.is_some() { u32::MAX } else { 0 };
        let monitor = if t.monitor.is_some() { u32::MAX } else { 0 };
        for (off, mask, on) in [
            (regs::PCH_ADPA, regs::ADPA_CRT_HOTPLUG_MONITOR_MASK, crt),
            (regs::VLV_ADPA, regs::ADPA_CRT_HOTPLUG_MONITOR_MASK, crt),
            (regs::SFUSE_STRAP, regs::SFUSE_STRAP_DDIB_DETECTED, monitor),
            (regs::SDEISR, regs::SDE_PORTB_HOTPLUG_CPT, monitor),
        ] {
            self.set_status_bits(off, mask, mask & on);
        }
    }

    /// Set the `mask` bits of the register at `off` to `value` where the
    /// platform's tables mark them hardware status
    /// ([`RegisterBehaviour::DeviceStatus`]); elsewhere nothing.
    fn set_status_bits(&mut self, off: u32, mask: u32, value: u32) {
        let status = self
            .behaviours(off)
            .iter()
            .any(|b| matches!(b, RegisterBehaviour::DeviceStatus { mask: m } if m & mask == mask));
        if status {
            self.set_device_bits(off, mask, value);
        }
    }

    /// Set the `mask` bits of the register at `off` to `value` from the
    /// device side, in the current and the reset value.
    fn set_device_bits(&mut self, off: u32, mask: u32, value: u32) {
        let off = off & !3;
        let cur = self.regs.get(&off).copied().unwrap_or(0);
        let rst = self.reset.get(&off).copied().unwrap_or(0);
        self.reset.insert(off, (rst & !mask) | (value & mask));
        store(
            &mut self.regs,
            &self.reset,
            off,
            (cur & !mask) | (value & mask),
        );
    }

    /// Put `panel` behind GMBUS and every AUX channel (its EDID).
    pub fn set_panel(&mut self, panel: &Panel) {
        let e: [u8; EDID_BLOCK] = edid(panel);
        self.gmbus.set_edid(e);
        for (_, ch) in &mut self.aux {
            ch.set_edid(e);
        }
    }

    /// Connect `sink` to (or with None disconnect) AUX channel `index` (in
    /// [`regs::aux_channels`] order). Returns false if there is no such channel.
    pub fn set_dp_sink(&mut self, index: usize, sink: Option<DpSink>) -> bool {
        match self.aux.get_mut(index) {
            Some((_, ch)) => {
                ch.set_sink(sink);
                true
            }
            None => false,
        }
    }

    /// The behaviours of the dword at `offset` (empty for plain registers).
    fn behaviours(&self, offset: u32) -> &[RegisterBehaviour] {
        self.behaviours
            .get(&(offset & !3))
            .map_or(&[], Vec::as_slice)
    }

    /// Replace every behaviour of the override's register with its own (and
    /// for `ro:VALUE`/`const:VALUE` set the value, reset value included, so an
    /// FLR keeps it). GMBUS/AUX registers so overridden become table-driven.
    pub fn apply_override(&mut self, o: &RegisterOverride) {
        let off = o.offset() & !3;
        self.behaviours.insert(off, vec![o.behaviour()]);
        self.overridden.insert(off);
        if let Some(v) = o.value() {
            self.reset.insert(off, v);
            self.regs.insert(off, v);
        }
    }

    /// AUX channel and register index (0 = CTL) owning `off`.
    fn aux_slot(&self, off: u32) -> Option<(usize, usize)> {
        self.aux
            .iter()
            .enumerate()
            .find_map(|(i, (ctl, _))| regs::aux_register(*ctl, off).map(|r| (i, r)))
    }

    fn controller(&self, off: u32) -> Option<Controller> {
        if self.overridden.contains(&off) {
            return None;
        }
        if self.gmbus.handles(off) {
            return Some(Controller::Gmbus);
        }
        if let Some(rel) = self.panel.as_ref().and_then(|p| p.handles(off)) {
            return Some(Controller::Panel(rel));
        }
        self.aux_slot(off).map(|(c, r)| Controller::Aux(c, r))
    }

    /// The dword at `offset & !3` as the guest would read it, without the side
    /// effects of a read (no countdown, no toggle). 0 beyond the region.
    #[must_use]
    pub fn read32(&self, offset: u32) -> u32 {
        let off = offset & !3;
        match self.controller(off) {
            Some(Controller::Gmbus) => self.gmbus.peek(off),
            Some(Controller::Aux(c, r)) => self.aux.get(c).map_or(0, |(_, ch)| ch.peek(r)),
            Some(Controller::Panel(rel)) => self.panel.as_ref().map_or(0, |p| p.read(rel)),
            None => self.value_and_toggle(off).1,
        }
    }

    /// For the table-driven dword at `off`: its stored value, the value a read
    /// gives (mirrors and constants applied) and the bits a read toggles.
    fn value_and_toggle(&self, off: u32) -> (u32, u32, u32) {
        let stored = self.regs.get(&off).copied().unwrap_or(0);
        let mut v = stored;
        let mut toggle = 0u32;
        for b in self.behaviours(off) {
            match *b {
                RegisterBehaviour::Mirror { source, mask } => {
                    let src = self.regs.get(&(source & !3)).copied().unwrap_or(0);
                    v = (v & !mask) | (src & mask);
                }
                RegisterBehaviour::Constant { value } => v = value,
                RegisterBehaviour::Toggle { mask } => toggle |= mask,
                _ => {}
            }
        }
        (stored, v, toggle)
    }

    /// Guest read of the dword at `offset & !3`, with side effects: toggling
    /// bits flip afterwards, GMBUS3 moves to the next bytes.
    fn read_dword(&mut self, offset: u32) -> u32 {
        let off = offset & !3;
        if off >= self.limit {
            return 0;
        }
        match self.controller(off) {
            Some(Controller::Gmbus) => return self.gmbus.read(off),
            Some(Controller::Aux(c, r)) => {
                return self.aux.get(c).map_or(0, |(_, ch)| ch.peek(r));
            }
            Some(Controller::Panel(rel)) => {
                return self.panel.as_ref().map_or(0, |p| p.read(rel));
            }
            None => {}
        }
        let (stored, v, toggle) = self.value_and_toggle(off);
        if toggle != 0 {
            store(&mut self.regs, &self.reset, off, stored ^ toggle);
        }
        v
    }

    /// Set a register from the device side (no behaviours).
    #[cfg(test)]
    fn set32(&mut self, offset: u32, value: u32) {
        store(&mut self.regs, &self.reset, offset & !3, value);
    }

    /// Every register back to its reset value, controllers idle, pending
    /// locks dropped, the panel sequencer off. Overrides, the panel's EDID
    /// and the sinks stay; virtual time goes on.
    pub fn reset(&mut self) {
        self.regs = self.reset.clone();
        self.pending.clear();
        if let Some(p) = &mut self.panel {
            p.reset();
        }
        self.gmbus.reset();
        for (_, ch) in &mut self.aux {
            ch.reset();
        }
        self.refresh_due();
    }

    /// Guest read of `data.len()` bytes at `offset`, by byte lanes; each dword
    /// touched is read once. Bytes at or beyond the register region read 0.
    /// Returns false if any byte was outside.
    pub fn read(&mut self, offset: u64, data: &mut [u8]) -> bool {
        let mut inside = true;
        let mut cached: Option<(u32, u32)> = None;
        for (i, d) in data.iter_mut().enumerate() {
            let a = offset.checked_add(i as u64);
            match a.filter(|a| *a < u64::from(self.limit)) {
                Some(a) => {
                    let a = a as u32;
                    let dword = a & !3;
                    let v = match cached {
                        Some((o, v)) if o == dword => v,
                        _ => {
                            let v = self.read_dword(dword);
                            cached = Some((dword, v));
                            v
                        }
                    };
                    *d = (v >> ((a & 3) * 8)) as u8;
                }
                None => {
                    *d = 0;
                    inside = false;
                }
            }
        }
        inside
    }

    /// Guest write of `data` at `offset`, split into aligned dwords with byte
    /// enables. Bytes at or beyond the region are dropped. Returns false if any
    /// byte was outside.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        // The sequencers arm completions from their own clocks: bring them to
        // now first (set_time skips them while nothing is due).
        self.complete_due();
        let mut inside = true;
        let mut i = 0usize;
        while i < data.len() {
            let Some(a) = offset
                .checked_add(i as u64)
                .filter(|a| *a < u64::from(self.limit))
            else {
                inside = false;
                i += 1;
                continue;
            };
            let a = a as u32;
            let dword = a & !3;
            let mut value = 0u32;
            let mut enables = 0u32;
            let mut lane = a & 3;
            while lane < 4 {
                let Some(b) = data.get(i) else { break };
                value |= u32::from(*b) << (lane * 8);
                enables |= 0xFF << (lane * 8);
                lane += 1;
                i += 1;
            }
            self.write_dword(dword, value, enables);
        }
        self.refresh_due();
        inside
    }

    /// Apply one dword write with byte enables through the behaviour rows.
    fn write_dword(&mut self, off: u32, mut value: u32, mut enables: u32) {
        match self.controller(off) {
            Some(Controller::Gmbus) => return self.gmbus.write(off, value, enables),
            Some(Controller::Aux(c, r)) => {
                if let Some((_, ch)) = self.aux.get_mut(c) {
                    ch.write(r, value, enables);
                }
                return;
            }
            Some(Controller::Panel(rel)) => {
                if let Some(p) = &mut self.panel {
                    p.write(rel, value, enables);
                }
                return;
            }
            None => {}
        }
        let rows: &[RegisterBehaviour] = self.behaviours.get(&off).map_or(&[], Vec::as_slice);
        let mut ro = 0u32;
        let mut w1c = 0u32;
        let mut sc = 0u32;
        for b in rows {
            match *b {
                RegisterBehaviour::Plain => {}
                RegisterBehaviour::ReadOnly | RegisterBehaviour::Constant { .. } => ro = u32::MAX,
                RegisterBehaviour::WriteOneToClear { mask } => w1c |= mask,
                RegisterBehaviour::SelfClearing { mask } => sc |= mask,
                RegisterBehaviour::StatusFollowsRequest { .. }
                | RegisterBehaviour::LockAfter { .. }
                | RegisterBehaviour::StatusInverse { .. } => {
                    // Status bits in the request register are read-only.
                    if let Some((_, status_offset, status_mask, _)) = b.handshake() {
                        if status_offset & !3 == off {
                            ro |= status_mask;
                        }
                    }
                }
                RegisterBehaviour::Toggle { mask }
                | RegisterBehaviour::Mirror { mask, .. }
                | RegisterBehaviour::DeviceStatus { mask } => {
                    ro |= mask;
                }
                RegisterBehaviour::MaskedWrite => {
                    // Only the low 16 bits whose mask bit (16 above) is written 1.
                    let sel = if enables & 0xFFFF_0000 != 0 {
                        (value >> 16) & (enables >> 16)
                    } else {
                        0
                    };
                    enables &= sel & 0xFFFF;
                    value &= 0xFFFF;
                }
            }
        }
        let old = self.regs.get(&off).copied().unwrap_or(0);
        let plain = enables & !ro & !w1c;
        let cleared = value & enables & w1c & !ro;
        let new = ((old & !plain) | (value & plain)) & !cleared & !sc;
        store(&mut self.regs, &self.reset, off, new);
        for b in rows {
            apply_status(
                &mut self.regs,
                &self.reset,
                &mut self.pending,
                self.now_ns,
                new,
                *b,
            );
        }
    }
}

impl RegisterBehaviour {
    /// The request mask, status offset, status mask and kind of a handshake
    /// row (`StatusFollowsRequest`, `StatusInverse`, `LockAfter`).
    fn handshake(self) -> Option<(u32, u32, u32, Status)> {
        match self {
            Self::StatusFollowsRequest {
                request_mask,
                status_offset,
                status_mask,
            } => Some((request_mask, status_offset, status_mask, Status::Follow)),
            Self::StatusInverse {
                request_mask,
                status_offset,
                status_mask,
            } => Some((request_mask, status_offset, status_mask, Status::Inverse)),
            Self::LockAfter {
                request_mask,
                status_offset,
                status_mask,
                delay_ns,
            } => Some((
                request_mask,
                status_offset,
                status_mask,
                Status::Lock(delay_ns),
            )),
            _ => None,
        }
    }
}

/// Update the status register of a request row `b` after its register became
/// `new` at virtual time `now_ns` (a no-op for other rows).
fn apply_status(
    regs: &mut BTreeMap<u32, u32>,
    reset: &BTreeMap<u32, u32>,
    pending: &mut BTreeMap<(u32, u32), Timer>,
    now_ns: u64,
    new: u32,
    b: RegisterBehaviour,
) {
    let Some((request_mask, status_offset, status_mask, kind)) = b.handshake() else {
        return;
    };
    let on = new & request_mask == request_mask;
    let st_off = status_offset & !3;
    let st = regs.get(&st_off).copied().unwrap_or(0);
    let key = (st_off, status_mask);
    let st = match kind {
        Status::Follow if on => st | status_mask,
        Status::Inverse if !on => st | status_mask,
        Status::Follow | Status::Inverse => st & !status_mask,
        Status::Lock(_) if !on => {
            pending.remove(&key);
            st & !status_mask
        }
        Status::Lock(_) if st & status_mask == status_mask || pending.contains_key(&key) => st,
        Status::Lock(0) => st | status_mask,
        Status::Lock(delay_ns) => {
            pending.insert(key, Timer::start(now_ns, delay_ns));
            st & !status_mask
        }
    };
    store(regs, reset, st_off, st);
}

#[derive(Clone, Copy)]
enum Controller {
    Gmbus,
    Aux(usize, usize),
    /// The panel power sequencer; the register's offset from `PP_STATUS`.
    Panel(u32),
}

#[derive(Clone, Copy)]
enum Status {
    Follow,
    Inverse,
    Lock(u64),
}

/// Store a dword, keeping the map sparse (zero registers without a reset
/// value are not kept).
fn store(regs: &mut BTreeMap<u32, u32>, reset: &BTreeMap<u32, u32>, off: u32, value: u32) {
    if value == 0 && !reset.contains_key(&off) {
        regs.remove(&off);
    } else {
        regs.insert(off, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::{info, Platform};
    use crate::igd::regs::{
        self, HSW_PWR_WELL_CTL1, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ, HSW_PWR_WELL_STATE,
        PANEL_POWER_ON, PCH_PP_CONTROL, PCH_PP_STATUS, PIPECONF_ENABLE, PIPECONF_STATE_ENABLE,
        PP_ON, SKL_PW1_REQ, SKL_PW1_STATE, SKL_PW2_REQ, SKL_PW2_STATE, VLV_PP_CONTROL,
        VLV_PP_STATUS,
    };

    fn regs(p: Platform) -> MmioRegisters {
        MmioRegisters::new(info(p), 0x8B80_0001, 0x0211)
    }

    fn w32(r: &mut MmioRegisters, off: u32, v: u32) {
        assert!(r.write(u64::from(off), &v.to_le_bytes()));
    }

    #[test]
    fn plain_registers_store_byte_lanes() {
        let mut r = regs(Platform::SandyBridge);
        w32(&mut r, 0x6_1000, 0x1122_3344);
        r.write(0x6_1001, &[0xAA, 0xBB]);
        assert_eq!(r.read32(0x6_1000), 0x11BB_AA44);
        let mut b = [0u8; 4];
        r.read(0x6_0FFE, &mut b);
        assert_eq!(b, [0, 0, 0x44, 0xAA], "read across a dword boundary");
        // A 4-byte write straddling two dwords writes the lanes of both.
        r.write(0x6_1002, &[1, 2, 3, 4]);
        assert_eq!(r.read32(0x6_1000), 0x0201_AA44);
        assert_eq!(r.read32(0x6_1004), 0x0000_0403);
    }

    #[test]
    fn hsw_power_well_state_follows_request() {
        let mut r = regs(Platform::Haswell);
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ);
        assert_eq!(
            r.read32(HSW_PWR_WELL_CTL2),
            HSW_PWR_WELL_REQ | HSW_PWR_WELL_STATE
        );
        // The guest cannot write the state bit itself.
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_STATE);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0);
        // A byte write to the top lane alone toggles the request too.
        r.write(u64::from(HSW_PWR_WELL_CTL1) + 3, &[0x80]);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL1), 0xC000_0000);
    }

    #[test]
    fn skl_power_wells_ack_independently() {
        let mut r = regs(Platform::Skylake);
        w32(&mut r, HSW_PWR_WELL_CTL2, SKL_PW1_REQ);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), SKL_PW1_REQ | SKL_PW1_STATE);
        w32(&mut r, HSW_PWR_WELL_CTL2, SKL_PW1_REQ | SKL_PW2_REQ);
        assert_eq!(
            r.read32(HSW_PWR_WELL_CTL2),
            SKL_PW1_REQ | SKL_PW1_STATE | SKL_PW2_REQ | SKL_PW2_STATE
        );
    }

    #[test]
    fn icl_power_wells_use_low_bit_pairs() {
        let mut r = regs(Platform::IceLake);
        w32(&mut r, HSW_PWR_WELL_CTL2, 0b10_1010);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0b11_1111);
        w32(&mut r, HSW_PWR_WELL_CTL2, 0b10_0000);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), 0b11_0000);
        let mut t = regs(Platform::TigerLake);
        w32(&mut t, HSW_PWR_WELL_CTL1, 1 << 9);
        assert_eq!(t.read32(HSW_PWR_WELL_CTL1), 0b11 << 8, "PW5");
    }

    #[test]
    fn snb_has_no_power_well_behaviour() {
        let mut r = regs(Platform::SandyBridge);
        w32(&mut r, HSW_PWR_WELL_CTL2, HSW_PWR_WELL_REQ);
        assert_eq!(r.read32(HSW_PWR_WELL_CTL2), HSW_PWR_WELL_REQ);
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn panel_powers_up_after_its_delay_in_virtual_time() {
        use crate::igd::display::panel::{PP_SEQUENCE_POWER_UP, PP_SEQUENCE_STATE_ON_IDLE};
        let mut r = regs(Platform::IvyBridge);
        // Firmware left the delays 0: the eDP default T1+T3, 210 ms.
        r.set_time(MS);
        w32(&mut r, PCH_PP_CONTROL, 0xABCD_0000 | PANEL_POWER_ON);
        assert_eq!(
            rd(&mut r, PCH_PP_STATUS) & (PP_ON | PP_SEQUENCE_POWER_UP),
            PP_SEQUENCE_POWER_UP
        );
        assert_eq!(r.next_deadline(MS), Some(211 * MS));
        w32(&mut r, PCH_PP_STATUS, 0);
        r.set_time(211 * MS);
        assert_eq!(rd(&mut r, PCH_PP_STATUS), PP_ON | PP_SEQUENCE_STATE_ON_IDLE);
        assert_eq!(rd(&mut r, PCH_PP_CONTROL), 0xABCD_0001);
        assert_eq!(r.next_deadline(211 * MS), None);
        // Powering down starts the power-down sequence; PP_ON holds meanwhile.
        w32(&mut r, PCH_PP_CONTROL, 0xABCD_0000);
        assert_ne!(rd(&mut r, PCH_PP_STATUS) & PP_ON, 0);
        let mut v = regs(Platform::Valleyview);
        w32(&mut v, regs::VLV_DISPLAY_BASE + 0x6_1208, 100 << 16); // 10 ms
        w32(&mut v, VLV_PP_CONTROL, PANEL_POWER_ON);
        v.set_time(10 * MS);
        assert_eq!(rd(&mut v, VLV_PP_STATUS) & PP_ON, PP_ON);
        assert_eq!(rd(&mut v, PCH_PP_STATUS), 0);
        // CFL (CNP PCH) has no PP_DIVISOR: plain storage there.
        let mut c = regs(Platform::CoffeeLake);
        w32(&mut c, regs::PCH_PP_STATUS + 0x10, 7);
        assert_eq!(rd(&mut c, regs::PCH_PP_STATUS + 0x10), 7);
    }

    #[test]
    fn mirrors_are_read_only_host_values() {
        let mut r = regs(Platform::KabyLake);
        assert_eq!(r.read32(GEN6_DSMBASE), 0x8B80_0001);
        assert_eq!(r.read32(GGC_MIRROR), 0x0211);
        w32(&mut r, GEN6_DSMBASE, 0x1234_5678);
        assert_eq!(r.read32(GEN6_DSMBASE), 0x8B80_0001);
        let t = MmioRegisters::new(info(Platform::TigerLake), 0x4_0000_0001, 0x0211);
        assert_eq!(t.read32(GEN6_DSMBASE + 4), 4);
    }

    #[test]
    fn w1c_and_self_clearing_rows() {
        let mut r = regs(Platform::SandyBridge);
        r.behaviours.insert(
            0x100,
            vec![RegisterBehaviour::WriteOneToClear { mask: 0xF }],
        );
        r.behaviours
            .insert(0x104, vec![RegisterBehaviour::SelfClearing { mask: 1 }]);
        r.set32(0x100, 0xFF);
        w32(&mut r, 0x100, 0x0000_0105);
        assert_eq!(
            r.read32(0x100),
            0x10A,
            "W1C bits 0 and 2 cleared, plain bits 31:4 written"
        );
        w32(&mut r, 0x104, 0x3);
        assert_eq!(r.read32(0x104), 0x2);
    }

    #[test]
    fn outside_the_register_half_is_dropped_and_reported() {
        let mut r = regs(Platform::SandyBridge);
        assert!(!r.write(2 << 20, &[1, 2, 3, 4]));
        assert!(!r.write(u64::MAX - 1, &[1, 2, 3, 4]));
        let mut b = [0xFFu8; 4];
        assert!(!r.read((2 << 20) - 2, &mut b));
        assert_eq!(b, [0; 4]);
        r.set32(0x10, 5);
        r.reset();
        assert_eq!(r, regs(Platform::SandyBridge));
    }

    fn rd(r: &mut MmioRegisters, off: u32) -> u32 {
        let mut b = [0u8; 4];
        assert!(r.read(u64::from(off), &mut b));
        u32::from_le_bytes(b)
    }

    #[test]
    fn crt_force_trigger_completes_and_monitor_sense_is_read_only() {
        for (p, adpa) in [
            (Platform::SandyBridge, regs::PCH_ADPA),
            (Platform::Haswell, regs::PCH_ADPA),
            (Platform::Valleyview, regs::VLV_DISPLAY_BASE + 0x6_1100),
        ] {
            let mut r = regs(p);
            w32(
                &mut r,
                adpa,
                (1 << 31) | regs::ADPA_CRT_HOTPLUG_FORCE_TRIGGER | (3 << 24),
            );
            // The trigger is done at once; no CRT: monitor sense reads none.
            assert_eq!(rd(&mut r, adpa), 1 << 31, "{p:?}");
        }
        // SKL's PCH has no CRT port: plain storage, the trigger would stick.
        let mut r = regs(Platform::Skylake);
        w32(&mut r, regs::PCH_ADPA, regs::ADPA_CRT_HOTPLUG_FORCE_TRIGGER);
        assert_eq!(
            rd(&mut r, regs::PCH_ADPA),
            regs::ADPA_CRT_HOTPLUG_FORCE_TRIGGER
        );
    }

    #[test]
    fn sideband_and_pcode_transactions_complete_successfully() {
        let mut r = regs(Platform::Haswell);
        w32(&mut r, regs::SBI_CTL_STAT, 0x0600 | regs::SBI_BUSY | 0x6);
        assert_eq!(rd(&mut r, regs::SBI_CTL_STAT), 0x0600);
        let mut r = regs(Platform::CoffeeLake);
        w32(&mut r, 0x13_8128, 3);
        w32(&mut r, regs::GEN6_PCODE_MAILBOX, regs::GEN6_PCODE_READY | 7);
        assert_eq!(rd(&mut r, regs::GEN6_PCODE_MAILBOX), 0);
        assert_eq!(rd(&mut r, 0x13_8128) & 1, 1, "SKL_CDCLK_READY_FOR_CHANGE");
    }

    #[test]
    fn default_topology_straps_and_live_status_are_read_only() {
        let mut r = regs(Platform::CoffeeLake);
        assert_eq!(
            rd(&mut r, regs::SFUSE_STRAP),
            regs::SFUSE_STRAP_DDIB_DETECTED
        );
        assert_eq!(rd(&mut r, regs::SDEISR), regs::SDE_PORTB_HOTPLUG_CPT);
        w32(&mut r, regs::SDEISR, 0);
        w32(&mut r, regs::SFUSE_STRAP, 0);
        assert_eq!(rd(&mut r, regs::SDEISR), regs::SDE_PORTB_HOTPLUG_CPT);
        assert_eq!(
            rd(&mut r, regs::SFUSE_STRAP),
            regs::SFUSE_STRAP_DDIB_DETECTED
        );
        // SNB/IVB have no DDI straps; their PCH still reports port B live.
        let mut r = regs(Platform::IvyBridge);
        assert_eq!(rd(&mut r, regs::SFUSE_STRAP), 0);
        assert_eq!(rd(&mut r, regs::SDEISR), regs::SDE_PORTB_HOTPLUG_CPT);
    }

    #[test]
    fn skl_dpll_locks_after_its_latency_and_unlocks_at_once() {
        let mut r = regs(Platform::Skylake);
        // Firmware left DPLL0 locked and the CD clock at 337.5 MHz.
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 0xC000_0000);
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), 1);
        assert_eq!(rd(&mut r, regs::CDCLK_CTL) & 0x7FF, 0x2A1);
        w32(&mut r, regs::LCPLL1_CTL, 0);
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), 0);
        r.set_time(MS);
        w32(&mut r, regs::LCPLL1_CTL, 1 << 31);
        // Reads do not make it lock; virtual time does.
        for _ in 0..100 {
            assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 1 << 31, "not locked yet");
        }
        assert_eq!(r.next_deadline(MS), Some(MS + PLL_NS));
        r.set_time(MS + PLL_NS - 1);
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 1 << 31);
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), 0);
        r.set_time(MS + PLL_NS);
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 0xC000_0000, "locked");
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), 1);
        assert_eq!(r.next_deadline(MS + PLL_NS), None);
        // WRPLL_CTL1 (DPLL2) → DPLL_LOCK(2) = bit 16; DPLL0's lock stays.
        w32(&mut r, 0x4_6040, 1 << 31);
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), 1);
        r.set_time(MS + 2 * PLL_NS);
        assert_eq!(rd(&mut r, regs::DPLL_STATUS), (1 << 16) | 1);
        // Rewriting the enable while locked does not re-arm; disabling unlocks.
        w32(&mut r, regs::LCPLL1_CTL, 1 << 31);
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 0xC000_0000);
        w32(&mut r, regs::LCPLL1_CTL, 0);
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 0);
        assert_eq!(r.read32(regs::DPLL_STATUS), 1 << 16);
        // The guest cannot write the lock bit itself.
        w32(&mut r, regs::LCPLL1_CTL, 1 << 30);
        assert_eq!(rd(&mut r, regs::LCPLL1_CTL), 0);
    }

    const PLL_NS: u64 = regs::PLL_LOCK_NS;

    #[test]
    fn vlv_dpll_lock_bit_15_and_icl_pll_power() {
        let mut v = regs(Platform::Valleyview);
        let dpll_a = regs::VLV_DISPLAY_BASE + 0x6014;
        w32(&mut v, dpll_a, 1 << 31);
        assert_eq!(rd(&mut v, dpll_a) & (1 << 15), 0);
        v.set_time(PLL_NS);
        assert_eq!(rd(&mut v, dpll_a) & (1 << 15), 1 << 15);
        let mut i = regs(Platform::IceLake);
        w32(&mut i, regs::LCPLL1_CTL, 1 << 27);
        assert_eq!(
            rd(&mut i, regs::LCPLL1_CTL),
            (1 << 27) | (1 << 26),
            "PLL_POWER_STATE"
        );
    }

    #[test]
    fn hsw_lcpll_locked_at_reset_and_while_not_disabled() {
        let mut r = regs(Platform::Haswell);
        assert_eq!(rd(&mut r, regs::LCPLL_CTL), 1 << 30);
        w32(&mut r, regs::LCPLL_CTL, 1 << 31);
        assert_eq!(rd(&mut r, regs::LCPLL_CTL), 1 << 31);
        w32(&mut r, regs::LCPLL_CTL, 1 << 21);
        assert_eq!(
            rd(&mut r, regs::LCPLL_CTL),
            (1 << 30) | (1 << 21) | (1 << 19)
        );
    }

    #[test]
    fn ddi_buffer_idle_is_the_inverse_of_enable() {
        let mut r = regs(Platform::Broadwell);
        let b = regs::DDI_BUF_CTL_A + 0x100;
        assert_eq!(rd(&mut r, b), regs::DDI_BUF_IS_IDLE);
        w32(&mut r, b, regs::DDI_BUF_CTL_ENABLE | 0x6);
        assert_eq!(rd(&mut r, b), regs::DDI_BUF_CTL_ENABLE | 0x6);
        w32(&mut r, b, 0x6);
        assert_eq!(rd(&mut r, b), regs::DDI_BUF_IS_IDLE | 0x6);
        assert_eq!(rd(&mut r, 0x6_4500), 0, "no DDI F on BDW");
        assert_eq!(
            rd(&mut regs(Platform::IceLake), 0x6_4500),
            regs::DDI_BUF_IS_IDLE
        );
    }

    #[test]
    fn pipeconf_state_follows_enable_on_every_pipe() {
        let mut r = regs(Platform::IvyBridge);
        for pipe in [0x7_0008u32, 0x7_1008, 0x7_2008] {
            w32(&mut r, pipe, PIPECONF_ENABLE);
            assert_eq!(rd(&mut r, pipe), PIPECONF_ENABLE | PIPECONF_STATE_ENABLE);
        }
        let mut s = regs(Platform::SandyBridge);
        w32(&mut s, 0x7_2008, PIPECONF_ENABLE);
        assert_eq!(rd(&mut s, 0x7_2008), PIPECONF_ENABLE, "SNB has no pipe C");
        let mut v = regs(Platform::Cherryview);
        w32(&mut v, regs::VLV_DISPLAY_BASE + 0x7_0008, PIPECONF_ENABLE);
        assert_ne!(
            rd(&mut v, regs::VLV_DISPLAY_BASE + 0x7_0008) & PIPECONF_STATE_ENABLE,
            0
        );
    }

    #[test]
    fn vblank_and_fdi_lock_bits_toggle_per_read() {
        let mut r = regs(Platform::Skylake);
        let isr: Vec<u32> = (0..4)
            .map(|_| rd(&mut r, regs::GEN8_DE_PIPE_ISR_A))
            .collect();
        assert_eq!(isr, [0, 1, 0, 1]);
        w32(&mut r, regs::GEN8_DE_PIPE_ISR_A, 0xFFFF_FFFF);
        assert_eq!(
            r.read32(regs::GEN8_DE_PIPE_ISR_A) & 1,
            0,
            "writes leave the bit alone"
        );
        let mut s = regs(Platform::SandyBridge);
        assert_eq!(rd(&mut s, regs::DEISR), 0);
        assert_eq!(rd(&mut s, regs::DEISR), (1 << 7) | (1 << 15));
        assert_eq!(rd(&mut s, regs::PIPESTAT_A), 0);
        assert_eq!(rd(&mut s, regs::PIPESTAT_A), 0x6);
        assert_eq!(rd(&mut s, regs::FDI_RX_IIR_A), 0);
        assert_eq!(rd(&mut s, regs::FDI_RX_IIR_A), regs::FDI_RX_LOCKS);
        // A peek has no side effects.
        assert_eq!(s.read32(regs::FDI_RX_IIR_A), 0);
        assert_eq!(s.read32(regs::FDI_RX_IIR_A), 0);
    }

    #[test]
    fn forcewake_acks_mirror_masked_requests() {
        let mut r = regs(Platform::Haswell);
        // _MASKED_BIT_ENABLE(FORCEWAKE_KERNEL) = 0x0001_0001.
        w32(&mut r, regs::FORCEWAKE_MT, 0x0001_0001);
        assert_eq!(rd(&mut r, regs::FORCEWAKE_ACK_HSW), 1);
        assert_eq!(rd(&mut r, regs::FORCEWAKE_MT), 1, "mask half reads 0");
        // Without the mask bit the value bit does not change.
        w32(&mut r, regs::FORCEWAKE_MT, 0x0000_0000);
        assert_eq!(rd(&mut r, regs::FORCEWAKE_ACK_HSW), 1);
        w32(&mut r, regs::FORCEWAKE_MT, 0x0001_0000);
        assert_eq!(rd(&mut r, regs::FORCEWAKE_ACK_HSW), 0);
        // The ack is read-only.
        w32(&mut r, regs::FORCEWAKE_ACK_HSW, 0xFFFF);
        assert_eq!(rd(&mut r, regs::FORCEWAKE_ACK_HSW), 0);
        let mut k = regs(Platform::KabyLake);
        w32(&mut k, regs::FORCEWAKE_RENDER_GEN9, 0x0001_0001);
        assert_eq!(rd(&mut k, regs::FORCEWAKE_ACK_RENDER_GEN9), 1);
        let mut s = regs(Platform::SandyBridge);
        w32(&mut s, 0xA18C, 1);
        assert_eq!(rd(&mut s, 0x13_0090), 1);
        let mut i = regs(Platform::IvyBridge);
        w32(&mut i, regs::FORCEWAKE_MT, 0x0001_0001);
        assert_eq!(rd(&mut i, 0x13_0040), 1, "FORCEWAKE_MT_ACK");
    }

    #[test]
    fn overrides_replace_rows_and_survive_reset() {
        use crate::igd::overrides::RegisterOverride;
        let mut r = regs(Platform::Haswell);
        let o = RegisterOverride::parse("0x45400=plain").unwrap();
        r.apply_override(&o);
        w32(&mut r, HSW_PWR_WELL_CTL1, HSW_PWR_WELL_REQ);
        assert_eq!(
            rd(&mut r, HSW_PWR_WELL_CTL1),
            HSW_PWR_WELL_REQ,
            "no ack any more"
        );
        r.apply_override(&RegisterOverride::parse("0x6c060=const:0x01010101").unwrap());
        w32(&mut r, 0x6_C060, 0);
        assert_eq!(rd(&mut r, 0x6_C060), 0x0101_0101);
        r.apply_override(&RegisterOverride::parse("0x1000=lock-after:1us:0->4").unwrap());
        w32(&mut r, 0x1000, 1);
        assert_eq!(rd(&mut r, 0x1000), 1);
        r.set_time(1_000);
        assert_eq!(rd(&mut r, 0x1000), 0x11);
        r.apply_override(&RegisterOverride::parse("0x1004=mirror:0x6c060").unwrap());
        assert_eq!(rd(&mut r, 0x1004), 0x0101_0101);
        // GMBUS2 overridden: no longer the controller's.
        r.apply_override(&RegisterOverride::parse("0xc5108=const:0x800").unwrap());
        assert_eq!(rd(&mut r, 0xC_5108), 0x800);
        r.reset();
        assert_eq!(rd(&mut r, 0x6_C060), 0x0101_0101, "const survives FLR");
        assert_eq!(rd(&mut r, 0x1000), 0, "pending locks and values reset");
    }
}

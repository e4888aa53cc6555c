//! DisplayPort AUX channels and the DP/eDP sink behind them (DPCD + EDID).
//!
//! Controller registers from Linux i915 `display/intel_dp_aux_regs.h`:
//! `DP_AUX_CH_CTL` with `SEND_BUSY` 31, `DONE` 30 (W1C), `INTERRUPT` 29,
//! `TIME_OUT_ERROR` 28 (W1C), `RECEIVE_ERROR` 25 (W1C), message size 24:20;
//! five data registers `DP_AUX_CH_DATA1..5` at CTL + 4..+0x14, bytes packed
//! big-endian (byte 0 in bits 31:24, i915 `intel_dp_aux_pack`). Channel
//! addresses (`intel_dp_aux.c`: `ilk_aux_ctl_reg`, `skl_aux_ctl_reg`,
//! `g4x_aux_ctl_reg`): SNB-BDW port A 0x64010 (`_DPA_AUX_CH_CTL`), ports B-D
//! in the PCH at 0xE4110/0xE4210/0xE4310 (`_PCH_DPB_AUX_CH_CTL` + 0x100·n);
//! VLV/CHV port B-D at `VLV_DISPLAY_BASE` + 0x64110.. ; gen9+ A-F at
//! 0x64010 + 0x100·n.
//!
//! AUX transaction format from the VESA DisplayPort 1.2 spec §2.7 (and
//! `drm_dp_helper`): request byte 0 = command 7:4 | address 19:16, bytes 1-2
//! address 15:0, byte 3 length - 1; commands `DP_AUX_NATIVE_WRITE` 0x8,
//! `DP_AUX_NATIVE_READ` 0x9, `DP_AUX_I2C_WRITE` 0x0, `DP_AUX_I2C_READ` 0x1,
//! `DP_AUX_I2C_MOT` 0x4; reply byte 0: `DP_AUX_NATIVE_REPLY_NACK` 0x10,
//! `DP_AUX_I2C_REPLY_NACK` 0x40, ACK 0x00. DPCD addresses from `drm_dp.h`:
//! `DP_DPCD_REV` 0x000, `DP_MAX_LINK_RATE` 0x001, `DP_MAX_LANE_COUNT` 0x002,
//! `DP_LANE_COUNT_SET` 0x101, `DP_TRAINING_PATTERN_SET` 0x102,
//! `DP_LANE0_1_STATUS` 0x202 (per lane nibble: `CR_DONE` 1, `CHANNEL_EQ_DONE`
//! 2, `SYMBOL_LOCKED` 4), `DP_LANE2_3_STATUS` 0x203,
//! `DP_LANE_ALIGN_STATUS_UPDATED` 0x204 (`INTERLANE_ALIGN_DONE` 1),
//! `DP_ADJUST_REQUEST_LANE0_1` 0x206, `DP_SET_POWER` 0x600.
//!
//! Model: the CTL write that sets SEND_BUSY starts a transaction in virtual
//! time ([`crate::vtime::Timer`]). SEND_BUSY reads 1 until the request and
//! the reply have crossed the link, then DONE (and the reply size and data)
//! appear. The AUX link runs at 1 Mb/s with Manchester II coding (DP 1.2
//! §2.7.1, 1 µs per bit); a frame is a precharge of up to 16 zeros, the
//! 16-zero AUX_SYNC and its 4 µs end pattern, 8 µs per byte and a 4 µs STOP
//! (§2.7.3): [`aux_frame_ns`]. With no sink, TIME_OUT_ERROR appears when the
//! reply timeout programmed in `DP_AUX_CH_CTL_TIME_OUT_MASK` (27:26: 400,
//! 600, 800 µs or the platform maximum, `intel_dp_aux.c`: 1.6 ms up to gen 9,
//! 3.2 ms on ICL, 4 ms on TGL and later) has run after the request.
//! Link training always succeeds at the first voltage swing: writing TPS1 to
//! 0x102 marks clock recovery done on the configured lanes, TPS2/3/4 marks
//! CR, EQ and symbol lock done and interlane alignment.

use std::collections::BTreeMap;

use super::edid::{Eeprom, EDID_BLOCK, EDID_I2C_ADDR};

/// CTL: send/busy (self-clearing).
pub const DP_AUX_CH_CTL_SEND_BUSY: u32 = 1 << 31;
/// CTL: done (write 1 to clear).
pub const DP_AUX_CH_CTL_DONE: u32 = 1 << 30;
/// CTL: reply timeout field (`DP_AUX_CH_CTL_TIME_OUT_MASK`).
pub const DP_AUX_CH_CTL_TIME_OUT_MASK: u32 = 3 << 26;
/// The platform's longest reply timeout (`DP_AUX_CH_CTL_TIME_OUT_MAX`) up to gen 9.
pub const AUX_TIMEOUT_MAX_GEN9_NS: u64 = 1_600_000;

/// `DP_AUX_CH_CTL_TIME_OUT_MAX` of generation `gen` (`intel_dp_aux.c`):
/// 1.6 ms up to gen 9, 3.2 ms on gen 11, 4 ms on gen 12.
#[must_use]
pub const fn aux_timeout_max_ns(gen: super::Gen) -> u64 {
    match gen {
        super::Gen::Gen11 => 3_200_000,
        super::Gen::Gen12 => 4_000_000,
        _ => AUX_TIMEOUT_MAX_GEN9_NS,
    }
}
/// CTL: time-out error (write 1 to clear).
pub const DP_AUX_CH_CTL_TIME_OUT_ERROR: u32 = 1 << 28;
/// CTL: receive error (write 1 to clear).
pub const DP_AUX_CH_CTL_RECEIVE_ERROR: u32 = 1 << 25;
/// CTL: message size field shift.
pub const DP_AUX_CH_CTL_MESSAGE_SIZE_SHIFT: u32 = 20;
/// CTL: message size field.
pub const DP_AUX_CH_CTL_MESSAGE_SIZE_MASK: u32 = 0x1F << 20;
/// AUX request: native write.
pub const DP_AUX_NATIVE_WRITE: u8 = 0x8;
/// AUX request: native read.
pub const DP_AUX_NATIVE_READ: u8 = 0x9;
/// AUX request: I2C write.
pub const DP_AUX_I2C_WRITE: u8 = 0x0;
/// AUX request: I2C read.
pub const DP_AUX_I2C_READ: u8 = 0x1;
/// AUX request: I2C middle-of-transaction flag.
pub const DP_AUX_I2C_MOT: u8 = 0x4;
/// Reply: ACK.
pub const DP_AUX_REPLY_ACK: u8 = 0x00;
/// Reply: native NACK.
pub const DP_AUX_NATIVE_REPLY_NACK: u8 = 0x10;
/// Reply: I2C NACK.
pub const DP_AUX_I2C_REPLY_NACK: u8 = 0x40;
/// DPCD: training pattern set.
pub const DP_TRAINING_PATTERN_SET: u32 = 0x102;
/// DPCD: lane count set.
pub const DP_LANE_COUNT_SET: u32 = 0x101;
/// DPCD: lanes 0/1 status.
pub const DP_LANE0_1_STATUS: u32 = 0x202;
/// DPCD: lanes 2/3 status.
pub const DP_LANE2_3_STATUS: u32 = 0x203;
/// DPCD: lane align status.
pub const DP_LANE_ALIGN_STATUS_UPDATED: u32 = 0x204;
/// Lane status nibble: clock recovery done.
pub const DP_LANE_CR_DONE: u8 = 1;
/// Lane status nibble: channel equalisation done.
pub const DP_LANE_CHANNEL_EQ_DONE: u8 = 2;
/// Lane status nibble: symbol locked.
pub const DP_LANE_SYMBOL_LOCKED: u8 = 4;
/// Highest DPCD address (20-bit space).
const DPCD_LIMIT: u32 = 0xF_FFFF;
/// Bytes in the data registers.
const AUX_BYTES: usize = 20;

/// Time on the wire of an AUX frame of `bytes` bytes: precharge (16 µs),
/// AUX_SYNC (16 µs) and its end (4 µs), 8 µs per byte, STOP (4 µs) at
/// 1 µs per Manchester-coded bit (DP 1.2 §2.7).
#[must_use]
pub const fn aux_frame_ns(bytes: u64) -> u64 {
    (16 + 16 + 4 + 8 * bytes + 4) * 1_000
}

/// A transaction on the wire: what CTL and the data registers show when it
/// completes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct InFlight {
    done: crate::vtime::Timer,
    /// CTL bits set on completion (DONE, errors, reply size).
    ctl: u32,
    /// The reply in the data registers, if any.
    data: Option<[u32; 5]>,
}

/// A DP/eDP sink's capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DpSink {
    /// `DP_DPCD_REV` (0x12 = DP 1.2).
    pub dpcd_rev: u8,
    /// `DP_MAX_LINK_RATE` (0x06 1.62G, 0x0A 2.7G, 0x14 5.4G).
    pub max_link_rate: u8,
    /// Maximum lane count (1, 2 or 4).
    pub max_lanes: u8,
    /// An eDP panel (sets `DP_EDP_CONFIGURATION_CAP`).
    pub edp: bool,
}

impl Default for DpSink {
    /// An eDP 1.2 panel, 4 lanes at 5.4 Gb/s.
    fn default() -> Self {
        DpSink {
            dpcd_rev: 0x12,
            max_link_rate: 0x14,
            max_lanes: 4,
            edp: true,
        }
    }
}

impl DpSink {
    /// The receiver capability field, DPCD 0x000-0x00F.
    #[must_use]
    pub fn caps(&self) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[0] = self.dpcd_rev;
        c[1] = self.max_link_rate;
        // DP_ENHANCED_FRAME_CAP | DP_TPS3_SUPPORTED | lanes.
        c[2] = 0x80 | 0x40 | (self.max_lanes & 0x1F);
        c[3] = 0x01; // DP_MAX_DOWNSPREAD_0_5
        c[4] = 0x01; // DP_NORP: one receiver port
        c[5] = 0x00; // DP_DOWNSTREAMPORT_PRESENT: none
        c[6] = 0x01; // DP_MAIN_LINK_CHANNEL_CODING: 8b/10b
        c[8] = 0x02; // DP_RECEIVE_PORT_0_CAP_0: local EDID present
        c[0xD] = u8::from(self.edp); // DP_EDP_CONFIGURATION_CAP
        c[0xE] = 0x00; // DP_TRAINING_AUX_RD_INTERVAL: 100 us
        c
    }
}

/// One AUX channel and its sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuxChannel {
    ctl: u32,
    data: [u32; 5],
    /// None: nothing connected (transactions time out).
    sink: Option<DpSink>,
    dpcd: BTreeMap<u32, u8>,
    /// The EDID EEPROM the sink answers at I2C address 0x50.
    eeprom: Eeprom,
    /// The transaction on the wire, if SEND_BUSY is set.
    in_flight: Option<InFlight>,
    /// Virtual time of the current access.
    now_ns: u64,
    /// The reply timeout that field value 3 selects on this platform.
    timeout_max_ns: u64,
}

impl AuxChannel {
    /// An idle channel whose sink answers EDID reads with `edid`; `sink` None
    /// means nothing connected.
    #[must_use]
    pub fn new(sink: Option<DpSink>, edid: [u8; EDID_BLOCK]) -> Self {
        AuxChannel {
            ctl: 0,
            data: [0; 5],
            sink,
            dpcd: BTreeMap::new(),
            eeprom: Eeprom::new(edid),
            in_flight: None,
            now_ns: 0,
            timeout_max_ns: AUX_TIMEOUT_MAX_GEN9_NS,
        }
    }

    /// Set the reply timeout `DP_AUX_CH_CTL_TIME_OUT_MAX` selects.
    pub fn set_timeout_max_ns(&mut self, ns: u64) {
        self.timeout_max_ns = ns;
    }

    /// Move to virtual time `now_ns`: a transaction whose time has come
    /// completes (SEND_BUSY clears, DONE and the reply appear).
    pub fn set_time(&mut self, now_ns: u64) {
        self.now_ns = self.now_ns.max(now_ns);
        if let Some(f) = self.in_flight.filter(|f| f.done.done(self.now_ns)) {
            self.in_flight = None;
            self.ctl =
                (self.ctl & !DP_AUX_CH_CTL_SEND_BUSY & !DP_AUX_CH_CTL_MESSAGE_SIZE_MASK) | f.ctl;
            if let Some(d) = f.data {
                self.data = d;
            }
        }
    }

    /// When the transaction on the wire completes, if there is one.
    #[must_use]
    pub fn next_deadline(&self, now_ns: u64) -> Option<u64> {
        self.in_flight
            .map(|f| f.done.pending(now_ns).unwrap_or(now_ns))
    }

    /// The reply timeout CTL selects (bits 27:26).
    fn timeout_ns(&self) -> u64 {
        match (self.ctl & DP_AUX_CH_CTL_TIME_OUT_MASK) >> 26 {
            0 => 400_000,
            1 => 600_000,
            2 => 800_000,
            _ => self.timeout_max_ns,
        }
    }

    /// Replace the EDID the sink answers at I2C address 0x50.
    pub fn set_edid(&mut self, edid: [u8; EDID_BLOCK]) {
        self.eeprom.set_edid(edid);
    }

    /// Replace the sink.
    pub fn set_sink(&mut self, sink: Option<DpSink>) {
        self.sink = sink;
        self.dpcd.clear();
    }

    /// Power-on state (sink, EDID, timeout and virtual time kept).
    pub fn reset(&mut self) {
        let mut ch = AuxChannel::new(self.sink, self.eeprom.data());
        ch.now_ns = self.now_ns;
        ch.timeout_max_ns = self.timeout_max_ns;
        *self = ch;
    }

    /// Register `idx` (0 = CTL, 1-5 = DATA1-5).
    #[must_use]
    pub fn peek(&self, idx: usize) -> u32 {
        match idx {
            0 => self.ctl,
            i => self.data.get(i - 1).copied().unwrap_or(0),
        }
    }

    /// Guest write of register `idx` (0 = CTL, 1-5 = DATA1-5).
    pub fn write(&mut self, idx: usize, value: u32, enables: u32) {
        if idx != 0 {
            if let Some(d) = self.data.get_mut(idx - 1) {
                *d = (*d & !enables) | (value & enables);
            }
            return;
        }
        let w1c = DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR | DP_AUX_CH_CTL_RECEIVE_ERROR;
        let plain = enables & !w1c & !DP_AUX_CH_CTL_SEND_BUSY;
        let cleared = value & enables & w1c;
        self.ctl = ((self.ctl & !plain) | (value & plain)) & !cleared;
        // A send while a transaction is on the wire is ignored.
        if value & enables & DP_AUX_CH_CTL_SEND_BUSY != 0 && self.in_flight.is_none() {
            let f = self.transact();
            self.ctl |= DP_AUX_CH_CTL_SEND_BUSY;
            self.in_flight = Some(f);
        }
    }

    /// The DPCD byte at `addr`.
    #[must_use]
    pub fn dpcd(&self, addr: u32) -> u8 {
        if let Some(v) = self.dpcd.get(&addr) {
            return *v;
        }
        match (self.sink, usize::try_from(addr)) {
            (Some(s), Ok(a)) if a < 16 => s.caps().get(a).copied().unwrap_or(0),
            // DP_SINK_COUNT: one sink.
            (Some(_), _) if addr == 0x200 => 1,
            _ => 0,
        }
    }

    fn request_bytes(&self) -> [u8; AUX_BYTES] {
        let mut b = [0u8; AUX_BYTES];
        for (chunk, d) in b.chunks_mut(4).zip(self.data.iter()) {
            chunk.copy_from_slice(&d.to_be_bytes());
        }
        b
    }

    /// Run the request in the data registers; what the guest sees when it
    /// completes and when that is.
    fn transact(&mut self) -> InFlight {
        let size = ((self.ctl & DP_AUX_CH_CTL_MESSAGE_SIZE_MASK)
            >> DP_AUX_CH_CTL_MESSAGE_SIZE_SHIFT) as usize;
        let request_ns = aux_frame_ns(size.min(AUX_BYTES) as u64);
        let now = self.now_ns;
        let at = move |ns: u64| crate::vtime::Timer::start(now, ns);
        if self.sink.is_none() {
            return InFlight {
                done: at(request_ns + self.timeout_ns()),
                ctl: DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR,
                data: None,
            };
        }
        let req = self.request_bytes();
        let reply = match req.get(..size) {
            Some(r) if size >= 3 => self.answer(r),
            _ => {
                tracing::debug!(size, "dp aux: malformed request");
                return InFlight {
                    done: at(request_ns),
                    ctl: DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_RECEIVE_ERROR,
                    data: None,
                };
            }
        };
        let n = reply.len().min(AUX_BYTES);
        let mut out = [0u8; AUX_BYTES];
        for (o, r) in out.iter_mut().zip(reply) {
            *o = r;
        }
        let mut data = [0u32; 5];
        for (d, chunk) in data.iter_mut().zip(out.chunks_exact(4)) {
            *d = u32::from_be_bytes(<[u8; 4]>::try_from(chunk).unwrap_or_default());
        }
        InFlight {
            done: at(request_ns + aux_frame_ns(n as u64)),
            ctl: DP_AUX_CH_CTL_DONE | ((n as u32) << DP_AUX_CH_CTL_MESSAGE_SIZE_SHIFT),
            data: Some(data),
        }
    }

    /// Reply bytes (byte 0 the reply code) to request `r` (at least 3 bytes).
    fn answer(&mut self, r: &[u8]) -> Vec<u8> {
        let [b0, b1, b2, ..] = *r else {
            return vec![DP_AUX_NATIVE_REPLY_NACK];
        };
        let cmd = b0 >> 4;
        let addr = (u32::from(b0 & 0xF) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        // Address-only transactions (3 bytes) carry no length.
        let len = r.get(3).map_or(0, |l| usize::from(*l) + 1);
        let payload = r.get(4..).unwrap_or(&[]);
        match cmd {
            DP_AUX_NATIVE_READ => {
                let len = len.min(16);
                let mut v = vec![DP_AUX_REPLY_ACK];
                for i in 0..len as u32 {
                    v.push(self.dpcd(addr.saturating_add(i).min(DPCD_LIMIT)));
                }
                v
            }
            DP_AUX_NATIVE_WRITE => {
                for (i, b) in payload.iter().take(len).enumerate() {
                    self.dpcd_write(addr.saturating_add(i as u32), *b);
                }
                vec![DP_AUX_REPLY_ACK]
            }
            c if c & !DP_AUX_I2C_MOT == DP_AUX_I2C_WRITE
                || c & !DP_AUX_I2C_MOT == DP_AUX_I2C_READ =>
            {
                if addr != u32::from(EDID_I2C_ADDR) {
                    return vec![DP_AUX_I2C_REPLY_NACK];
                }
                if c & !DP_AUX_I2C_MOT == DP_AUX_I2C_WRITE {
                    if let Some(off) = payload.first().filter(|_| len > 0) {
                        self.eeprom.set_pointer(usize::from(*off) % EDID_BLOCK);
                    }
                    return vec![DP_AUX_REPLY_ACK];
                }
                let mut v = vec![DP_AUX_REPLY_ACK];
                for _ in 0..len.min(16) {
                    v.push(self.eeprom.read());
                }
                v
            }
            _ => vec![DP_AUX_NATIVE_REPLY_NACK],
        }
    }

    fn dpcd_write(&mut self, addr: u32, v: u8) {
        // Receiver capabilities and status are read-only to the source.
        if addr < 0x100 || (0x200..0x300).contains(&addr) || addr > DPCD_LIMIT {
            return;
        }
        self.dpcd.insert(addr, v);
        if addr == DP_TRAINING_PATTERN_SET {
            self.train(v);
        }
    }

    fn train(&mut self, pattern_set: u8) {
        let max = self.sink.map_or(0, |s| s.max_lanes);
        let lanes = match self.dpcd(DP_LANE_COUNT_SET) & 0x1F {
            0 => max,
            n => n.min(max),
        };
        let per_lane = match pattern_set & 0xF {
            0 => return, // training off: status holds
            1 => DP_LANE_CR_DONE,
            _ => DP_LANE_CR_DONE | DP_LANE_CHANNEL_EQ_DONE | DP_LANE_SYMBOL_LOCKED,
        };
        let mut status = [0u8; 2];
        for lane in 0..usize::from(lanes.min(4)) {
            if let Some(s) = status.get_mut(lane / 2) {
                *s |= per_lane << (4 * (lane % 2));
            }
        }
        self.dpcd.insert(DP_LANE0_1_STATUS, status[0]);
        self.dpcd.insert(DP_LANE2_3_STATUS, status[1]);
        let aligned = u8::from(per_lane & DP_LANE_CHANNEL_EQ_DONE != 0);
        self.dpcd.insert(DP_LANE_ALIGN_STATUS_UPDATED, aligned);
        self.dpcd.insert(0x206, 0);
        self.dpcd.insert(0x207, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::edid::{edid, Panel};

    fn send(ch: &mut AuxChannel, req: &[u8]) -> (u32, Vec<u8>) {
        let mut b = [0u8; AUX_BYTES];
        b[..req.len()].copy_from_slice(req);
        for (i, c) in b.chunks(4).enumerate() {
            ch.write(i + 1, u32::from_be_bytes([c[0], c[1], c[2], c[3]]), !0);
        }
        ch.write(
            0,
            DP_AUX_CH_CTL_SEND_BUSY | DP_AUX_CH_CTL_DONE | ((req.len() as u32) << 20),
            !0,
        );
        assert_ne!(ch.peek(0) & DP_AUX_CH_CTL_SEND_BUSY, 0, "busy on the wire");
        let done = ch.next_deadline(ch.now_ns).unwrap();
        ch.set_time(done);
        let ctl = ch.peek(0);
        let n = ((ctl >> 20) & 0x1F) as usize;
        let mut out = Vec::new();
        for i in 0..5 {
            out.extend_from_slice(&ch.peek(i + 1).to_be_bytes());
        }
        out.truncate(n);
        (ctl, out)
    }

    #[test]
    fn no_sink_times_out_and_status_is_w1c() {
        let mut ch = AuxChannel::new(None, [0; EDID_BLOCK]);
        let (ctl, _) = send(&mut ch, &[0x90, 0, 0, 0]);
        assert_eq!(
            ctl & (DP_AUX_CH_CTL_SEND_BUSY | DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR),
            DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR
        );
        ch.write(0, DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR, !0);
        assert_eq!(ch.peek(0), 0);
    }

    #[test]
    fn i2c_over_aux_reads_the_edid_and_naks_other_addresses() {
        let e = edid(&Panel::default());
        let mut ch = AuxChannel::new(Some(DpSink::default()), e);
        assert_eq!(
            send(&mut ch, &[0x40, 0x00, 0x50]).1,
            [0x00],
            "address only, MOT"
        );
        assert_eq!(send(&mut ch, &[0x40, 0x00, 0x50, 0x00, 0x00]).1, [0x00]);
        let mut got = Vec::new();
        for _ in 0..8 {
            let (_, r) = send(&mut ch, &[0x50, 0x00, 0x50, 15]);
            assert_eq!(r[0], DP_AUX_REPLY_ACK);
            got.extend_from_slice(&r[1..]);
        }
        assert_eq!(got, e);
        assert_eq!(
            send(&mut ch, &[0x10, 0x00, 0x37, 0]).1,
            [DP_AUX_I2C_REPLY_NACK]
        );
        assert_eq!(
            send(&mut ch, &[0xF0, 0, 0, 0]).1,
            [DP_AUX_NATIVE_REPLY_NACK]
        );
        // A size field of 0 or above 20 is a receive error, not a panic.
        ch.write(0, DP_AUX_CH_CTL_SEND_BUSY | (31 << 20), !0);
        ch.set_time(ch.now_ns + aux_frame_ns(20));
        assert_ne!(ch.peek(0) & DP_AUX_CH_CTL_RECEIVE_ERROR, 0);
    }

    #[test]
    fn replies_take_their_wire_time_and_timeouts_the_programmed_time() {
        let mut ch = AuxChannel::new(Some(DpSink::default()), edid(&Panel::default()));
        ch.set_time(1_000_000);
        // Native read of 16 bytes of DPCD: a 4-byte request, a 17-byte reply.
        ch.write(1, 0x9000_000F, !0);
        ch.write(0, DP_AUX_CH_CTL_SEND_BUSY | (4 << 20), !0);
        let wire = aux_frame_ns(4) + aux_frame_ns(17);
        assert_eq!(wire, 248_000, "72 us request + 176 us reply");
        assert_eq!(ch.next_deadline(1_000_000), Some(1_000_000 + wire));
        // A second send while busy is ignored.
        ch.write(0, DP_AUX_CH_CTL_SEND_BUSY | (4 << 20), !0);
        ch.set_time(1_000_000 + wire - 1);
        assert_eq!(
            ch.peek(0) & (DP_AUX_CH_CTL_SEND_BUSY | DP_AUX_CH_CTL_DONE),
            DP_AUX_CH_CTL_SEND_BUSY
        );
        ch.set_time(1_000_000 + wire);
        assert_eq!(ch.peek(0), DP_AUX_CH_CTL_DONE | (17 << 20));
        assert_eq!(ch.peek(1) >> 24, 0, "ACK");
        assert_eq!(ch.next_deadline(1_000_000 + wire), None);
        // No sink: TIME_OUT_ERROR after the request and the 400 us (field 0)
        // or the platform's maximum (field 3) reply timeout.
        for (field, timeout) in [(0u32, 400_000u64), (3, 1_600_000)] {
            let mut ch = AuxChannel::new(None, [0; EDID_BLOCK]);
            ch.write(0, DP_AUX_CH_CTL_SEND_BUSY | (field << 26) | (4 << 20), !0);
            let end = aux_frame_ns(4) + timeout;
            ch.set_time(end - 1);
            assert_eq!(ch.peek(0) & DP_AUX_CH_CTL_TIME_OUT_ERROR, 0);
            ch.set_time(end);
            assert_eq!(
                ch.peek(0)
                    & (DP_AUX_CH_CTL_SEND_BUSY | DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR),
                DP_AUX_CH_CTL_DONE | DP_AUX_CH_CTL_TIME_OUT_ERROR
            );
        }
    }
}

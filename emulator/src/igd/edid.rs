//! The panel behind the display connectors and its EDID (VESA E-EDID 1.4,
//! base block only).
//!
//! Layout from the VESA Enhanced EDID Standard release A rev. 2 (EDID 1.4):
//! header at 0-7, manufacturer ID (three 5-bit letters, big-endian) at 8-9,
//! product code at 10-11, serial at 12-15, week/year at 16-17, version 1.4 at
//! 18-19, digital video input definition at 20 (bit 7 digital, bits 6:4 colour
//! depth, 3:0 interface), four 18-byte descriptors at 54, 72, 90, 108 (the
//! first the preferred detailed timing), extension count at 126, checksum at
//! 127 (all 128 bytes sum to 0 mod 256). Display descriptor tags: 0xFC product
//! name, 0x10 dummy. The timing is CVT reduced blanking (VESA CVT 1.2 §3.4:
//! 160-pixel horizontal blank, 48/32/80 front porch/sync/back porch, 3-line
//! vertical front porch), which gives 1920x1080@60 = 2080x1111 at 138.65 MHz.

/// EDID I2C slave address (DDC, VESA E-DDC).
pub const EDID_I2C_ADDR: u8 = 0x50;
/// Bytes in an EDID block.
pub const EDID_BLOCK: usize = 128;

/// The fixed EDID header.
pub const EDID_HEADER: [u8; 8] = [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00];

/// A panel: its preferred mode and identity.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Panel {
    /// Horizontal active pixels.
    pub width: u16,
    /// Vertical active lines.
    pub height: u16,
    /// Refresh rate in Hz.
    pub refresh: u8,
    /// Three upper-case letters (PNP ID).
    pub manufacturer: [u8; 3],
    /// Product code.
    pub product: u16,
    /// Serial number.
    pub serial: u32,
    /// Product name (at most 13 ASCII bytes are used).
    pub name: String,
    /// Physical size in millimetres (width, height).
    pub size_mm: (u16, u16),
}

impl Default for Panel {
    /// A 15.6-inch 1920x1080@60 panel named "IGDEMU PANEL", PNP ID "IGE".
    fn default() -> Self {
        Panel {
            width: 1920,
            height: 1080,
            refresh: 60,
            manufacturer: *b"IGE",
            product: 0x1080,
            serial: 0x0000_0001,
            name: "IGDEMU PANEL".to_string(),
            size_mm: (344, 194),
        }
    }
}

/// A detailed timing as the EDID descriptor encodes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetailedTiming {
    /// Pixel clock in 10 kHz units.
    pub clock_10khz: u16,
    /// Horizontal active.
    pub h_active: u16,
    /// Horizontal blank.
    pub h_blank: u16,
    /// Horizontal front porch.
    pub h_front: u16,
    /// Horizontal sync width.
    pub h_sync: u16,
    /// Vertical active.
    pub v_active: u16,
    /// Vertical blank.
    pub v_blank: u16,
    /// Vertical front porch.
    pub v_front: u16,
    /// Vertical sync width.
    pub v_sync: u16,
}

impl DetailedTiming {
    /// CVT reduced-blanking timing for `panel` (fields clamped to what the
    /// descriptor can hold).
    #[must_use]
    pub fn cvt_rb(panel: &Panel) -> Self {
        let h_active = panel.width.min(4095);
        let v_active = panel.height.min(4095);
        let (h_blank, h_front, h_sync) = (160u16, 48u16, 32u16);
        // Vertical blank >= 460 us (CVT-RB minimum), at least 3+5+6 lines.
        let refresh = u64::from(panel.refresh.max(1));
        let frame_ns = 1_000_000_000u64 / refresh;
        let line_ns = (frame_ns.saturating_sub(460_000) / u64::from(v_active.max(1))).max(1);
        let v_blank = u16::try_from(460_000u64.div_ceil(line_ns))
            .unwrap_or(u16::MAX)
            .clamp(14, 4095);
        let (v_front, v_sync) = (3u16, 5u16);
        let total = u64::from(h_active + h_blank) * u64::from(v_active + v_blank) * refresh;
        let clock_10khz = u16::try_from((total + 5_000) / 10_000).unwrap_or(u16::MAX);
        DetailedTiming {
            clock_10khz,
            h_active,
            h_blank,
            h_front,
            h_sync,
            v_active,
            v_blank,
            v_front,
            v_sync,
        }
    }

    /// The 18-byte descriptor (`size_mm` is the image size).
    #[must_use]
    pub fn encode(&self, size_mm: (u16, u16)) -> [u8; 18] {
        let lo = |v: u16| (v & 0xFF) as u8;
        let hi4 = |v: u16| ((v >> 8) & 0xF) as u8;
        let (w, h) = (size_mm.0.min(4095), size_mm.1.min(4095));
        let c = self.clock_10khz.to_le_bytes();
        [
            c[0],
            c[1],
            lo(self.h_active),
            lo(self.h_blank),
            (hi4(self.h_active) << 4) | hi4(self.h_blank),
            lo(self.v_active),
            lo(self.v_blank),
            (hi4(self.v_active) << 4) | hi4(self.v_blank),
            lo(self.h_front),
            lo(self.h_sync),
            (((self.v_front & 0xF) as u8) << 4) | (self.v_sync & 0xF) as u8,
            ((((self.h_front >> 8) & 3) as u8) << 6)
                | ((((self.h_sync >> 8) & 3) as u8) << 4)
                | ((((self.v_front >> 4) & 3) as u8) << 2)
                | (((self.v_sync >> 4) & 3) as u8),
            lo(w),
            lo(h),
            (hi4(w) << 4) | hi4(h),
            0,
            0,
            // Digital separate sync, hsync positive, vsync negative (CVT-RB).
            0x1A,
        ]
    }

    /// Decode a descriptor written by [`DetailedTiming::encode`] (None for a
    /// display descriptor, whose clock is 0).
    #[must_use]
    pub fn decode(d: &[u8; 18]) -> Option<Self> {
        let clock_10khz = u16::from_le_bytes([d[0], d[1]]);
        if clock_10khz == 0 {
            return None;
        }
        let w = |lo: u8, hi: u8| u16::from(lo) | (u16::from(hi) << 8);
        Some(DetailedTiming {
            clock_10khz,
            h_active: w(d[2], d[4] >> 4),
            h_blank: w(d[3], d[4] & 0xF),
            v_active: w(d[5], d[7] >> 4),
            v_blank: w(d[6], d[7] & 0xF),
            h_front: w(d[8], d[11] >> 6),
            h_sync: w(d[9], (d[11] >> 4) & 3),
            v_front: u16::from(d[10] >> 4) | (u16::from((d[11] >> 2) & 3) << 4),
            v_sync: u16::from(d[10] & 0xF) | (u16::from(d[11] & 3) << 4),
        })
    }
}

fn letter(c: u8) -> u16 {
    u16::from(c.to_ascii_uppercase().clamp(b'A', b'Z') - b'@')
}

fn display_descriptor(tag: u8, text: &[u8]) -> [u8; 18] {
    let mut d = [0u8; 18];
    d[3] = tag;
    if tag == 0x10 {
        return d;
    }
    let mut body = [0x20u8; 13];
    for (b, t) in body.iter_mut().zip(text) {
        *b = *t;
    }
    if let Some(end) = body.get_mut(text.len()) {
        *end = 0x0A;
    }
    for (o, b) in d.iter_mut().skip(5).zip(body) {
        *o = b;
    }
    d
}

/// An EDID EEPROM at I2C address 0x50: one block and an address pointer that
/// wraps at the end of the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eeprom {
    data: [u8; EDID_BLOCK],
    pointer: usize,
}

impl Eeprom {
    /// An EEPROM holding `data`, pointer at 0.
    #[must_use]
    pub const fn new(data: [u8; EDID_BLOCK]) -> Self {
        Self { data, pointer: 0 }
    }

    /// The contents.
    #[must_use]
    pub const fn data(&self) -> [u8; EDID_BLOCK] {
        self.data
    }

    /// Replace the contents (the pointer stays).
    pub fn set_edid(&mut self, data: [u8; EDID_BLOCK]) {
        self.data = data;
    }

    /// Set the address pointer (reads use it modulo the block size).
    pub fn set_pointer(&mut self, pointer: usize) {
        self.pointer = pointer;
    }

    /// The byte at the pointer (0xFF if none), advancing the pointer.
    pub fn read(&mut self) -> u8 {
        let b = self
            .data
            .get(self.pointer % EDID_BLOCK)
            .copied()
            .unwrap_or(0xFF);
        self.pointer = (self.pointer + 1) % EDID_BLOCK;
        b
    }
}

/// The 128-byte EDID 1.4 base block of `panel`.
#[must_use]
pub fn edid(panel: &Panel) -> [u8; EDID_BLOCK] {
    let mut e = [0u8; EDID_BLOCK];
    e[..8].copy_from_slice(&EDID_HEADER);
    let [a, b, c] = panel.manufacturer;
    let id = (letter(a) << 10) | (letter(b) << 5) | letter(c);
    e[8..10].copy_from_slice(&id.to_be_bytes());
    e[10..12].copy_from_slice(&panel.product.to_le_bytes());
    e[12..16].copy_from_slice(&panel.serial.to_le_bytes());
    e[16] = 1; // week
    e[17] = 34; // 2024 - 1990
    e[18] = 1;
    e[19] = 4;
    e[20] = 0x80 | 0x20 | 0x05; // digital, 8 bpc, DisplayPort
    e[21] = (panel.size_mm.0 / 10).min(255) as u8;
    e[22] = (panel.size_mm.1 / 10).min(255) as u8;
    e[23] = 120; // gamma 2.2
    e[24] = 0x02; // preferred timing is the native mode
                  // sRGB chromaticity.
    e[25..35].copy_from_slice(&[0xEE, 0x91, 0xA3, 0x54, 0x4C, 0x99, 0x26, 0x0F, 0x50, 0x54]);
    // No established timings; standard timings unused (0x01 0x01).
    e[38..54].fill(1);
    e[54..72].copy_from_slice(&DetailedTiming::cvt_rb(panel).encode(panel.size_mm));
    e[72..90].copy_from_slice(&display_descriptor(0xFC, panel.name.as_bytes()));
    e[90..108].copy_from_slice(&display_descriptor(0x10, &[]));
    e[108..126].copy_from_slice(&display_descriptor(0x10, &[]));
    let sum = e[..127].iter().fold(0u8, |s, b| s.wrapping_add(*b));
    e[127] = 0u8.wrapping_sub(sum);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_panel_edid_is_valid_1_4() {
        let e = edid(&Panel::default());
        assert_eq!(e[..8], EDID_HEADER);
        assert_eq!(e.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!((e[18], e[19]), (1, 4));
        // "IGE": I=9, G=7, E=5 → 0b0_01001_00111_00101.
        assert_eq!(u16::from_be_bytes([e[8], e[9]]), (9 << 10) | (7 << 5) | 5);
        let mut d = [0u8; 18];
        d.copy_from_slice(&e[54..72]);
        let t = DetailedTiming::decode(&d).unwrap();
        assert_eq!((t.h_active, t.v_active), (1920, 1080));
        assert_eq!((t.h_blank, t.v_blank), (160, 31));
        assert_eq!(t.clock_10khz, 13865, "2080 x 1111 x 60 Hz");
        assert_eq!(&e[72..78], &[0, 0, 0, 0xFC, 0, b'I']);
        assert_eq!(&e[77..90], b"IGDEMU PANEL\n");
    }

    #[test]
    fn odd_panels_still_checksum() {
        let p = Panel {
            width: 5000,
            height: 1,
            refresh: 0,
            manufacturer: *b"a1z",
            name: "A VERY LONG PANEL NAME".into(),
            ..Panel::default()
        };
        let e = edid(&p);
        assert_eq!(e.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        assert_eq!(&e[77..90], b"A VERY LONG P");
    }
}

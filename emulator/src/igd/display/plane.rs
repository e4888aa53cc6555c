//! The primary display planes: what the display engine scans out, decoded
//! from the registers a vBIOS programmed (surface, stride, pixel format,
//! size), per register layout.
//!
//! Sources (Linux i915, offsets and bits only):
//! - Gen4-8 primary planes (`display/i9xx_plane_regs.h`): `DSPCNTR(plane)`
//!   0x70180 + 0x1000·plane (`DISP_ENABLE` 31, `DISP_FORMAT_MASK` 29:26:
//!   2 `8BPP`, 3 `BGRX555`, 5 `BGRX565`, 6 `BGRX888`, 8 `RGBX101010`,
//!   0xA `BGRX101010`, 0xE `RGBX888`; `DISP_TILED` 10), `DSPLINOFF` +4,
//!   `DSPSTRIDE` +8 (bytes), `DSPSURF` +0x1C (GGTT offset, 4 KiB aligned),
//!   `DSPTILEOFF`/`DSPOFFSET` +0x24 (y 31:16, x 15:0); the size is the pipe's
//!   `PIPESRC` 0x6001C + 0x1000·pipe (width − 1 in 31:16, height − 1 in 15:0).
//!   VLV/CHV add `VLV_DISPLAY_BASE` 0x180000 to all of them.
//! - Gen9+ universal planes (`display/skl_universal_plane_regs.h`):
//!   `PLANE_CTL(pipe, 0)` 0x70180 + 0x1000·pipe (`PLANE_CTL_ENABLE` 31,
//!   `PLANE_CTL_FORMAT_MASK_SKL` 27:24: 2 `XRGB_2101010`, 4 `XRGB_8888`,
//!   0xC `INDEXED`, 0xE `RGB_565`; `PLANE_CTL_ORDER_RGBX` 20;
//!   `PLANE_CTL_TILED_MASK` 12:10), `PLANE_STRIDE` +8 (64-byte units for
//!   linear surfaces), `PLANE_SIZE` +0x10 (height − 1 in 31:16, width − 1 in
//!   15:0), `PLANE_SURF` +0x1C, `PLANE_OFFSET` +0x24 (y 31:16, x 15:0).
//! - Legacy palette `LGC_PALETTE(pipe, i)` 0x4A000 + 0x800·pipe + 4·i,
//!   0x00RRGGBB (VLV/CHV at +0x180000).

use crate::igd::generation::Platform;
use crate::igd::mmio::MmioRegisters;
use crate::igd::regs::VLV_DISPLAY_BASE;

/// A pixel format the primary plane can scan out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PixelFormat {
    /// 8 bits per pixel, an index into the pipe's palette.
    Indexed8,
    /// 16 bpp, x:1 R:5 G:5 B:5.
    Xrgb1555,
    /// 16 bpp, R:5 G:6 B:5.
    Rgb565,
    /// 32 bpp, x:8 R:8 G:8 B:8 (B in the lowest byte).
    Xrgb8888,
    /// 32 bpp, x:8 B:8 G:8 R:8 (R in the lowest byte).
    Xbgr8888,
    /// 32 bpp, x:2 R:10 G:10 B:10.
    Xrgb2101010,
    /// 32 bpp, x:2 B:10 G:10 R:10.
    Xbgr2101010,
}

impl PixelFormat {
    /// Bytes per pixel.
    #[must_use]
    pub const fn bytes(self) -> u32 {
        match self {
            Self::Indexed8 => 1,
            Self::Xrgb1555 | Self::Rgb565 => 2,
            _ => 4,
        }
    }

    /// Bits per pixel as VBE counts them (15 for x:1:5:5:5).
    #[must_use]
    pub const fn depth(self) -> u32 {
        match self {
            Self::Indexed8 => 8,
            Self::Xrgb1555 => 15,
            Self::Rgb565 => 16,
            _ => 32,
        }
    }

    /// The 0x00RRGGBB colour of one pixel's little-endian `raw` value
    /// (`palette` for indexed pixels; a missing entry reads black).
    #[must_use]
    pub fn to_xrgb(self, raw: u32, palette: &[u32]) -> u32 {
        let scale5 = |v: u32| (v << 3) | (v >> 2);
        let scale6 = |v: u32| (v << 2) | (v >> 4);
        match self {
            Self::Indexed8 => palette.get((raw & 0xFF) as usize).copied().unwrap_or(0),
            Self::Xrgb1555 => {
                (scale5((raw >> 10) & 0x1F) << 16)
                    | (scale5((raw >> 5) & 0x1F) << 8)
                    | scale5(raw & 0x1F)
            }
            Self::Rgb565 => {
                (scale5((raw >> 11) & 0x1F) << 16)
                    | (scale6((raw >> 5) & 0x3F) << 8)
                    | scale5(raw & 0x1F)
            }
            Self::Xrgb8888 => raw & 0x00FF_FFFF,
            Self::Xbgr8888 => ((raw & 0xFF) << 16) | (raw & 0xFF00) | ((raw >> 16) & 0xFF),
            Self::Xrgb2101010 => {
                (((raw >> 22) & 0xFF) << 16) | (((raw >> 12) & 0xFF) << 8) | ((raw >> 2) & 0xFF)
            }
            Self::Xbgr2101010 => {
                (((raw >> 2) & 0xFF) << 16) | (((raw >> 12) & 0xFF) << 8) | ((raw >> 22) & 0xFF)
            }
        }
    }
}

/// How a platform lays out its primary plane registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// Gen4-8 `DSPCNTR` planes sized by `PIPESRC`, at `base`.
    Dspcntr { base: u32 },
    /// Gen9+ `PLANE_CTL` universal planes with `PLANE_SIZE`.
    PlaneCtl,
}

fn layout(platform: Platform) -> Layout {
    use Platform as P;
    match platform {
        P::Valleyview | P::Cherryview => Layout::Dspcntr {
            base: VLV_DISPLAY_BASE,
        },
        P::SandyBridge | P::IvyBridge | P::Haswell | P::Broadwell => Layout::Dspcntr { base: 0 },
        _ => Layout::PlaneCtl,
    }
}

/// Pipes whose primary plane is looked at, first enabled one wins.
const PIPES: u32 = 3;
/// `DSPCNTR`/`PLANE_CTL` of pipe A's primary plane.
const PLANE_A: u32 = 0x7_0180;
/// Distance between pipes' plane registers.
const PIPE_STRIDE: u32 = 0x1000;
/// `PIPESRC` of pipe A.
const PIPESRC_A: u32 = 0x6_001C;
/// `LGC_PALETTE` of pipe A, and the distance between pipes.
const LGC_PALETTE_A: u32 = 0x4_A000;
const LGC_PALETTE_STRIDE: u32 = 0x800;

/// What one enabled primary plane scans out.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PlaneScanout {
    /// Pipe (0 = A).
    pub pipe: u32,
    /// Surface base as a GGTT offset (the GTT translates it).
    pub surface: u32,
    /// Bytes between the starts of two lines.
    pub stride: u32,
    /// Pixel format.
    pub format: PixelFormat,
    /// Visible width in pixels.
    pub width: u32,
    /// Visible height in pixels.
    pub height: u32,
    /// First visible pixel (x, y) inside the surface.
    pub offset: (u32, u32),
    /// Tiled (not linear) surface: the decoder reads it as linear.
    pub tiled: bool,
    /// The pipe's legacy palette, 0x00RRGGBB (indexed formats only).
    pub palette: Vec<u32>,
}

impl PlaneScanout {
    /// Byte offset of pixel (x, y) of the visible area from the surface base.
    #[must_use]
    pub fn byte_offset(&self, x: u32, y: u32) -> u64 {
        u64::from(y + self.offset.1) * u64::from(self.stride)
            + u64::from(x + self.offset.0) * u64::from(self.format.bytes())
    }
}

/// The first enabled primary plane (pipe A, B, C) of `platform`, decoded,
/// or `None` when none is enabled or its format is not a packed RGB one.
#[must_use]
pub fn active_primary_plane(platform: Platform, mmio: &MmioRegisters) -> Option<PlaneScanout> {
    (0..PIPES).find_map(|pipe| primary_plane(platform, mmio, pipe))
}

/// Pipe `pipe`'s primary plane when it is enabled.
#[must_use]
pub fn primary_plane(platform: Platform, mmio: &MmioRegisters, pipe: u32) -> Option<PlaneScanout> {
    let lay = layout(platform);
    let base = match lay {
        Layout::Dspcntr { base } => base,
        Layout::PlaneCtl => 0,
    };
    let reg = |off: u32| mmio.read32(base + off + PIPE_STRIDE * pipe);
    let ctl = reg(PLANE_A);
    if ctl & (1 << 31) == 0 {
        return None;
    }
    let offset_reg = reg(PLANE_A + 0x24);
    let offset = (offset_reg & 0xFFFF, offset_reg >> 16);
    let (format, stride, width, height, tiled) = match lay {
        Layout::Dspcntr { .. } => {
            let format = match (ctl >> 26) & 0xF {
                0x2 => PixelFormat::Indexed8,
                0x3 => PixelFormat::Xrgb1555,
                0x5 => PixelFormat::Rgb565,
                0x6 => PixelFormat::Xrgb8888,
                0x8 => PixelFormat::Xbgr2101010,
                0xA => PixelFormat::Xrgb2101010,
                0xE => PixelFormat::Xbgr8888,
                _ => return None,
            };
            let src = reg(PIPESRC_A);
            (
                format,
                reg(PLANE_A + 8),
                (src >> 16) + 1,
                (src & 0xFFFF) + 1,
                ctl & (1 << 10) != 0,
            )
        }
        Layout::PlaneCtl => {
            let rgbx = ctl & (1 << 20) != 0;
            let format = match ((ctl >> 24) & 0xF, rgbx) {
                (0x2, false) => PixelFormat::Xrgb2101010,
                (0x2, true) => PixelFormat::Xbgr2101010,
                (0x4, false) => PixelFormat::Xrgb8888,
                (0x4, true) => PixelFormat::Xbgr8888,
                (0xC, _) => PixelFormat::Indexed8,
                (0xE, _) => PixelFormat::Rgb565,
                _ => return None,
            };
            let size = reg(PLANE_A + 0x10);
            (
                format,
                reg(PLANE_A + 8).saturating_mul(64),
                (size & 0xFFFF) + 1,
                (size >> 16) + 1,
                (ctl >> 10) & 0x7 != 0,
            )
        }
    };
    let palette = if format == PixelFormat::Indexed8 {
        let pal = base + LGC_PALETTE_A + LGC_PALETTE_STRIDE * pipe;
        (0..256)
            .map(|i| mmio.read32(pal + 4 * i) & 0x00FF_FFFF)
            .collect()
    } else {
        Vec::new()
    };
    Some(PlaneScanout {
        pipe,
        surface: reg(PLANE_A + 0x1C) & !0xFFF,
        stride,
        format,
        width,
        height,
        offset,
        tiled,
        palette,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::igd::generation::info;

    fn regs(p: Platform) -> MmioRegisters {
        MmioRegisters::new(info(p), 0x8B80_0001, 0x0211)
    }

    fn w(r: &mut MmioRegisters, off: u32, v: u32) {
        assert!(r.write(u64::from(off), &v.to_le_bytes()));
    }

    #[test]
    fn disabled_planes_scan_out_nothing() {
        assert_eq!(
            active_primary_plane(Platform::Haswell, &regs(Platform::Haswell)),
            None
        );
    }

    #[test]
    fn gen7_dspcntr_plane_b_with_pipesrc() {
        let mut r = regs(Platform::IvyBridge);
        w(&mut r, 0x71180, (1 << 31) | (5 << 26));
        w(&mut r, 0x71188, 1600);
        w(&mut r, 0x7119C, 0x0030_0000);
        w(&mut r, 0x6101C, (799 << 16) | 599);
        let p = active_primary_plane(Platform::IvyBridge, &r).expect("plane B on");
        assert_eq!(
            (p.pipe, p.surface, p.stride, p.format, p.width, p.height),
            (1, 0x0030_0000, 1600, PixelFormat::Rgb565, 800, 600)
        );
        assert_eq!(p.byte_offset(2, 1), 1604);
    }

    #[test]
    fn vlv_planes_live_at_the_display_base() {
        let mut r = regs(Platform::Valleyview);
        w(&mut r, 0x70180, (1 << 31) | (6 << 26));
        assert_eq!(active_primary_plane(Platform::Valleyview, &r), None);
        w(&mut r, 0x18_0000 + 0x70180, (1 << 31) | (2 << 26));
        w(&mut r, 0x18_0000 + 0x6001C, (639 << 16) | 479);
        w(&mut r, 0x18_0000 + 0x4A000 + 4 * 7, 0x00AB_CDEF);
        let p = active_primary_plane(Platform::Valleyview, &r).expect("plane A on");
        assert_eq!(
            (p.format, p.width, p.height),
            (PixelFormat::Indexed8, 640, 480)
        );
        assert_eq!(p.format.to_xrgb(7, &p.palette), 0x00AB_CDEF);
    }

    #[test]
    fn gen9_plane_ctl_stride_in_64_byte_units_and_plane_size() {
        let mut r = regs(Platform::Skylake);
        w(&mut r, 0x70180, (1 << 31) | (4 << 24));
        w(&mut r, 0x70188, 4096 / 64);
        w(&mut r, 0x70190, (767 << 16) | 1023);
        w(&mut r, 0x7019C, 0x0010_0000);
        let p = active_primary_plane(Platform::Skylake, &r).expect("plane on");
        assert_eq!(
            (p.surface, p.stride, p.format, p.width, p.height),
            (0x0010_0000, 4096, PixelFormat::Xrgb8888, 1024, 768)
        );
        w(&mut r, 0x70180, (1 << 31) | (4 << 24) | (1 << 20));
        let p = active_primary_plane(Platform::Skylake, &r).expect("plane on");
        assert_eq!(p.format, PixelFormat::Xbgr8888);
        assert_eq!(p.format.to_xrgb(0x0011_2233, &[]), 0x0033_2211);
    }

    #[test]
    fn packed_formats_expand_to_xrgb() {
        assert_eq!(PixelFormat::Rgb565.to_xrgb(0xF800, &[]), 0x00FF_0000);
        assert_eq!(PixelFormat::Rgb565.to_xrgb(0x07E0, &[]), 0x0000_FF00);
        assert_eq!(PixelFormat::Xrgb1555.to_xrgb(0x001F, &[]), 0x0000_00FF);
        assert_eq!(
            PixelFormat::Xrgb2101010.to_xrgb(0x3FF0_0000, &[]),
            0x00FF_0000
        );
        assert_eq!(PixelFormat::Indexed8.to_xrgb(3, &[1, 2]), 0);
    }
}

//! The screen the ROM drew, as a picture: the IGD's first enabled primary
//! display plane, decoded the way the display engine fetches it
//! ([`igdemu::igd::display::plane`]: the surface's GTT offset, stride, pixel
//! format and size from the plane and pipe registers the ROM programmed, in
//! the platform's layout, each page translated through the GTT and the IOMMU
//! into guest memory); else the Bochs VBE
//! DISPI mode of the standard VGA that SeaVGABIOS drives (its linear frame
//! buffer in BAR0 at the DISPI resolution, depth, virtual width and offsets);
//! else VGA text mode from 0xB8000 drawn with a built-in font.
//!
//! Pages the scanout cannot reach (an invalid PTE, an address no IOMMU mapping
//! covers, guest memory that cannot be read) are drawn as a magenta/black
//! checkerboard so a user sees where the display points nowhere.
//!
//! ```no_run
//! # fn demo(run: &igdemu::session::SessionRun) {
//! use igdemu_harness::screenshot::{encode_png, screenshot};
//! if let Some(img) = screenshot(run, None) {
//!     std::fs::write("screen.png", encode_png(&img)).unwrap();
//! }
//! # }
//! ```

mod font;

use igdemu::addr::Iova;
use igdemu::igd::display::{active_primary_plane, PixelFormat, PlaneScanout};
use igdemu::machine::igd_slot::IgdFunction;
use igdemu::machine::pci_bus::StdVga;
use igdemu::machine::{slot, Machine};
use igdemu::session::{SessionReport, SessionRun};

/// Geometry used when the caller gives none and the report has no VBE mode.
pub const DEFAULT_GEOMETRY: (u32, u32) = (1024, 768);
/// Largest scanout decoded (either side), to bound memory on odd registers.
pub const MAX_SIDE: u32 = 8192;

/// Guest physical base of the VGA text buffer (colour text modes).
pub const VGA_TEXT_BASE: u64 = 0xB8000;
/// Text mode columns.
pub const TEXT_COLS: u32 = 80;
/// Text mode rows.
pub const TEXT_ROWS: u32 = 25;
/// Character cell width in pixels.
pub const CELL_W: u32 = 8;
/// Character cell height in pixels (the 5x7 glyphs are drawn doubled in height).
pub const CELL_H: u32 = 16;

const PAGE: u64 = 4096;
const CHECK_A: u32 = 0x00FF_00FF;
const CHECK_B: u32 = 0x0020_0020;

/// The 16 colours of the CGA/VGA text palette (xRGB).
pub const TEXT_PALETTE: [u32; 16] = [
    0x000000, 0x0000AA, 0x00AA00, 0x00AAAA, 0xAA0000, 0xAA00AA, 0xAA5500, 0xAAAAAA, 0x555555,
    0x5555FF, 0x55FF55, 0x55FFFF, 0xFF5555, 0xFF55FF, 0xFFFF55, 0xFFFFFF,
];

/// An RGB picture, 8 bits per channel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes: R, G, B.
    pub rgb: Vec<u8>,
    /// What the picture shows.
    pub source: Source,
}

/// Where a screenshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The IGD's primary plane scanout.
    Scanout {
        /// Pipe (0 = A).
        pipe: u32,
        /// Pixel format the plane was programmed with.
        format: PixelFormat,
        /// Surface base (GTT offset).
        surface: u32,
        /// Bytes per line.
        stride: u32,
        /// Pages drawn as a checkerboard because the GTT or IOMMU led nowhere.
        unreachable_pages: u32,
    },
    /// The standard VGA's DISPI linear frame buffer (Bochs VBE extensions).
    Dispi {
        /// `VBE_DISPI_INDEX_BPP`.
        bpp: u16,
        /// Bytes from the start of video memory to the first displayed pixel
        /// (from the virtual width and the X/Y offsets).
        start: u64,
        /// Bytes per line (virtual width x bytes per pixel).
        pitch: u64,
    },
    /// VGA text mode (80x25 at 0xB8000).
    VgaText,
}

impl Image {
    /// A `width` x `height` picture filled with `xrgb`.
    #[must_use]
    pub fn filled(width: u32, height: u32, xrgb: u32, source: Source) -> Self {
        let [_, r, g, b] = xrgb.to_be_bytes();
        let n = width as usize * height as usize;
        let mut rgb = Vec::with_capacity(n * 3);
        for _ in 0..n {
            rgb.extend_from_slice(&[r, g, b]);
        }
        Self {
            width,
            height,
            rgb,
            source,
        }
    }

    /// The pixel at (x, y) as xRGB, `None` outside the picture.
    #[must_use]
    pub fn pixel(&self, x: u32, y: u32) -> Option<u32> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        let p = self.rgb.get(i..i + 3)?;
        Some(u32::from_be_bytes([0, p[0], p[1], p[2]]))
    }

    /// Set the pixel at (x, y) to `xrgb` (ignored outside the picture).
    pub fn set_pixel(&mut self, x: u32, y: u32, xrgb: u32) {
        if x >= self.width || y >= self.height {
            return;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        if let Some(p) = self.rgb.get_mut(i..i + 3) {
            let [_, r, g, b] = xrgb.to_be_bytes();
            p.copy_from_slice(&[r, g, b]);
        }
    }
}

/// The mode geometry of the last VBE step that set a mode (its label reads
/// `vbe WxHxB` and it returned with a `mode ...` note), from the report.
#[must_use]
pub fn vbe_geometry(report: &SessionReport) -> Option<(u32, u32)> {
    report
        .steps
        .iter()
        .rev()
        .filter(|s| s.returned && s.notes.iter().any(|n| n.starts_with("mode ")))
        .find_map(|s| {
            let g = s.step.strip_prefix("vbe ")?;
            let mut parts = g.split('x').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next()??))
        })
}

/// The screen after the run: the IGD's first enabled primary plane as its
/// registers describe it (`geometry`, when given, overrides the size the
/// plane registers give); otherwise the standard VGA's DISPI frame buffer
/// when DISPI is enabled in a packed mode (its own registers give the
/// geometry); otherwise VGA text mode. `None` when none of them can be read.
#[must_use]
pub fn screenshot(run: &SessionRun, geometry: Option<(u32, u32)>) -> Option<Image> {
    if let Some(mut plane) = scanout_plane(run) {
        if let Some((w, h)) = geometry {
            (plane.width, plane.height) = (w, h);
        }
        plane.width = plane.width.clamp(1, MAX_SIDE);
        plane.height = plane.height.clamp(1, MAX_SIDE);
        if let Some(igd) = run.igd() {
            return Some(scanout(&run.machine, igd, &plane));
        }
    }
    let machine = &run.machine;
    if let Some(vga) = machine.device::<StdVga>(slot::STDVGA) {
        if let Some(img) = dispi_scanout(
            &machine.state().dispi().regs,
            vga.vram(),
            &machine.state().vga().dac,
        ) {
            return Some(img);
        }
    }
    text_mode(run)
}

/// The IGD's first enabled primary plane as the display engine would scan it
/// out, with the palette an indexed format uses: the pipe's legacy palette,
/// or the VGA DAC's (6-bit entries) when the ROM left the pipe palette 0.
#[must_use]
pub fn scanout_plane(run: &SessionRun) -> Option<PlaneScanout> {
    let host = run.igd()?.passthrough().host();
    let mut plane = active_primary_plane(host.info().platform, host.mmio())?;
    if plane.palette.iter().all(|c| *c == 0) {
        plane.palette = run
            .machine
            .state()
            .vga()
            .dac
            .chunks(3)
            .map(|c| {
                c.iter()
                    .fold(0u32, |v, x| (v << 8) | u32::from((x << 2) | (x >> 4)))
            })
            .collect();
    }
    Some(plane)
}

/// Decode the DISPI frame buffer when the interface is enabled in a packed
/// mode: `regs` are the DISPI registers, `vram` the video memory, `dac` the
/// VGA palette (256 x RGB, 6-bit components) for 8 bpp. `None` when DISPI is
/// off or the depth is not a packed one (4 bpp is planar). Pixels past the
/// end of video memory are drawn as the checkerboard.
#[must_use]
pub fn dispi_scanout(regs: &[u16], vram: &[u8], dac: &[u8]) -> Option<Image> {
    use igdemu::machine::legacy::{dispi_enable, dispi_reg};
    let reg = |i: u16| regs.get(usize::from(i)).copied().unwrap_or(0);
    if reg(dispi_reg::ENABLE) & dispi_enable::ENABLED == 0 {
        return None;
    }
    let bpp = reg(dispi_reg::BPP);
    let bytes_pp: u64 = match bpp {
        8 => 1,
        15 | 16 => 2,
        24 => 3,
        32 => 4,
        _ => return None,
    };
    let width = u32::from(reg(dispi_reg::XRES)).clamp(1, MAX_SIDE);
    let height = u32::from(reg(dispi_reg::YRES)).clamp(1, MAX_SIDE);
    let virt = u64::from(reg(dispi_reg::VIRT_WIDTH)).max(u64::from(width));
    let pitch = virt * bytes_pp;
    let start = u64::from(reg(dispi_reg::Y_OFFSET)) * pitch
        + u64::from(reg(dispi_reg::X_OFFSET)) * bytes_pp;
    let dac8 = reg(dispi_reg::ENABLE) & dispi_enable::DAC8 != 0;
    let mut img = Image::filled(width, height, 0, Source::Dispi { bpp, start, pitch });
    let expand5 = |v: u32| (v << 3) | (v >> 2);
    let expand6 = |v: u32| (v << 2) | (v >> 4);
    for y in 0..height {
        for x in 0..width {
            let at = start + u64::from(y) * pitch + u64::from(x) * bytes_pp;
            let px = usize::try_from(at)
                .ok()
                .and_then(|a| vram.get(a..a.checked_add(bytes_pp as usize)?));
            let colour = match px {
                None => checker(x, y),
                Some(&[i]) => {
                    let i = usize::from(i) * 3;
                    let c = |k: usize| u32::from(dac.get(i + k).copied().unwrap_or(0));
                    let (r, g, b) = if dac8 {
                        (c(0), c(1), c(2))
                    } else {
                        (
                            expand6(c(0) & 0x3F),
                            expand6(c(1) & 0x3F),
                            expand6(c(2) & 0x3F),
                        )
                    };
                    r << 16 | g << 8 | b
                }
                Some(&[lo, hi]) => {
                    let v = u32::from(u16::from_le_bytes([lo, hi]));
                    let (r, g, b) = if bpp == 15 {
                        (
                            expand5(v >> 10 & 0x1F),
                            expand5(v >> 5 & 0x1F),
                            expand5(v & 0x1F),
                        )
                    } else {
                        (
                            expand5(v >> 11 & 0x1F),
                            expand6(v >> 5 & 0x3F),
                            expand5(v & 0x1F),
                        )
                    };
                    r << 16 | g << 8 | b
                }
                Some(&[b, g, r]) | Some(&[b, g, r, _]) => u32::from_be_bytes([0, r, g, b]),
                Some(_) => CHECK_A,
            };
            img.set_pixel(x, y, colour);
        }
    }
    Some(img)
}

/// The checkerboard colour drawn at (`x`, `y`) where the display reads nothing.
fn checker(x: u32, y: u32) -> u32 {
    if ((x / 8) + (y / 8)).is_multiple_of(2) {
        CHECK_A
    } else {
        CHECK_B
    }
}

/// Decode `plane`: each pixel's bytes are fetched through the GTT (the
/// surface is a GGTT offset) and the IOMMU, then expanded from its format.
fn scanout(machine: &Machine, igd: &IgdFunction, plane: &PlaneScanout) -> Image {
    let source = |unreachable_pages| Source::Scanout {
        pipe: plane.pipe,
        format: plane.format,
        surface: plane.surface,
        stride: plane.stride,
        unreachable_pages,
    };
    let mut img = Image::filled(plane.width, plane.height, 0, source(0));
    let gtt = igd.passthrough().host().gtt();
    let iommu = igd.dma().iommu();
    // Page cache: GTT index -> page bytes (None: unreachable).
    let mut pages: std::collections::HashMap<u64, Option<Vec<u8>>> = Default::default();
    let base = u64::from(plane.surface);
    let bytes = plane.format.bytes() as usize;
    for y in 0..plane.height {
        for x in 0..plane.width {
            let off = base + plane.byte_offset(x, y);
            let index = off / PAGE;
            let page = pages.entry(index).or_insert_with(|| {
                let pte = gtt.decode(index);
                let ok = index < gtt.len()
                    && pte.valid
                    && iommu.translate(Iova(pte.addr), PAGE).is_some();
                let mut buf = vec![0u8; PAGE as usize];
                let read = ok && machine.read_guest(pte.addr, &mut buf).is_ok();
                read.then_some(buf)
            });
            let colour = match page {
                Some(page) => {
                    let i = (off % PAGE) as usize;
                    page.get(i..i + bytes).map_or(CHECK_A, |p| {
                        let raw = p.iter().rev().fold(0u32, |v, b| (v << 8) | u32::from(*b));
                        plane.format.to_xrgb(raw, &plane.palette)
                    })
                }
                None => checker(x, y),
            };
            img.set_pixel(x, y, colour);
        }
    }
    let unreachable = pages.values().filter(|p| p.is_none()).count() as u32;
    img.source = source(unreachable);
    img
}

/// Render 80x25 VGA text from 0xB8000: attribute low nibble foreground, bits
/// 6:4 background (blink ignored), 8x16 cells.
fn text_mode(run: &SessionRun) -> Option<Image> {
    let mut cells = vec![0u8; (TEXT_COLS * TEXT_ROWS * 2) as usize];
    run.machine.read_guest(VGA_TEXT_BASE, &mut cells).ok()?;
    let mut img = Image::filled(
        TEXT_COLS * CELL_W,
        TEXT_ROWS * CELL_H,
        TEXT_PALETTE[0],
        Source::VgaText,
    );
    for (i, cell) in cells.chunks_exact(2).enumerate() {
        let (ch, attr) = (cell[0], cell[1]);
        let col = i as u32 % TEXT_COLS;
        let row = i as u32 / TEXT_COLS;
        let fg = TEXT_PALETTE[usize::from(attr & 0x0F)];
        let bg = TEXT_PALETTE[usize::from((attr >> 4) & 0x07)];
        let rows = font::glyph(ch);
        for py in 0..CELL_H {
            // Glyph rows 0..7 at cell rows 1..15, each drawn twice.
            let bits = py
                .checked_sub(1)
                .and_then(|r| rows.get((r / 2) as usize))
                .copied()
                .unwrap_or(0);
            for px in 0..CELL_W {
                // Glyph columns 0..5 at cell columns 1..6.
                let on = px >= 1
                    && px <= font::GLYPH_W as u32
                    && bits & (1 << (font::GLYPH_W as u32 - px)) != 0;
                img.set_pixel(
                    col * CELL_W + px,
                    row * CELL_H + py,
                    if on { fg } else { bg },
                );
            }
        }
    }
    Some(img)
}

/// The picture as a PNG file (8-bit RGB).
#[must_use]
pub fn encode_png(img: &Image) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width, img.height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let written = enc
            .write_header()
            .and_then(|mut w| w.write_image_data(&img.rgb));
        if written.is_err() {
            // Only a size mismatch fails here, and `Image` keeps sizes in step.
            out.clear();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DISPI registers for a `w` x `h` x `bpp` mode (enabled, LFB).
    fn dispi(w: u16, h: u16, bpp: u16) -> [u16; 11] {
        use igdemu::machine::legacy::{dispi_enable, dispi_reg};
        let mut r = [0u16; 11];
        r[usize::from(dispi_reg::XRES)] = w;
        r[usize::from(dispi_reg::YRES)] = h;
        r[usize::from(dispi_reg::BPP)] = bpp;
        r[usize::from(dispi_reg::ENABLE)] = dispi_enable::ENABLED | dispi_enable::LFB;
        r
    }

    #[test]
    fn dispi_packed_depths_decode_to_xrgb() {
        // 32 bpp: B, G, R, x in memory.
        let vram = [0x33, 0x22, 0x11, 0xFF, 0x00, 0x00, 0xFF, 0x00];
        let img = dispi_scanout(&dispi(2, 1, 32), &vram, &[]).unwrap();
        assert_eq!(
            (img.pixel(0, 0), img.pixel(1, 0)),
            (Some(0x112233), Some(0xFF0000))
        );
        // 24 bpp: B, G, R.
        let img = dispi_scanout(&dispi(2, 1, 24), &[1, 2, 3, 4, 5, 6], &[]).unwrap();
        assert_eq!(
            (img.pixel(0, 0), img.pixel(1, 0)),
            (Some(0x030201), Some(0x060504))
        );
        // 16 bpp RGB565 and 15 bpp RGB555, white and pure green.
        let img = dispi_scanout(&dispi(2, 1, 16), &[0xFF, 0xFF, 0xE0, 0x07], &[]).unwrap();
        assert_eq!(
            (img.pixel(0, 0), img.pixel(1, 0)),
            (Some(0xFFFFFF), Some(0x00FF00))
        );
        let img = dispi_scanout(&dispi(1, 1, 15), &[0xE0, 0x03], &[]).unwrap();
        assert_eq!(img.pixel(0, 0), Some(0x00FF00));
        // 8 bpp through the 6-bit DAC palette.
        let mut dac = vec![0u8; 768];
        dac[3 * 7..3 * 7 + 3].copy_from_slice(&[0x3F, 0x20, 0x00]);
        let img = dispi_scanout(&dispi(1, 1, 8), &[7], &dac).unwrap();
        assert_eq!(img.pixel(0, 0), Some(0xFF8200));
    }

    #[test]
    fn dispi_offsets_virtual_width_and_short_memory() {
        use igdemu::machine::legacy::dispi_reg;
        let mut regs = dispi(2, 2, 8);
        regs[usize::from(dispi_reg::VIRT_WIDTH)] = 4;
        regs[usize::from(dispi_reg::X_OFFSET)] = 1;
        regs[usize::from(dispi_reg::Y_OFFSET)] = 1;
        let mut dac = vec![0u8; 768];
        for i in 0..=255usize {
            dac[3 * i + 2] = (i & 0x3F) as u8;
        }
        // Line 1 starts at 4; the display starts at 4 + 1 = 5.
        let vram: Vec<u8> = (0..12).collect();
        let img = dispi_scanout(&regs, &vram, &dac).unwrap();
        let blue = |v: u32| (v << 2) | (v >> 4);
        assert_eq!(img.pixel(0, 0), Some(blue(5)));
        assert_eq!(img.pixel(1, 1), Some(blue(10)));
        assert_eq!(
            img.source,
            Source::Dispi {
                bpp: 8,
                start: 5,
                pitch: 4
            }
        );
        // Past the end of video memory: the checkerboard, not a panic.
        let img = dispi_scanout(&regs, &vram[..8], &dac).unwrap();
        assert_eq!(img.pixel(1, 1), Some(CHECK_A));
        // Off, or planar 4 bpp: not a DISPI picture.
        let mut off = dispi(2, 2, 32);
        off[usize::from(dispi_reg::ENABLE)] = 0;
        assert_eq!(dispi_scanout(&off, &vram, &dac), None);
        assert_eq!(dispi_scanout(&dispi(2, 2, 4), &vram, &dac), None);
    }

    #[test]
    fn pixels_round_trip() {
        let mut img = Image::filled(4, 3, 0x102040, Source::VgaText);
        img.set_pixel(3, 2, 0xE0C020);
        img.set_pixel(9, 9, 0xFFFFFF);
        assert_eq!(img.pixel(0, 0), Some(0x102040));
        assert_eq!(img.pixel(3, 2), Some(0xE0C020));
        assert_eq!(img.pixel(4, 0), None);
    }

    #[test]
    fn png_decodes_to_the_same_pixels() {
        let mut img = Image::filled(5, 2, 0x123456, Source::VgaText);
        img.set_pixel(1, 1, 0xABCDEF);
        let bytes = encode_png(&img);
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (5, 2));
        assert_eq!(&buf[..info.buffer_size()], &img.rgb[..]);
    }
}

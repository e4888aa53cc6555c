//! The POST Memory Manager (PMM Specification 1.01): option ROMs that find
//! the `$PMM` structure in the F000 segment far-call its entry point to
//! allocate memory during POST. The structure layout and the function
//! semantics follow the specification as SeaBIOS implements it
//! (`src/pmm.c`, `src/std/pmm.h`): arguments are words on the caller's stack
//! (function, then the function's arguments), the result is in DX:AX.
//!
//! - 0000h allocate(length in paragraphs: dword, handle: dword, flags: word):
//!   flags bits 1:0 = 1 conventional memory, 2 extended memory, 3 either;
//!   bit 2 = align to the size's power of two. Length 0 asks for the largest
//!   free block (in paragraphs). Returns the physical address, 0 if none.
//! - 0001h find(handle: dword): the address allocated with that handle, 0.
//! - 0002h deallocate(address: dword): 0 on success.
//! - others: FFFFFFFFh (function not supported).

use serde::Serialize;

/// Paragraph size.
const PARA: u64 = 16;
/// Handle meaning "no handle" (anonymous allocation).
pub const DEFAULT_HANDLE: u32 = 0xFFFF_FFFF;
/// Result of an unknown function.
pub const FUNCTION_NOT_SUPPORTED: u32 = 0xFFFF_FFFF;
/// Allocations remembered (bounded: a hostile ROM cannot grow the table).
const MAX_ALLOCS: usize = 256;

/// A region allocations are carved from, bottom up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Zone {
    /// First byte.
    pub bottom: u64,
    /// One past the last byte.
    pub top: u64,
    /// Next free byte.
    pub cur: u64,
}

impl Zone {
    /// An empty zone over `[bottom, top)`.
    #[must_use]
    pub const fn new(bottom: u64, top: u64) -> Self {
        Self {
            bottom,
            top,
            cur: bottom,
        }
    }

    fn alloc(&mut self, bytes: u64, align: u64) -> Option<u64> {
        let start = self.cur.checked_add(align - 1)? & !(align - 1);
        let end = start.checked_add(bytes)?;
        (end <= self.top).then(|| {
            self.cur = end;
            start
        })
    }

    fn free_paragraphs(&self) -> u64 {
        self.top.saturating_sub(self.cur) / PARA
    }
}

/// One allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// Physical address.
    pub address: u64,
    /// Size in bytes.
    pub bytes: u64,
    /// Handle given (or [`DEFAULT_HANDLE`]).
    pub handle: u32,
}

/// The PMM's state: a conventional and an extended zone, and what was handed out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pmm {
    /// Conventional memory (below 1 MiB).
    pub low: Zone,
    /// Extended memory (above 1 MiB).
    pub high: Zone,
    /// Live allocations.
    pub allocations: Vec<Allocation>,
}

/// Free conventional memory handed to the PMM: above the host-call stack and
/// below the EBDA (memory map in `machine::memory`).
pub const LOW_ZONE: (u64, u64) = (0x1_0000, 0x9_0000);
/// Extended memory handed to the PMM: 16 MiB from 16 MiB (when RAM reaches).
pub const HIGH_ZONE: (u64, u64) = (0x100_0000, 0x200_0000);

impl Pmm {
    /// A PMM for a machine whose RAM below the PCI hole ends at `ram_top`.
    #[must_use]
    pub fn new(ram_top: u64) -> Self {
        Self {
            low: Zone::new(LOW_ZONE.0, LOW_ZONE.1.min(ram_top)),
            high: Zone::new(HIGH_ZONE.0, HIGH_ZONE.1.min(ram_top).max(HIGH_ZONE.0)),
            allocations: Vec::new(),
        }
    }

    /// Run PMM function `args[0]` with the words that follow it on the stack.
    pub fn call(&mut self, args: &[u16; 6]) -> u32 {
        let [function, a1, a2, a3, a4, flags] = *args;
        let dword = |lo: u16, hi: u16| u32::from(lo) | (u32::from(hi) << 16);
        match function {
            0 => self.allocate(dword(a1, a2), dword(a3, a4), flags),
            1 => self.find(dword(a1, a2)),
            2 => self.deallocate(dword(a1, a2)),
            _ => FUNCTION_NOT_SUPPORTED,
        }
    }

    fn allocate(&mut self, paragraphs: u32, handle: u32, flags: u16) -> u32 {
        let zones: &mut [&mut Zone] = match flags & 3 {
            1 => &mut [&mut self.low],
            2 => &mut [&mut self.high],
            3 => &mut [&mut self.low, &mut self.high],
            _ => return 0,
        };
        if paragraphs == 0 {
            let largest = zones.iter().map(|z| z.free_paragraphs()).max().unwrap_or(0);
            return u32::try_from(largest).unwrap_or(u32::MAX);
        }
        if self.allocations.len() >= MAX_ALLOCS {
            return 0;
        }
        let bytes = u64::from(paragraphs) * PARA;
        let align = if flags & 4 != 0 {
            bytes.next_power_of_two()
        } else {
            PARA
        };
        let Some(address) = zones.iter_mut().find_map(|z| z.alloc(bytes, align)) else {
            return 0;
        };
        self.allocations.push(Allocation {
            address,
            bytes,
            handle,
        });
        u32::try_from(address).unwrap_or(0)
    }

    fn find(&self, handle: u32) -> u32 {
        if handle == DEFAULT_HANDLE {
            return 0;
        }
        self.allocations
            .iter()
            .find(|a| a.handle == handle)
            .and_then(|a| u32::try_from(a.address).ok())
            .unwrap_or(0)
    }

    fn deallocate(&mut self, address: u32) -> u32 {
        match self
            .allocations
            .iter()
            .position(|a| a.address == u64::from(address))
        {
            Some(i) => {
                self.allocations.remove(i);
                0
            }
            None => 1,
        }
    }
}

/// The `$PMM` structure (16 bytes) with entry point `seg:off`, checksummed.
#[must_use]
pub fn header(seg: u16, off: u16) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(b"$PMM");
    h[4] = 0x01; // structure revision
    h[5] = 16; // length in bytes
    h[7..9].copy_from_slice(&off.to_le_bytes());
    h[9..11].copy_from_slice(&seg.to_le_bytes());
    let sum = h.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    h[6] = 0u8.wrapping_sub(sum);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alloc(p: &mut Pmm, paras: u32, handle: u32, flags: u16) -> u32 {
        p.call(&[
            0,
            paras as u16,
            (paras >> 16) as u16,
            handle as u16,
            (handle >> 16) as u16,
            flags,
        ])
    }

    #[test]
    fn allocate_find_deallocate() {
        let mut p = Pmm::new(2 << 30);
        // 1 KiB conventional, anonymous.
        assert_eq!(alloc(&mut p, 64, DEFAULT_HANDLE, 1), 0x1_0000);
        // 4 KiB extended with a handle, aligned to its size.
        let a = alloc(&mut p, 256, 0x1234_5678, 2 | 4);
        assert_eq!(a, 0x100_0000);
        assert_eq!(p.call(&[1, 0x5678, 0x1234, 0, 0, 0]), a);
        // Aligned conventional block after the first one.
        assert_eq!(alloc(&mut p, 256, DEFAULT_HANDLE, 1 | 4), 0x1_1000);
        // Largest free conventional block, in paragraphs.
        assert_eq!(alloc(&mut p, 0, 0, 1), (0x9_0000 - 0x1_2000) / 16);
        // Too large: 0. Bad flags: 0.
        assert_eq!(alloc(&mut p, 0x8000, DEFAULT_HANDLE, 1), 0);
        assert_eq!(alloc(&mut p, 1, DEFAULT_HANDLE, 0), 0);
        // Deallocate: 0 on success, nonzero for an unknown block.
        assert_eq!(
            p.call(&[2, (a & 0xFFFF) as u16, (a >> 16) as u16, 0, 0, 0]),
            0
        );
        assert_eq!(
            p.call(&[2, (a & 0xFFFF) as u16, (a >> 16) as u16, 0, 0, 0]),
            1
        );
        assert_eq!(p.call(&[1, 0x5678, 0x1234, 0, 0, 0]), 0);
        assert_eq!(p.call(&[7, 0, 0, 0, 0, 0]), FUNCTION_NOT_SUPPORTED);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut p = Pmm::new(2 << 30);
        for _ in 0..MAX_ALLOCS {
            assert_ne!(alloc(&mut p, 1, DEFAULT_HANDLE, 3), 0);
        }
        assert_eq!(alloc(&mut p, 1, DEFAULT_HANDLE, 3), 0);
    }

    #[test]
    fn header_checksums_to_zero() {
        let h = header(0xF000, 0xE400);
        assert_eq!(&h[..4], b"$PMM");
        assert_eq!(h.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        assert_eq!(&h[7..11], &[0x00, 0xE4, 0x00, 0xF0]);
    }
}

//! Address newtypes for the address spaces igdemu keeps apart (see DESIGN.md,
//! "Two address spaces, never mixed").
//!
//! The compiler refuses to mix them: a host stolen address can never be handed to
//! guest memory by accident.

use std::fmt;

macro_rules! address_newtype {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw address.
            #[must_use]
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// `self + offset`, or `None` on overflow.
            #[must_use]
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "({:#x})"), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

address_newtype!(
    /// A host physical address: where the real device and its stolen memory live.
    HostPhys,
    "HostPhys"
);
address_newtype!(
    /// A guest physical address: VM RAM, the guest stolen region, the OpRegion.
    GuestPhys,
    "GuestPhys"
);
address_newtype!(
    /// An I/O virtual address: what the device puts on the bus for DMA. In a VM
    /// with an IOMMU, IOVA = guest physical.
    Iova,
    "Iova"
);

/// A half-open range `[base, base + size)` of one address space.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
pub struct Region<A> {
    /// First address in the region.
    pub base: A,
    /// Size in bytes.
    pub size: u64,
}

impl<A: Copy + Into<u64>> Region<A> {
    /// A region from its base and size.
    pub const fn new(base: A, size: u64) -> Self {
        Self { base, size }
    }

    /// The first address past the region (saturating at `u64::MAX`).
    pub fn end(&self) -> u64 {
        self.base.into().saturating_add(self.size)
    }

    /// Whether `[addr, addr + len)` lies wholly inside the region.
    pub fn contains_range(&self, addr: u64, len: u64) -> bool {
        let base = self.base.into();
        addr >= base && addr.checked_add(len).is_some_and(|e| e <= self.end())
    }

    /// Whether `addr` lies inside the region.
    pub fn contains(&self, addr: u64) -> bool {
        self.contains_range(addr, 1)
    }
}

impl<A: fmt::Debug + Copy + Into<u64>> fmt::Debug for Region<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#x}, {:#x})", self.base.into(), self.end())
    }
}

macro_rules! into_u64 {
    ($($t:ty),*) => {$(
        impl From<$t> for u64 {
            fn from(v: $t) -> u64 {
                v.0
            }
        }
    )*};
}
into_u64!(HostPhys, GuestPhys, Iova);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_bounds_are_half_open() {
        let r = Region::new(GuestPhys(0x7000_0000), 0x10_0000);
        assert!(r.contains(0x7000_0000));
        assert!(r.contains(0x700F_FFFF));
        assert!(!r.contains(0x7010_0000));
        assert!(!r.contains(0x6FFF_FFFF));
        assert!(r.contains_range(0x700F_F000, 0x1000));
        assert!(!r.contains_range(0x700F_F000, 0x1001));
        assert!(!r.contains_range(u64::MAX, 2));
    }

    #[test]
    fn newtypes_print_their_space() {
        assert_eq!(
            format!("{:?}", HostPhys(0x8b00_0000)),
            "HostPhys(0x8b000000)"
        );
        assert_eq!(GuestPhys(0x10).to_string(), "0x10");
    }
}

//! The register/condition types a diagnosis reports ([`PolledRegister`],
//! [`WaitCondition`]); runs are diagnosed by [`crate::diagnose`], which
//! follows the value read through helpers and registers using the CPU's
//! record.

use std::fmt;

use super::iobar::INDEX_SEL_GTT;

/// The register a loop polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum PolledRegister {
    /// An I/O port (`in al, dx`).
    Port(u16),
    /// A BAR0 MMIO offset (the byte address the loop reads).
    Mmio(u32),
    /// A BAR4 MMIO_Data read; the MMIO_Index value selects the register.
    IoBarIndex(u32),
    /// A PCI configuration register of the function (byte offset).
    Config(u16),
}

impl PolledRegister {
    /// The BAR0 register offset this names (dword-aligned), if it names one.
    #[must_use]
    pub fn mmio_offset(self) -> Option<u32> {
        match self {
            PolledRegister::Mmio(o) => Some(o & !3),
            PolledRegister::IoBarIndex(i) if i & INDEX_SEL_GTT == 0 => Some(i & !3),
            _ => None,
        }
    }
}

/// What the loop waits for, in terms of the register value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WaitCondition {
    /// Bit `n` to become 1.
    BitSet(u32),
    /// Bit `n` to become 0.
    BitClear(u32),
    /// Any bit of the mask to become 1.
    AnySet(u32),
    /// Every bit of the mask to become 0.
    AllClear(u32),
    /// `(value & mask) == value`.
    MaskEquals {
        /// Bits compared.
        mask: u32,
        /// Value waited for.
        value: u32,
    },
    /// `(value & mask) != value`.
    MaskNotEquals {
        /// Bits compared.
        mask: u32,
        /// Value waited to go away.
        value: u32,
    },
    /// The field `(value & mask) >> shift`, read as a number, below
    /// `limit` (a `cmp` and an unsigned `jb`/`jbe`/`ja`/`jae`).
    FieldBelow {
        /// The field's bits in the register.
        mask: u32,
        /// Its lowest bit.
        shift: u32,
        /// The bound.
        limit: u64,
    },
    /// The same field at least `limit`.
    FieldAtLeast {
        /// The field's bits in the register.
        mask: u32,
        /// Its lowest bit.
        shift: u32,
        /// The bound.
        limit: u64,
    },
    /// The condition could not be decoded.
    Undecoded {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for WaitCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitCondition::BitSet(b) => write!(f, "bit {b} to become 1"),
            WaitCondition::BitClear(b) => write!(f, "bit {b} to become 0"),
            WaitCondition::AnySet(m) => write!(f, "any bit of {m:#X} to become 1"),
            WaitCondition::AllClear(m) => write!(f, "(value & {m:#X}) == 0"),
            WaitCondition::MaskEquals { mask, value } => {
                write!(f, "(value & {mask:#X}) == {value:#X}")
            }
            WaitCondition::MaskNotEquals { mask, value } => {
                write!(f, "(value & {mask:#X}) != {value:#X}")
            }
            WaitCondition::FieldBelow { mask, shift, limit } => {
                write!(f, "bits {} below {limit:#X}", bit_range(*mask, *shift))
            }
            WaitCondition::FieldAtLeast { mask, shift, limit } => {
                write!(f, "bits {} at least {limit:#X}", bit_range(*mask, *shift))
            }
            WaitCondition::Undecoded { reason } => write!(f, "an undecoded condition ({reason})"),
        }
    }
}

/// "10:0" for a field's bits, "7" for a one-bit field.
fn bit_range(mask: u32, shift: u32) -> String {
    let top = 31u32.saturating_sub(mask.leading_zeros());
    if top == shift {
        format!("{shift}")
    } else {
        format!("{top}:{shift}")
    }
}

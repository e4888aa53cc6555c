//! `--override REG=BEHAVIOUR`: replace the behaviour of one BAR0 register
//! from the command line, e.g. when a vBIOS spins on a bit the tables do not
//! model (the spin analyzer in [`super::spin`] suggests one).
//!
//! Grammar (numbers are decimal or `0x` hexadecimal, bits are 0-31 decimal,
//! `REG` and `@OFFSET` are dword-aligned BAR0 offsets):
//!
//! ```text
//! OVERRIDE  := REG '=' BEHAVIOUR
//! BEHAVIOUR := 'plain'                      read/write storage
//!            | 'ro'                         writes ignored
//!            | 'ro:' VALUE                  writes ignored, reads VALUE until the device changes it
//!            | 'const:' VALUE               always reads VALUE
//!            | 'w1c:' MASK                  MASK bits clear when written 1
//!            | 'sc:' MASK                   MASK bits always read 0
//!            | 'status:' MASK               MASK bits are hardware status, writes keep them
//!            | 'toggle:' BIT                BIT flips after every read
//!            | 'mirror:' OFFSET             reads the register at OFFSET
//!            | 'masked'                     bits 31:16 of a write select bits 15:0
//!            | 'status-follows-request:' REQBIT '->' STATUSBIT ['@' OFFSET]
//!            | 'status-inverse:' REQBIT '->' STATUSBIT ['@' OFFSET]
//!            | 'lock-after:' DURATION ':' REQBIT '->' STATUSBIT ['@' OFFSET]
//! DURATION  := NUMBER ('ns' | 'us' | 'ms' | 's')   virtual time, e.g. 200us
//! ```
//!
//! The status register defaults to `REG` itself. An override replaces every
//! table behaviour of `REG` (and takes it from GMBUS/AUX if they own it).
//!
//! ```
//! use igdemu::igd::overrides::RegisterOverride;
//! let o = RegisterOverride::parse("0x45400=status-follows-request:31->30")?;
//! assert_eq!(o.offset(), 0x45400);
//! assert_eq!(o.to_string(), "0x45400=status-follows-request:31->30");
//! # Ok::<(), igdemu::igd::overrides::OverrideError>(())
//! ```

use std::fmt;

use super::mmio::RegisterBehaviour as B;

/// One parsed override.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RegisterOverride {
    offset: u32,
    behaviour: B,
    value: Option<u32>,
}

/// Why an override did not parse; each variant carries the offending text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// No `=` between register and behaviour.
    #[error("override {0:?}: expected REG=BEHAVIOUR")]
    MissingEquals(String),
    /// A number that does not parse as a u32.
    #[error("override: {0:?} is not a number (decimal or 0x hex)")]
    BadNumber(String),
    /// A register offset that is not dword-aligned.
    #[error("override: register offset {0:?} is not dword-aligned")]
    UnalignedOffset(String),
    /// A bit number outside 0-31.
    #[error("override: {0:?} is not a bit number 0-31")]
    BadBit(String),
    /// A behaviour name the grammar does not know.
    #[error("override: unknown behaviour {0:?} (plain, ro, ro:V, const:V, w1c:M, sc:M, toggle:B, mirror:R, masked, status-follows-request:R->S, status-inverse:R->S, lock-after:DURATION:R->S)")]
    UnknownBehaviour(String),
    /// A latency without a unit, or one that does not parse.
    #[error("override: {0:?} is not a duration (a number with ns, us, ms or s, e.g. 200us; latencies are virtual time, not read counts)")]
    BadDuration(String),
    /// A behaviour missing its argument or with a malformed one.
    #[error("override: behaviour {0:?} has a missing or malformed argument")]
    BadArgument(String),
}

fn number(s: &str) -> Result<u32, OverrideError> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(&h.replace('_', ""), 16),
        None => t.replace('_', "").parse(),
    };
    r.map_err(|_| OverrideError::BadNumber(s.to_string()))
}

fn offset(s: &str) -> Result<u32, OverrideError> {
    let v = number(s)?;
    if v & 3 != 0 {
        return Err(OverrideError::UnalignedOffset(s.to_string()));
    }
    Ok(v)
}

fn bit(s: &str) -> Result<u32, OverrideError> {
    match s.trim().parse::<u32>() {
        Ok(b) if b < 32 => Ok(b),
        _ => Err(OverrideError::BadBit(s.to_string())),
    }
}

/// `NUMBER UNIT` → nanoseconds of virtual time.
fn duration(s: &str) -> Result<u64, OverrideError> {
    let t = s.trim();
    let bad = || OverrideError::BadDuration(s.to_string());
    let (n, scale) = [
        ("ns", 1u64),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
    ]
    .iter()
    .find_map(|(u, k)| t.strip_suffix(u).map(|n| (n, *k)))
    .ok_or_else(bad)?;
    let n: u64 = n.trim().replace('_', "").parse().map_err(|_| bad())?;
    n.checked_mul(scale).ok_or_else(bad)
}

/// `ns` in the largest unit that divides it exactly (`200us`, `5ms`).
fn fmt_duration(f: &mut fmt::Formatter<'_>, ns: u64) -> fmt::Result {
    for (u, k) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
        if ns != 0 && ns.is_multiple_of(k) {
            return write!(f, "{}{u}", ns / k);
        }
    }
    write!(f, "{ns}ns")
}

/// `REQ->STATUS[@OFFSET]` → (request mask, status offset, status mask).
fn pair(arg: &str, reg: u32, whole: &str) -> Result<(u32, u32, u32), OverrideError> {
    let (bits, at) = match arg.split_once('@') {
        Some((b, o)) => (b, Some(offset(o)?)),
        None => (arg, None),
    };
    let (req, st) = bits
        .split_once("->")
        .ok_or_else(|| OverrideError::BadArgument(whole.to_string()))?;
    Ok((1 << bit(req)?, at.unwrap_or(reg), 1 << bit(st)?))
}

impl RegisterOverride {
    /// Parse `REG=BEHAVIOUR` (grammar in the module docs).
    pub fn parse(text: &str) -> Result<RegisterOverride, OverrideError> {
        let (reg, beh) = text
            .split_once('=')
            .ok_or_else(|| OverrideError::MissingEquals(text.to_string()))?;
        let reg = offset(reg)?;
        let beh = beh.trim();
        let (name, arg) = match beh.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (beh, None),
        };
        let need = || arg.ok_or_else(|| OverrideError::BadArgument(beh.to_string()));
        let mut value = None;
        let behaviour = match (name, arg) {
            ("plain", None) => B::Plain,
            ("ro", None) => B::ReadOnly,
            ("masked", None) => B::MaskedWrite,
            ("ro", Some(a)) => {
                value = Some(number(a)?);
                B::ReadOnly
            }
            ("const", Some(a)) => {
                let v = number(a)?;
                value = Some(v);
                B::Constant { value: v }
            }
            ("w1c", Some(a)) => B::WriteOneToClear { mask: number(a)? },
            ("sc", Some(a)) => B::SelfClearing { mask: number(a)? },
            ("status", Some(a)) => B::DeviceStatus { mask: number(a)? },
            ("toggle", Some(a)) => B::Toggle { mask: 1 << bit(a)? },
            ("mirror", Some(a)) => B::Mirror {
                source: offset(a)?,
                mask: u32::MAX,
            },
            ("status-follows-request", _) => {
                let (request_mask, status_offset, status_mask) = pair(need()?, reg, beh)?;
                B::StatusFollowsRequest {
                    request_mask,
                    status_offset,
                    status_mask,
                }
            }
            ("status-inverse", _) => {
                let (request_mask, status_offset, status_mask) = pair(need()?, reg, beh)?;
                B::StatusInverse {
                    request_mask,
                    status_offset,
                    status_mask,
                }
            }
            ("lock-after", _) => {
                let (n, rest) = need()?
                    .split_once(':')
                    .ok_or_else(|| OverrideError::BadArgument(beh.to_string()))?;
                let delay_ns = duration(n)?;
                let (request_mask, status_offset, status_mask) = pair(rest, reg, beh)?;
                B::LockAfter {
                    request_mask,
                    status_offset,
                    status_mask,
                    delay_ns,
                }
            }
            ("plain" | "masked", Some(_))
            | ("const" | "w1c" | "sc" | "toggle" | "mirror", None) => {
                return Err(OverrideError::BadArgument(beh.to_string()))
            }
            _ => return Err(OverrideError::UnknownBehaviour(beh.to_string())),
        };
        Ok(RegisterOverride {
            offset: reg,
            behaviour,
            value,
        })
    }

    /// The register (BAR0 offset).
    #[must_use]
    pub fn offset(&self) -> u32 {
        self.offset
    }

    /// The behaviour that replaces the register's table rows.
    #[must_use]
    pub fn behaviour(&self) -> B {
        self.behaviour
    }

    /// The value `ro:VALUE` / `const:VALUE` sets, if any.
    #[must_use]
    pub fn value(&self) -> Option<u32> {
        self.value
    }
}

impl std::str::FromStr for RegisterOverride {
    type Err = OverrideError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RegisterOverride::parse(s)
    }
}

impl fmt::Display for RegisterOverride {
    /// The canonical text, which parses back to the same override.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reg = self.offset;
        write!(f, "{reg:#x}=")?;
        let pair = |f: &mut fmt::Formatter<'_>, r: u32, so: u32, s: u32| {
            write!(f, "{}->{}", r.trailing_zeros(), s.trailing_zeros())?;
            if so != reg {
                write!(f, "@{so:#x}")?;
            }
            Ok(())
        };
        match self.behaviour {
            B::Plain => write!(f, "plain"),
            B::ReadOnly => match self.value {
                Some(v) => write!(f, "ro:{v:#x}"),
                None => write!(f, "ro"),
            },
            B::Constant { value } => write!(f, "const:{value:#x}"),
            B::WriteOneToClear { mask } => write!(f, "w1c:{mask:#x}"),
            B::SelfClearing { mask } => write!(f, "sc:{mask:#x}"),
            B::DeviceStatus { mask } => write!(f, "status:{mask:#x}"),
            B::Toggle { mask } => write!(f, "toggle:{}", mask.trailing_zeros()),
            B::Mirror { source, .. } => write!(f, "mirror:{source:#x}"),
            B::MaskedWrite => write!(f, "masked"),
            B::StatusFollowsRequest {
                request_mask,
                status_offset,
                status_mask,
            } => {
                write!(f, "status-follows-request:")?;
                pair(f, request_mask, status_offset, status_mask)
            }
            B::StatusInverse {
                request_mask,
                status_offset,
                status_mask,
            } => {
                write!(f, "status-inverse:")?;
                pair(f, request_mask, status_offset, status_mask)
            }
            B::LockAfter {
                request_mask,
                status_offset,
                status_mask,
                delay_ns,
            } => {
                write!(f, "lock-after:")?;
                fmt_duration(f, delay_ns)?;
                write!(f, ":")?;
                pair(f, request_mask, status_offset, status_mask)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_round_trips() {
        let cases = [
            ("0x45400=plain", B::Plain, None),
            ("0x45400=ro", B::ReadOnly, None),
            ("0x45400=ro:0xc0000000", B::ReadOnly, Some(0xC000_0000)),
            ("0x6c060=const:0x1", B::Constant { value: 1 }, Some(1)),
            (
                "0x44000=w1c:0x8080",
                B::WriteOneToClear { mask: 0x8080 },
                None,
            ),
            (
                "0x64010=sc:0x80000000",
                B::SelfClearing { mask: 1 << 31 },
                None,
            ),
            ("0x70024=toggle:1", B::Toggle { mask: 2 }, None),
            (
                "0x130044=mirror:0xa188",
                B::Mirror {
                    source: 0xA188,
                    mask: u32::MAX,
                },
                None,
            ),
            ("0xa188=masked", B::MaskedWrite, None),
            (
                "0x45400=status-follows-request:31->30",
                B::StatusFollowsRequest {
                    request_mask: 1 << 31,
                    status_offset: 0x45400,
                    status_mask: 1 << 30,
                },
                None,
            ),
            (
                "0xc7204=status-follows-request:0->31@0xc7200",
                B::StatusFollowsRequest {
                    request_mask: 1,
                    status_offset: 0xC7200,
                    status_mask: 1 << 31,
                },
                None,
            ),
            (
                "0x64000=status-inverse:31->7",
                B::StatusInverse {
                    request_mask: 1 << 31,
                    status_offset: 0x64000,
                    status_mask: 1 << 7,
                },
                None,
            ),
            (
                "0x46010=lock-after:200us:31->30",
                B::LockAfter {
                    request_mask: 1 << 31,
                    status_offset: 0x46010,
                    status_mask: 1 << 30,
                    delay_ns: 200_000,
                },
                None,
            ),
            (
                "0x46014=lock-after:0ns:31->8@0x6c060",
                B::LockAfter {
                    request_mask: 1 << 31,
                    status_offset: 0x6C060,
                    status_mask: 1 << 8,
                    delay_ns: 0,
                },
                None,
            ),
        ];
        for (text, b, v) in cases {
            let o = RegisterOverride::parse(text).unwrap();
            assert_eq!((o.behaviour(), o.value()), (b, v), "{text}");
            assert_eq!(o.to_string(), text);
            assert_eq!(text.parse::<RegisterOverride>(), Ok(o));
        }
        // Durations print in the largest exact unit.
        for (text, canon) in [
            (
                "0x46010=lock-after:5000us:31->30",
                "0x46010=lock-after:5ms:31->30",
            ),
            (
                "0x46010=lock-after:1500ns:31->30",
                "0x46010=lock-after:1500ns:31->30",
            ),
            (
                "0x46010=lock-after:2s:31->30",
                "0x46010=lock-after:2s:31->30",
            ),
        ] {
            assert_eq!(RegisterOverride::parse(text).unwrap().to_string(), canon);
        }
        // Decimal and upper-case hex are accepted; the canonical form is hex.
        let o = RegisterOverride::parse("283648=const:0X0F").unwrap();
        assert_eq!(o.to_string(), "0x45400=const:0xf");
    }

    #[test]
    fn errors_name_the_offending_text() {
        let e = |t: &str| RegisterOverride::parse(t).unwrap_err();
        assert_eq!(e("0x45400"), OverrideError::MissingEquals("0x45400".into()));
        assert_eq!(e("zz=plain"), OverrideError::BadNumber("zz".into()));
        assert_eq!(
            e("0x45401=plain"),
            OverrideError::UnalignedOffset("0x45401".into())
        );
        assert_eq!(e("0x45400=toggle:32"), OverrideError::BadBit("32".into()));
        assert_eq!(
            e("0x45400=status-follows-request:31-30"),
            OverrideError::BadArgument("status-follows-request:31-30".into())
        );
        assert_eq!(
            e("0x45400=status-follows-request:x->30"),
            OverrideError::BadBit("x".into())
        );
        assert_eq!(
            e("0x45400=wiggle"),
            OverrideError::UnknownBehaviour("wiggle".into())
        );
        assert_eq!(
            e("0x45400=const"),
            OverrideError::BadArgument("const".into())
        );
        assert_eq!(
            e("0x45400=plain:1"),
            OverrideError::BadArgument("plain:1".into())
        );
        assert_eq!(
            e("0x45400=lock-after:31->30"),
            OverrideError::BadArgument("lock-after:31->30".into())
        );
        assert_eq!(
            e("0x45400=lock-after:5:31->30"),
            OverrideError::BadDuration("5".into()),
            "a plain number was a read count; latencies are virtual time now"
        );
        assert_eq!(
            e("0x45400=lock-after:99999999999s:31->30"),
            OverrideError::BadDuration("99999999999s".into())
        );
        assert_eq!(
            e("0x45400=ro:0x1_0000_0000"),
            OverrideError::BadNumber("0x1_0000_0000".into())
        );
        assert_eq!(
            e("0x45400=status-follows-request:31->30@0x3"),
            OverrideError::UnalignedOffset("0x3".into())
        );
    }
}

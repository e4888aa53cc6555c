//! What is plugged into the display outputs (`--display`): a flat panel on
//! the embedded port (eDP on AUX A / the panel's DDC pin), a monitor on port B
//! (DisplayPort on AUX B, HDMI/DVI DDC on port B's GMBUS pin) and an analog
//! CRT. The topology decides what a vBIOS's detection finds: the live
//! hotplug state, the DDI straps, the CRT monitor sense, which AUX channels
//! answer and which GMBUS pins ACK the EDID EEPROM.
//!
//! Sources (Linux i915, bits only): `SDEISR` 0xC4000 `SDE_PORTB_HOTPLUG_CPT`
//! 21 (CPT and later); `SFUSE_STRAP` 0xC2014 `SFUSE_STRAP_DDIB_DETECTED` 2
//! (HSW+); `ADPA_CRT_HOTPLUG_MONITOR_COLOR` 3 << 24; GMBUS pins
//! (`intel_gmbus.c` `gmbus_pins` / `gmbus_pins_cnp`): PCH and VLV/CHV
//! `GMBUS_PIN_VGADDC` 2, `GMBUS_PIN_PANEL` 3, `GMBUS_PIN_DPB` 5; CNP (CFL/CML)
//! `GMBUS_PIN_1_BXT` 1 for DDI B.

use std::fmt;

use crate::igd::edid::Panel;
use crate::igd::generation::Platform;

/// The outputs and what is attached to each.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DisplayTopology {
    /// Flat panel on the embedded port (eDP / LVDS).
    pub panel: Option<Panel>,
    /// Monitor on port B (DisplayPort, or HDMI/DVI through DDC).
    pub monitor: Option<Panel>,
    /// Analog monitor on the CRT (VGA) port, where the platform has one.
    pub crt: Option<Panel>,
}

impl Default for DisplayTopology {
    /// A 1920x1080 panel and a 1920x1080 monitor on port B; no CRT.
    fn default() -> Self {
        Self {
            panel: Some(Panel::default()),
            monitor: Some(Panel::default()),
            crt: None,
        }
    }
}

/// Why a `--display` string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Not `PORT:WxH` or `PORT:none`.
    #[error(
        "display output {0:?}: expected PORT:WIDTHxHEIGHT or PORT:none (PORT is edp, dp or crt)"
    )]
    Syntax(String),
    /// An unknown port name.
    #[error("unknown display port {0:?} (edp, dp or crt)")]
    Port(String),
}

impl DisplayTopology {
    /// Parse `edp:1920x1080,dp:none,crt:1024x768`; ports not named keep the
    /// default. `lvds` is an alias of `edp`, `hdmi` of `dp`, `vga` of `crt`.
    pub fn parse(s: &str) -> Result<Self, TopologyError> {
        let mut t = Self::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (port, what) = item
                .split_once(':')
                .ok_or_else(|| TopologyError::Syntax(item.to_string()))?;
            let attached = match what.trim() {
                "none" | "off" => None,
                mode => {
                    let (w, h) = mode
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)))
                        .filter(|(w, h)| *w > 0 && *h > 0)
                        .ok_or_else(|| TopologyError::Syntax(item.to_string()))?;
                    Some(Panel {
                        width: w,
                        height: h,
                        ..Panel::default()
                    })
                }
            };
            match port.trim() {
                "edp" | "lvds" | "panel" => t.panel = attached,
                "dp" | "hdmi" => t.monitor = attached,
                "crt" | "vga" => t.crt = attached,
                other => return Err(TopologyError::Port(other.to_string())),
            }
        }
        Ok(t)
    }

    /// The GMBUS pin pairs (bit n = pin n) whose DDC answers on `platform`.
    #[must_use]
    pub fn gmbus_pins(&self, platform: Platform) -> u32 {
        let cnp = matches!(platform, Platform::CoffeeLake | Platform::CometLake);
        let mut pins = 0;
        if self.crt.is_some() {
            pins |= 1 << 2;
        }
        if self.panel.is_some() {
            pins |= 1 << 3;
        }
        if self.monitor.is_some() {
            pins |= if cnp { 1 << 1 } else { 1 << 5 };
        }
        pins
    }
}

impl fmt::Display for DisplayTopology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |p: &Option<Panel>| {
            p.as_ref().map_or_else(
                || "none".to_string(),
                |p| format!("{}x{}", p.width, p.height),
            )
        };
        write!(
            f,
            "edp:{},dp:{},crt:{}",
            one(&self.panel),
            one(&self.monitor),
            one(&self.crt)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_nonsense() {
        let t = DisplayTopology::parse("edp:1366x768, dp:none ,vga:1024x768").expect("parses");
        assert_eq!(t.to_string(), "edp:1366x768,dp:none,crt:1024x768");
        assert_eq!(
            DisplayTopology::parse("").expect("empty"),
            DisplayTopology::default()
        );
        assert_eq!(
            DisplayTopology::parse("dp"),
            Err(TopologyError::Syntax("dp".into()))
        );
        assert_eq!(
            DisplayTopology::parse("dp:0x10"),
            Err(TopologyError::Syntax("dp:0x10".into()))
        );
        assert_eq!(
            DisplayTopology::parse("tv:none"),
            Err(TopologyError::Port("tv".into()))
        );
    }

    #[test]
    fn gmbus_pins_follow_the_platform_pin_map() {
        let t = DisplayTopology::default();
        assert_eq!(t.gmbus_pins(Platform::Haswell), (1 << 3) | (1 << 5));
        assert_eq!(t.gmbus_pins(Platform::CoffeeLake), (1 << 3) | (1 << 1));
        let none = DisplayTopology::parse("edp:none,dp:none").expect("parses");
        assert_eq!(none.gmbus_pins(Platform::Skylake), 0);
    }
}

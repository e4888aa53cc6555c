//! ROM profiles: a TOML file beside a ROM (`NAME.rom.toml` next to
//! `NAME.rom`, or any file given with `--profile`) holding what that ROM
//! needs to run until the model covers it: the device ID, the display
//! topology, register overrides (the `--override` grammar) and a note.
//! `igdemu run`, `igdemu corpus` and the snapshot tests read it. A profile
//! is the user's escape hatch for a ROM the model does not cover yet; the
//! project's own fixes belong in the model.
//!
//! ```toml
//! device_id = "0x3e92"
//! topology = "edp:1920x1080,dp:none,crt:none"
//! overrides = ["0x46000=const:0x2a1"]
//! note = "CDCLK_CTL not modelled for CFL yet"
//! ```

use std::path::{Path, PathBuf};

use igdemu::diagnose::Diagnosis;
use igdemu::igd::display::DisplayTopology;
use igdemu::igd::RegisterOverride;
use igdemu::session::{RemapperKind, Scenario};
use toml_edit::{DocumentMut, Item, Value};

/// A parsed profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// Where it was read from.
    pub path: Option<PathBuf>,
    /// IGD device ID.
    pub device_id: Option<u16>,
    /// Display topology in the `--display` grammar
    /// (`edp:1920x1080,dp:none,crt:1024x768`).
    pub topology: Option<String>,
    /// Register overrides, as written.
    pub overrides: Vec<String>,
    /// A note for the reader.
    pub note: Option<String>,
}

fn string(doc: &DocumentMut, key: &str) -> Result<Option<String>, String> {
    match doc.get(key) {
        None => Ok(None),
        Some(Item::Value(Value::String(s))) => Ok(Some(s.value().clone())),
        Some(_) => Err(format!("`{key}` must be a string")),
    }
}

impl Profile {
    /// Parse a profile's text.
    ///
    /// # Errors
    /// TOML syntax, unknown keys, wrong types, a bad device ID or override.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
        for (k, _) in doc.iter() {
            if !matches!(k, "device_id" | "topology" | "overrides" | "note") {
                return Err(format!(
                    "unknown key `{k}` (known: device_id, topology, overrides, note)"
                ));
            }
        }
        let device_id = match doc.get("device_id") {
            None => None,
            Some(Item::Value(Value::String(s))) => Some(crate::cli_rom::parse_pci_id(s.value())?),
            Some(Item::Value(Value::Integer(i))) => {
                Some(u16::try_from(*i.value()).map_err(|_| "device_id out of range".to_string())?)
            }
            Some(_) => return Err("`device_id` must be a string like \"0x3e92\"".into()),
        };
        let overrides = match doc.get("overrides") {
            None => Vec::new(),
            Some(Item::Value(Value::Array(a))) => a
                .iter()
                .map(|v| match v {
                    Value::String(s) => {
                        let s = s.value().clone();
                        RegisterOverride::parse(&s).map_err(|e| format!("override {s:?}: {e}"))?;
                        Ok(s)
                    }
                    _ => Err("`overrides` holds strings in the --override grammar".to_string()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("`overrides` must be an array of strings".into()),
        };
        let topology = string(&doc, "topology")?;
        if let Some(t) = &topology {
            DisplayTopology::parse(t).map_err(|e| format!("topology {t:?}: {e}"))?;
        }
        Ok(Self {
            path: None,
            device_id,
            topology,
            overrides,
            note: string(&doc, "note")?,
        })
    }

    /// Read a profile file.
    ///
    /// # Errors
    /// The file cannot be read or does not parse.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read profile {}: {e}", path.display()))?;
        let mut p = Self::parse(&text).map_err(|e| format!("profile {}: {e}", path.display()))?;
        p.path = Some(path.to_path_buf());
        Ok(p)
    }

    /// The profile beside a ROM file (`ROM.toml`), if there is one.
    ///
    /// # Errors
    /// It exists but does not parse.
    pub fn beside(rom: &Path) -> Result<Option<Self>, String> {
        let path = beside_path(rom);
        if path.is_file() {
            Self::load(&path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The parsed overrides.
    #[must_use]
    pub fn register_overrides(&self) -> Vec<RegisterOverride> {
        self.overrides
            .iter()
            .filter_map(|s| RegisterOverride::parse(s).ok())
            .collect()
    }

    /// Apply the overrides to a scenario (before any given on the command
    /// line, so those win), and the topology.
    pub fn apply(&self, sc: &mut Scenario) {
        let mut o = self.register_overrides();
        o.append(&mut sc.overrides);
        sc.overrides = o;
        if let Some(t) = self
            .topology
            .as_ref()
            .and_then(|t| DisplayTopology::parse(t).ok())
        {
            sc.display = t;
        }
    }
}

/// The scenario for a ROM file under a remapper, with the profile beside it
/// applied (device ID, overrides); `Scenario::for_rom` when there is none
/// (or it does not parse: `igdemu run` reports that error).
#[must_use]
pub fn scenario_for(spec: &str, rom: &[u8], remapper: RemapperKind) -> Scenario {
    let prof = Profile::beside(Path::new(spec)).ok().flatten();
    let mut sc = match prof.as_ref().and_then(|p| p.device_id) {
        Some(id) => Scenario::for_device(id, remapper),
        None => Scenario::for_rom(rom, remapper),
    };
    if let Some(p) = &prof {
        p.apply(&mut sc);
    }
    sc
}

/// `NAME.rom` → `NAME.rom.toml`.
#[must_use]
pub fn beside_path(rom: &Path) -> PathBuf {
    let mut s = rom.as_os_str().to_owned();
    s.push(".toml");
    PathBuf::from(s)
}

/// The profile lines that would get past the stops `diagnoses` describe,
/// merged with the profile in use (its overrides kept, the device ID the run
/// used).
#[must_use]
pub fn suggested_lines(
    current: Option<&Profile>,
    device_id: Option<u16>,
    diagnoses: &[&Diagnosis],
) -> Vec<String> {
    let mut overrides: Vec<String> = current.map(|p| p.overrides.clone()).unwrap_or_default();
    let mut added = false;
    for d in diagnoses {
        for line in &d.profile {
            // `overrides = ["X"]`: take X.
            if let Some(x) = line
                .strip_prefix("overrides = [\"")
                .and_then(|r| r.strip_suffix("\"]"))
            {
                // A new override for the same register replaces the old one.
                let reg = x.split('=').next().unwrap_or("");
                overrides.retain(|o| o.split('=').next() != Some(reg));
                overrides.push(x.to_string());
                added = true;
            }
        }
    }
    if !added {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(id) = device_id.or(current.and_then(|p| p.device_id)) {
        out.push(format!("device_id = \"{id:#06x}\""));
    }
    if let Some(t) = current.and_then(|p| p.topology.as_ref()) {
        out.push(format!("topology = {t:?}"));
    }
    let list: Vec<String> = overrides.iter().map(|o| format!("{o:?}")).collect();
    out.push(format!("overrides = [{}]", list.join(", ")));
    let note = diagnoses
        .first()
        .map(|d| {
            let reg = d
                .register
                .mmio_offset()
                .map_or_else(|| format!("{:?}", d.register), |o| format!("{o:#x}"));
            format!(
                "stalled on {reg}{}",
                d.name.map(|n| format!(" {n}")).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    out.push(format!("note = {note:?}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_rejects_mistakes() {
        let p = Profile::parse(
            "device_id = \"0x3e92\"\ntopology = \"edp:1024x768,dp:none,crt:none\"\noverrides = [\"0x46000=const:0x2a1\"]\nnote = \"n\"\n",
        )
        .unwrap();
        assert_eq!(p.device_id, Some(0x3E92));
        assert_eq!(p.topology.as_deref(), Some("edp:1024x768,dp:none,crt:none"));
        assert!(Profile::parse("topology = \"hdmi\"").is_err());
        assert_eq!(p.overrides, vec!["0x46000=const:0x2a1".to_string()]);
        assert_eq!(p.register_overrides().len(), 1);
        assert!(Profile::parse("devid = \"1\"")
            .unwrap_err()
            .contains("unknown key"));
        assert!(Profile::parse("overrides = [\"0x1=bogus\"]").is_err());
        assert!(Profile::parse("overrides = \"x\"").is_err());
        assert_eq!(
            beside_path(Path::new("a/b.rom")),
            PathBuf::from("a/b.rom.toml")
        );
    }
}

//! The display engine as the vBIOS leaves it: what the planes scan out.
//! One component per file (DESIGN.md, "The display engine").

pub mod panel;
pub mod plane;
pub mod topology;

pub use plane::{active_primary_plane, PixelFormat, PlaneScanout};
pub use topology::{DisplayTopology, TopologyError};

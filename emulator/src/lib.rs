//! igdemu: a simulator of an Intel integrated graphics device (IGD) for testing
//! graphics device assignment without the hardware.
//!
//! Data flows one way (DESIGN.md): guest → [`passthrough`] (the layer under
//! test) → [`igd`] (the device, host side) → memory through the IOMMU, while the
//! checker watches every address the device would touch.
pub mod addr;
pub mod check;
pub mod cpu;
pub mod diagnose;
pub mod fuzz;
pub mod igd;
pub mod machine;
pub mod passthrough;
pub mod pci;
pub mod session;
pub mod trace;
pub mod vtime;

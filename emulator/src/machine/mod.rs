//! The guest machine around the device: memory, firmware, buses, IOMMU.

pub mod iommu;

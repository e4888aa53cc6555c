//! IOMMU model (placeholder until the passthrough issue lands).

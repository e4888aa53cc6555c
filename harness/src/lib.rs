//! The igdemu harness: the `igdemu` command line, report renderers (text, JSON,
//! HTML, PNG) and the corpus runner, as a library so integration tests and
//! benches drive the same code as the CLI.

pub mod bench;
pub mod cli_rom;
pub mod cli_run;
pub mod compat;
pub mod corpus;
pub mod explain;
pub mod html;
pub mod inspect;
pub mod pattern;
pub mod profile;
pub mod render;
pub mod screenshot;
pub mod source;

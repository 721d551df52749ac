//! `shoalctl label TYPE NAME KEY=VALUE... KEY-... [--overwrite] [-l SEL|--all]` (see
//! [`super::metadata`] for the shared grammar).

use std::io::Write;

use super::metadata::{self, Field};
use super::{CmdError, GlobalArgs, Outcome};

#[derive(Debug, clap::Args)]
pub struct Label {
    #[command(flatten)]
    args: metadata::Args,
}

impl Label {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        metadata::run(Field::Labels, &self.args, g, out)
    }
}

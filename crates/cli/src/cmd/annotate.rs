//! `shoalctl annotate TYPE NAME KEY=VALUE... KEY-... [--overwrite] [-l SEL|--all]` (see
//! [`super::metadata`] for the shared grammar).

use std::io::Write;

use super::metadata::{self, Field};
use super::{CmdError, GlobalArgs, Outcome};

#[derive(Debug, clap::Args)]
pub struct Annotate {
    #[command(flatten)]
    args: metadata::Args,
}

impl Annotate {
    pub fn run(&self, g: &GlobalArgs, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        metadata::run(Field::Annotations, &self.args, g, out)
    }
}

//! `shoalctl completion bash|zsh`: a completion script for the shell, generated from the
//! same command definition the parser uses (so it never falls behind the verbs).
//!
//! ```sh
//! source <(shoalctl completion bash)            # this shell
//! shoalctl completion zsh > "${fpath[1]}/_shoalctl"  # zsh, permanently
//! ```

use std::io::Write;

use super::{CmdError, Outcome};

#[derive(Debug, clap::Args)]
pub struct Completion {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
}

impl Completion {
    /// `cmd` is the whole command line definition (`Cli::command()`).
    pub fn run(&self, mut cmd: clap::Command, out: &mut dyn Write) -> Result<Outcome, CmdError> {
        let mut buf = Vec::new();
        match self.shell {
            Shell::Bash => {
                clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "shoalctl", &mut buf)
            }
            Shell::Zsh => {
                clap_complete::generate(clap_complete::Shell::Zsh, &mut cmd, "shoalctl", &mut buf)
            }
        }
        out.write_all(&buf)?;
        Ok(Outcome::Done)
    }
}

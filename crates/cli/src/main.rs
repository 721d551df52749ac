//! `shoalctl`: shoal's command line, with kubectl's grammar and output conventions.
//!
//! ```text
//! main ── clap ──> cmd::<verb>::run(global flags, stdout)
//!                    ├─ kubeconfig: which hub, which CA, which token, which namespace
//!                    ├─ client:     HTTPS requests; errors as a person can act on them
//!                    ├─ resource:   `po` -> pods, from the hub's discovery documents
//!                    ├─ manifest:   -f files split into objects
//!                    ├─ output:     tables, JSON, YAML, names
//!                    └─ fields:     tolerant JSON accessors, kubectl's ages
//! ```
//!
//! Errors end the process with status 1 and one line on stderr; usage errors (from the
//! parser) with status 2; `exec` ends with the remote command's status.

mod client;
mod cmd;
mod fields;
mod kubeconfig;
mod manifest;
mod output;
mod resource;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use cmd::{CmdError, GlobalArgs, Outcome};

/// shoalctl controls a shoal hub (kubectl's grammar: shoalctl VERB TYPE [NAME] [flags]).
#[derive(Debug, Parser)]
#[command(name = "shoalctl", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the client and hub versions.
    Version(cmd::version::Version),
    /// Display one or many resources.
    Get(cmd::get::Get),
    /// Create or update resources from manifests.
    Apply(cmd::apply::Apply),
    /// Create resources from manifests.
    Create(cmd::create::Create),
    /// Delete resources by type and name, by selector, or from manifests.
    Delete(cmd::delete::Delete),
    /// Show details of resources, with their events.
    Describe(cmd::describe::Describe),
    /// Set the number of replicas of a Deployment, ReplicaSet or ReplicationController.
    Scale(cmd::scale::Scale),
    /// Manage the rollout of Deployments and DaemonSets.
    Rollout(cmd::rollout::Rollout),
    /// Add, change or remove labels.
    Label(cmd::label::Label),
    /// Add, change or remove annotations.
    Annotate(cmd::annotate::Annotate),
    /// Mark nodes unschedulable.
    Cordon(cmd::cordon::Cordon),
    /// Mark nodes schedulable again.
    Uncordon(cmd::cordon::Uncordon),
    /// Cordon a node and evict its pods.
    Drain(cmd::drain::Drain),
    /// List events.
    Events(cmd::events::Events),
    /// Print a container's log.
    Logs(cmd::logs::Logs),
    /// Run a command in a container.
    Exec(cmd::exec::Exec),
    /// Show CPU and memory use of nodes or pods.
    Top(cmd::top::Top),
    /// Nodes by label (online, offline, NotReady, versions, runtimes) and DaemonSet rollouts.
    Fleet(cmd::fleet::Fleet),
    /// Show or change the kubeconfig.
    Config(cmd::config::Config),
    /// Print a shell completion script (bash or zsh).
    Completion(cmd::completion::Completion),
    /// Issue, list and revoke user tokens (cluster admins only).
    Token(cmd::token::Token),
}

fn run(cli: &Cli, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let g = &cli.global;
    let outcome = match &cli.command {
        Command::Version(c) => c.run(g, out),
        Command::Get(c) => c.run(g, out),
        Command::Apply(c) => c.run(g, out),
        Command::Create(c) => c.run(g, out),
        Command::Delete(c) => c.run(g, out),
        Command::Describe(c) => c.run(g, out),
        Command::Scale(c) => c.run(g, out),
        Command::Rollout(c) => c.run(g, out),
        Command::Label(c) => c.run(g, out),
        Command::Annotate(c) => c.run(g, out),
        Command::Cordon(c) => c.run(g, out),
        Command::Uncordon(c) => c.run(g, out),
        Command::Drain(c) => c.run(g, out),
        Command::Events(c) => c.run(g, out),
        Command::Logs(c) => c.run(g, out),
        Command::Exec(c) => c.run(g, out),
        Command::Top(c) => c.run(g, out),
        Command::Fleet(c) => c.run(g, out),
        Command::Config(c) => c.run(g, out),
        Command::Completion(c) => c.run(<Cli as clap::CommandFactory>::command(), out),
        Command::Token(c) => c.run(g, out),
    }?;
    out.flush().map_err(CmdError::from)?;
    Ok(outcome)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match run(&cli, &mut out) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Exit(code)) => ExitCode::from(code),
        Err(e) => {
            let _ = out.flush();
            match e.downcast_ref::<CmdError>() {
                // The reader went away (`| head`): nothing more to say.
                Some(ce) if ce.is_broken_pipe() => ExitCode::SUCCESS,
                Some(ce) => {
                    eprintln!("{}", ce.render());
                    ExitCode::from(1)
                }
                None => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(1)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    #[test]
    fn token_create_takes_several_namespaces() {
        let cli = parse(&[
            "shoalctl",
            "token",
            "create",
            "--user",
            "alice",
            "--role",
            "edit",
            "--namespace",
            "a",
            "-n",
            "b",
        ]);
        let dbg = format!("{:?}", cli.command);
        assert!(dbg.contains(r#"namespaces: ["a", "b"]"#), "{dbg}");
        // A -n before the verb counts too.
        let cli = parse(&[
            "shoalctl", "-n", "a", "token", "create", "--user", "alice", "--role", "view",
        ]);
        let dbg = format!("{:?}", cli.command);
        assert!(dbg.contains(r#"namespaces: ["a"]"#), "{dbg}");
        // Other verbs keep one namespace.
        let cli = parse(&["shoalctl", "get", "pods", "-n", "x"]);
        assert_eq!(cli.global.namespace.as_deref(), Some("x"));
        assert!(Cli::try_parse_from(["shoalctl", "get", "pods", "-n", "x", "-n", "y"]).is_err());
    }
}

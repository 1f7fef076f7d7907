//! Command-line interface: sc-cli's standard node flags and subcommands.

use polkadot_sdk::sc_cli;

#[derive(Debug, clap::Parser)]
#[command(propagate_version = true, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub subcommand: Option<Subcommand>,

    #[clap(flatten)]
    pub run: sc_cli::RunCmd,
}

#[derive(Debug, clap::Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Subcommand {
    /// Key management (generate, inspect, insert, node keys).
    #[command(subcommand)]
    Key(sc_cli::KeySubcommand),

    /// Write a chain specification to stdout (`--chain dev|local|FILE`, `--raw` for storage form).
    BuildSpec(sc_cli::BuildSpecCmd),

    /// Validate blocks.
    CheckBlock(sc_cli::CheckBlockCmd),

    /// Export blocks.
    ExportBlocks(sc_cli::ExportBlocksCmd),

    /// Export the state of a given block into a chain spec.
    ExportState(sc_cli::ExportStateCmd),

    /// Import blocks.
    ImportBlocks(sc_cli::ImportBlocksCmd),

    /// Remove the whole chain.
    PurgeChain(sc_cli::PurgeChainCmd),

    /// Revert the chain to a previous state.
    Revert(sc_cli::RevertCmd),

    /// Database metadata.
    ChainInfo(sc_cli::ChainInfoCmd),
}

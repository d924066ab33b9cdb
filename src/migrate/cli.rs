//! The `import`, `export` and `verify` subcommands' flags and exit codes, kept here so
//! that `main.rs` (shared with the server) only gains three enum variants.
//!
//! Exit codes: 0 success; 1 failure; 2 usage; `verify` 3 when the servers differ;
//! `import` 4 when a txn log is damaged and `--allow-damaged-tail` was not given.

use std::path::PathBuf;
use std::process::ExitCode;

use super::replay::SourceConfig;
use super::{export, import, verify};

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// ZooKeeper's dataDir (or its version-2 folder). Stop ZooKeeper first.
    #[arg(long)]
    pub from: PathBuf,
    /// ZooKeeper's dataLogDir, if its txn logs live apart from the snapshots.
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// The zkd data dir to create (must not hold a zkd database yet).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The source ran with zookeeper.extendedTypesEnabled=true (TTL nodes).
    #[arg(long)]
    pub extended_types: bool,
    /// The source ran with zookeeper.emulate353TTLNodes=true (implies --extended-types).
    #[arg(long)]
    pub emulate_353_ttl: bool,
    /// When a txn log ends in a corrupt or truncated entry, import everything up to the
    /// last good txn instead of failing (what follows the damage is lost).
    #[arg(long)]
    pub allow_damaged_tail: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The data dir of a stopped zkd.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The ZooKeeper dataDir to write (version-2/snapshot.<zxid> is created in it).
    #[arg(long)]
    pub to: PathBuf,
    /// Export the applied state even if the Raft log holds entries not applied yet.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// One server, host:port.
    #[arg(long)]
    pub left: String,
    /// The other server, host:port.
    #[arg(long)]
    pub right: String,
    /// The subtree to compare.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Authenticate on both servers first, e.g. `digest:super:secret` (repeatable).
    #[arg(long)]
    pub auth: Vec<String>,
    /// Print at most this many differences (all are counted).
    #[arg(long, default_value_t = 1000)]
    pub max_report: u64,
    /// Compare only the tree digests the servers noted at their newest common zxid
    /// (the `hash` four-letter word, which both must allow): a whole-tree check in one
    /// round trip instead of a walk.
    #[arg(long)]
    pub digest: bool,
}

pub fn import(a: ImportArgs) -> ExitCode {
    let opts = import::ImportOptions {
        from: a.from,
        log_dir: a.log_dir,
        data_dir: a.data_dir,
        source: SourceConfig {
            extended_types: a.extended_types || a.emulate_353_ttl,
            emulate_353_ttl: a.emulate_353_ttl,
        },
        allow_damaged_tail: a.allow_damaged_tail,
    };
    match import::run(&opts) {
        Ok(summary) => {
            print!("{}", summary.report());
            ExitCode::SUCCESS
        }
        Err(e @ import::ImportError::Damaged { .. }) => {
            eprintln!("zkd import: {e}");
            ExitCode::from(4)
        }
        Err(e) => {
            eprintln!("zkd import: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn export(a: ExportArgs) -> ExitCode {
    let opts = export::ExportOptions {
        data_dir: a.data_dir,
        to: a.to,
        force: a.force,
    };
    match export::run(&opts) {
        Ok(summary) => {
            print!("{}", summary.report());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zkd export: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn verify(a: VerifyArgs) -> ExitCode {
    // (summary, whether the servers agree): exit 0 when they do, 3 when they differ.
    let outcome = if a.digest {
        verify::compare_digests(&a.left, &a.right).map(|c| (c.summary(), c.left == c.right))
    } else {
        let opts = verify::VerifyOptions {
            left: a.left,
            right: a.right,
            path: a.path,
            auth: a.auth,
            max_report: a.max_report,
        };
        verify::run(&opts).map(|report| (report.summary(), report.is_clean()))
    };
    match outcome {
        Ok((summary, agree)) => {
            println!("{summary}");
            if agree {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("zkd verify: {e}");
            ExitCode::FAILURE
        }
    }
}

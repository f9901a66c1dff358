//! Thin entry point: parse flags, set up logging, run, exit with the command's status.
#![forbid(unsafe_code)]

use clap::Parser;

// The proxy allocates a little per request on every worker thread; mimalloc's thread-local
// heaps cost a fraction of glibc malloc's locked arenas there (docs/PERFORMANCE.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // colour codes only for a terminal, never into a file or a pipe
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIGTAP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    // `sigtap proxy --config FILE`: the file's settings become flags the command line overrides
    let command = <sigtap::cli::Cli as clap::CommandFactory>::command();
    let args = match command.find_subcommand("proxy") {
        Some(proxy) => sigtap::config_file::expand(std::env::args_os().collect(), proxy),
        None => Ok(std::env::args_os().collect()),
    };
    let args = args.unwrap_or_else(|e| {
        eprintln!("sigtap: {e}");
        std::process::exit(2)
    });
    let cli = sigtap::cli::Cli::parse_from(args);
    std::process::exit(sigtap::commands::run(cli));
}
